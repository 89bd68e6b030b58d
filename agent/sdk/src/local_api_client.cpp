#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <cstdlib>

#include "fogmesh/agent/message_id.hpp"
#include "fogmesh/sdk/microservice.hpp"
#include "sdk_detail.hpp"

namespace fogmesh::sdk {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

bool resolves(const std::string& host) {
  asio::io_context io;
  tcp::resolver r(io);
  boost::system::error_code ec;
  r.resolve(host, "0", ec);
  return !ec;
}

std::string failure_message(const std::string& body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (auto* m = v.get_object().if_contains("errormessage"); m && m->is_string()) {
      return std::string(m->get_string());
    }
  }
  return body;
}

}  // namespace

environment environment::from_process() {
  environment e;
  e.self_name = env_or("SELFNAME", "");
  if (e.self_name.empty())
    throw sdk_error(0, "SELFNAME is not set: not started by a fogmesh/ioFog agent?");
  e.token = env_or("FOGMESH_LOCAL_API_TOKEN", "");
  std::string port = env_or("FOGMESH_LOCAL_API_PORT", "54321");
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
    throw sdk_error(0, "FOGMESH_LOCAL_API_PORT '" + port + "' is not a port number");
  }
  e.port = static_cast<uint16_t>(value);
  std::string host = env_or("FOGMESH_LOCAL_API_HOST", "");
  if (host.empty()) host = resolves("iofog") ? "iofog" : "127.0.0.1";
  e.host = host;
  e.router_url = env_or("FOGMESH_ROUTER_URL", "");
  return e;
}

io_message make_message(const std::string& publisher, std::string info_type,
                        std::string info_format, std::vector<uint8_t> content) {
  io_message m;
  m.publisher = publisher;
  m.info_type = std::move(info_type);
  m.info_format = std::move(info_format);
  m.content_data = std::move(content);
  return m;
}

void detail::stamp_if_missing(io_message& m) {
  if (m.id.empty()) m.id = agent::new_message_id();
  if (m.timestamp == 0) {
    m.timestamp = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  }
}

// One keep-alive connection, reopened once when the agent closed it between calls.
struct local_api_client::impl {
  asio::io_context io;
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;
  bool connected = false;

  void connect(const environment& env) {
    tcp::resolver resolver(io);
    boost::system::error_code ec;
    auto endpoints = resolver.resolve(env.host, std::to_string(env.port), ec);
    if (!ec) stream.connect(endpoints, ec);
    if (ec) {
      throw sdk_error(0, "cannot reach the agent's local API at " + env.host + ":" +
                             std::to_string(env.port) + ": " + ec.message());
    }
    connected = true;
  }

  json::value post(const environment& env, const std::string& path, const std::string& body) {
    http::request<http::string_body> req{http::verb::post, path, 11};
    req.set(http::field::host, env.host);
    req.set(http::field::content_type, "application/json");
    if (!env.token.empty()) req.set(http::field::authorization, env.token);
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    http::response<http::string_body> res;
    for (int attempt = 0;; ++attempt) {
      if (!connected) connect(env);
      boost::system::error_code ec;
      http::write(stream, req, ec);
      if (!ec) http::read(stream, buffer, res, ec);
      if (!ec) break;
      connected = false;
      buffer.clear();
      boost::system::error_code ignored;
      stream.socket().close(ignored);
      if (attempt > 0) throw sdk_error(0, "local API " + path + ": " + ec.message());
    }
    if (!res.keep_alive()) {
      connected = false;
      boost::system::error_code ignored;
      stream.socket().close(ignored);
    }
    if (res.result_int() != 200) {
      throw sdk_error(static_cast<int>(res.result_int()),
                      path + ": " + failure_message(res.body()));
    }
    boost::system::error_code ec;
    auto v = json::parse(res.body(), ec);
    if (ec || !v.is_object())
      throw sdk_error(200, path + ": the agent's answer is not a JSON object");
    return v;
  }
};

local_api_client::local_api_client(environment env)
    : env_(std::move(env)), impl_(std::make_unique<impl>()) {}
local_api_client::~local_api_client() = default;

namespace {
std::string id_body(const std::string& id) {
  return json::serialize(json::object{{"id", id}});
}
}  // namespace

std::string local_api_client::get_config() {
  auto v = impl_->post(env_, "/v2/config/get", id_body(env_.self_name));
  const auto* config = v.get_object().if_contains("config");
  if (config == nullptr || config->is_null()) return "{}";
  // Upstream sends the config as a JSON string; tolerate an agent that sends the object.
  return config->is_string() ? std::string(config->get_string()) : json::serialize(*config);
}

publish_receipt local_api_client::publish(io_message message) {
  if (message.publisher.empty()) message.publisher = env_.self_name;
  auto v = impl_->post(env_, "/v2/messages/new", agent::encode_json(message));
  publish_receipt receipt;
  const auto& o = v.get_object();
  if (auto* id = o.if_contains("id"); id && id->is_string())
    receipt.id = std::string(id->get_string());
  if (auto* ts = o.if_contains("timestamp"); ts && ts->is_number())
    receipt.timestamp = ts->to_number<int64_t>();
  return receipt;
}

std::vector<io_message> local_api_client::next_messages() {
  auto v = impl_->post(env_, "/v2/messages/next", id_body(env_.self_name));
  std::vector<io_message> out;
  const auto* list = v.get_object().if_contains("messages");
  if (list == nullptr || !list->is_array()) return out;
  for (const auto& item : list->get_array()) {
    auto decoded = agent::decode_json(json::serialize(item));
    if (!decoded) throw sdk_error(200, "/v2/messages/next: " + decoded.error->message);
    out.push_back(std::move(decoded.message));
  }
  return out;
}

}  // namespace fogmesh::sdk
