-- wrk script: POST /api/v3/iofog with a unique name per request (names are unique per user).
-- Token from the environment (FOGBENCH_TOKEN); each wrk thread numbers its own requests.
local token = os.getenv("FOGBENCH_TOKEN")
local counter = 0
local tag = "0"

init = function(args)
  math.randomseed(os.time())
  tag = tostring(math.random(1, 1e9))
end

request = function()
  counter = counter + 1
  local body = string.format('{"name":"wrk-%s-%d","fogType":1,"host":"10.0.0.1"}', tag, counter)
  return wrk.format("POST", "/api/v3/iofog",
                    {["Authorization"] = token, ["Content-Type"] = "application/json"}, body)
end

response = function(status, headers, body)
  if status ~= 201 then
    io.stderr:write("POST /iofog: " .. status .. " " .. body .. "\n")
  end
end
