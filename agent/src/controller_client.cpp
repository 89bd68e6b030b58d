#include "controller_client.hpp"

#include <boost/json.hpp>

#include "fogmesh/agent/config_store.hpp"

namespace fogmesh::agent {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {
std::string provision_body(const std::string& key, int fog_type) {
  return json::serialize(json::object{{"key", key}, {"type", fog_type}});
}
std::string deprovision_body(const std::vector<std::string>& uuids) {
  json::array list(uuids.begin(), uuids.end());
  return json::serialize(json::object{{"microserviceUuids", list}});
}
std::string ack_body(const std::string& last_updated) {
  return json::serialize(json::object{{"lastUpdated", last_updated}});
}
}  // namespace

controller_client::controller_client(const std::string& url, std::string token,
                                     const std::string& ca_file, bool tls_insecure)
    : endpoint_(parse_endpoint_url(url, "/api/v3")), token_(std::move(token)) {
  endpoint_.ca_file = ca_file;
  endpoint_.tls_insecure = tls_insecure;
}

asio::awaitable<json::value> controller_client::call(const std::string& method,
                                                     const std::string& target, std::string body,
                                                     std::chrono::milliseconds timeout) {
  http_request_options req;
  req.method = method;
  req.target = target;
  req.body = std::move(body);
  req.timeout = timeout;
  if (!token_.empty()) req.headers.emplace_back("Authorization", token_);
  // Upstream agents send a request id the controller logs.
  req.headers.emplace_back("Request-Id", random_token_hex(16));
  auto reply = co_await http_request(endpoint_, std::move(req));
  json::value parsed;
  if (!reply.body.empty()) {
    boost::system::error_code ec;
    parsed = json::parse(reply.body, ec);
    if (ec) parsed = nullptr;
  }
  if (reply.status >= 400) {
    std::string name = "HTTP " + std::to_string(reply.status);
    std::string message = reply.body.substr(0, 200);
    if (parsed.is_object()) {
      if (auto* n = parsed.get_object().if_contains("name"); n && n->is_string())
        name = n->get_string();
      if (auto* m = parsed.get_object().if_contains("message"); m && m->is_string()) {
        message = m->get_string();
      }
    }
    throw controller_error(reply.status, name, message);
  }
  co_return parsed;
}

asio::awaitable<provision_result> controller_client::provision(const std::string& key,
                                                               int fog_type) {
  // Bodies are built outside co_await expressions: g++ 12 miscompiles initializer lists
  // inside them ("array used as initializer").
  std::string body = provision_body(key, fog_type);
  auto v = co_await call("POST", "/agent/provision", std::move(body), std::chrono::seconds(30));
  if (!v.is_object() || !v.get_object().contains("uuid") || !v.get_object().contains("token")) {
    throw controller_error(200, "ProtocolError", "provisioning answer lacks uuid/token");
  }
  co_return provision_result{std::string(v.at("uuid").as_string()),
                             std::string(v.at("token").as_string())};
}

asio::awaitable<void> controller_client::deprovision(const std::vector<std::string>& uuids) {
  std::string body = deprovision_body(uuids);
  co_await call("POST", "/agent/deprovision", std::move(body), std::chrono::seconds(30));
}

asio::awaitable<json::value> controller_client::changes(int wait_seconds) {
  std::string target = "/agent/config/changes";
  if (wait_seconds > 0) target += "?wait=" + std::to_string(wait_seconds);
  co_return co_await call("GET", target, "", std::chrono::seconds(wait_seconds + 15));
}

asio::awaitable<void> controller_client::ack_changes(const std::string& last_updated) {
  std::string body = ack_body(last_updated);
  co_await call("PATCH", "/agent/config/changes", std::move(body), std::chrono::seconds(30));
}

asio::awaitable<json::value> controller_client::config() {
  co_return co_await call("GET", "/agent/config", "", std::chrono::seconds(30));
}

asio::awaitable<json::value> controller_client::microservices() {
  co_return co_await call("GET", "/agent/microservices", "", std::chrono::seconds(30));
}

asio::awaitable<json::value> controller_client::registries() {
  co_return co_await call("GET", "/agent/registries", "", std::chrono::seconds(30));
}

asio::awaitable<json::value> controller_client::edge_resources() {
  co_return co_await call("GET", "/agent/edgeResources", "", std::chrono::seconds(30));
}

asio::awaitable<void> controller_client::put_status(const json::object& status) {
  co_await call("PUT", "/agent/status", json::serialize(status), std::chrono::seconds(30));
}

asio::awaitable<void> controller_client::delete_node() {
  co_await call("DELETE", "/agent/delete-node", "", std::chrono::seconds(30));
}

}  // namespace fogmesh::agent
