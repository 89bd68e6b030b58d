#include "controller_api.hpp"

namespace fogmesh::k8s {

namespace json = boost::json;

namespace {
std::string error_message(int status, const std::string& body) {
  try {
    auto v = json::parse(body);
    if (auto* o = v.if_object(); o && o->contains("message") && o->at("message").is_string()) {
      return std::string(o->at("message").as_string());
    }
  } catch (const std::exception&) {
  }
  return "HTTP " + std::to_string(status) + (body.empty() ? "" : ": " + body.substr(0, 200));
}
}  // namespace

controller_api::controller_api(const std::string& base_url)
    : url_(base_url), http_(std::make_unique<http_transport>(base_url)) {}

int controller_api::raw(const std::string& method, const std::string& path, const std::string& body,
                        const std::string& content_type, bool auth, std::string& out,
                        std::vector<std::pair<std::string, std::string>>* headers,
                        std::chrono::milliseconds timeout, std::function<bool()> should_stop) {
  http_request req;
  req.method = method;
  req.target = "/api/v3" + path;
  req.body = body;
  req.content_type = content_type;
  if (auth && !token_.empty()) req.headers.emplace_back("Authorization", token_);
  if (headers) req.headers.insert(req.headers.end(), headers->begin(), headers->end());
  req.should_stop = std::move(should_stop);
  try {
    auto resp = http_->request(req, timeout);
    out = std::move(resp.body);
    if (headers) *headers = std::move(resp.headers);
    return resp.status;
  } catch (const transport_error& e) {
    throw controller_error(0, e.what());
  }
}

json::value controller_api::status() {
  std::string out;
  int s = raw("GET", "/status", "", "application/json", false, out);
  if (s != 200) throw controller_error(s, "controller status: " + error_message(s, out));
  return json::parse(out);
}

void controller_api::login() {
  std::string out;
  json::value body = {{"email", email_}, {"password", password_}};
  int s = raw("POST", "/user/login", json::serialize(body), "application/json", false, out);
  if (s != 200) throw controller_error(s, "login as " + email_ + ": " + error_message(s, out));
  token_ = std::string(json::parse(out).at("accessToken").as_string());
}

void controller_api::ensure_user(const std::string& first, const std::string& last,
                                 const std::string& email, const std::string& password) {
  email_ = email;
  password_ = password;
  std::string out;
  json::value body = {
      {"firstName", first}, {"lastName", last}, {"email", email}, {"password", password}};
  int s = raw("POST", "/user/signup", json::serialize(body), "application/json", false, out);
  // 400 "already an account associated with this email" is the normal case after the first run.
  if (s >= 400 && error_message(s, out).find("already") == std::string::npos) {
    throw controller_error(s, "signup of " + email + ": " + error_message(s, out));
  }
  login();
}

int controller_api::call_status(const std::string& method, const std::string& path,
                                const json::value* body, json::value* result) {
  std::string payload = body ? json::serialize(*body) : "";
  std::string out;
  int s = raw(method, path, payload, "application/json", true, out);
  if (s == 401 && !email_.empty()) {
    login();
    s = raw(method, path, payload, "application/json", true, out);
  }
  if (s >= 400 && s != 404) {
    throw controller_error(s, method + " " + path + ": " + error_message(s, out));
  }
  if (result) *result = out.empty() || s == 404 ? json::value() : json::parse(out);
  return s;
}

std::string controller_api::get_text(const std::string& path) {
  std::string out;
  int s = raw("GET", path, "", "application/json", true, out);
  if (s == 401 && !email_.empty()) {
    login();
    s = raw("GET", path, "", "application/json", true, out);
  }
  if (s >= 400) throw controller_error(s, "GET " + path + ": " + error_message(s, out));
  return out;
}

json::value controller_api::call(const std::string& method, const std::string& path,
                                 const json::value* body) {
  json::value out;
  int s = call_status(method, path, body, &out);
  if (s == 404) throw controller_error(404, method + " " + path + ": not found");
  return out;
}

json::value controller_api::long_poll(const std::string& path, int wait_seconds, std::string& etag,
                                      const std::atomic<bool>& stop) {
  const std::string target = path + (path.find('?') == std::string::npos ? "?" : "&") +
                             "wait=" + std::to_string(wait_seconds);
  // The controller answers within the wait; the margin covers a loaded one.
  const auto timeout = std::chrono::seconds(wait_seconds + 30);
  std::string out;
  int s = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!etag.empty()) headers.emplace_back("If-None-Match", etag);
    s = raw("GET", target, "", "application/json", true, out, &headers, timeout,
            [&stop] { return stop.load(); });
    if (s == 401 && !email_.empty() && attempt == 0) {
      login();
      continue;
    }
    std::string fresh;
    for (const auto& [k, v] : headers) {
      if (k == "etag") fresh = v;
    }
    etag = fresh;
    break;
  }
  if (s >= 400) throw controller_error(s, "GET " + target + ": " + error_message(s, out));
  return out.empty() ? json::value() : json::parse(out);
}

json::value controller_api::upload(const std::string& method, const std::string& path,
                                   const std::string& field, const std::string& document) {
  const std::string boundary = "fogmesh-operator-5c1f0e";
  std::string body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + field +
                     "\"; filename=\"" + field +
                     ".yaml\"\r\nContent-Type: application/x-yaml\r\n\r\n" + document + "\r\n--" +
                     boundary + "--\r\n";
  std::string out;
  auto type = "multipart/form-data; boundary=" + boundary;
  int s = raw(method, path, body, type, true, out);
  if (s == 401 && !email_.empty()) {
    login();
    s = raw(method, path, body, type, true, out);
  }
  if (s >= 400) throw controller_error(s, method + " " + path + ": " + error_message(s, out));
  return out.empty() ? json::value() : json::parse(out);
}

}  // namespace fogmesh::k8s
