// Transport-neutral request/response types and the API error model. Handlers use only these
// (not Beast), so the handler TUs stay cheap to compile.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace fogmesh::controller {

class query_canceller;  // db.hpp
class db_pool;          // db.hpp

// The listener's limit for request bodies, and the larger one (upstream takes 500 MB) of an
// agent's image snapshot upload. The larger limit is granted from the request line and headers
// alone, before the body is read: anyone else could make the controller buffer that much.
constexpr uint64_t default_body_limit = 16 * 1024 * 1024;
constexpr uint64_t snapshot_body_limit = 512 * 1024 * 1024;

struct http_request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target, e.g. "/api/v3/iofog-list?system=true"
  std::string path;    // decoded path without the query
  std::vector<std::pair<std::string, std::string>> query;    // decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  std::string body;
  std::string remote_address;
  // Set by the server: cancels the request's query when its client hangs up.
  std::shared_ptr<query_canceller> canceller;

  const std::string* header(std::string_view name) const;
  const std::string* query_param(std::string_view name) const;
};

// Set by a handler that has nothing to say yet: the server holds the request until the change
// notifier's sequence for `key` moves past `seen_sequence` or `timeout_ms` passes, then calls the
// handler again with `long_poll_final` set.
struct long_poll_request {
  std::string key;
  uint64_t seen_sequence = 0;
  int64_t timeout_ms = 0;
};

struct http_response {
  int status = 200;
  std::string body;  // empty = no body
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<long_poll_request> long_poll;
};

// Thrown by handlers; turned into `status` + {"name","message"} at the request boundary.
class api_error : public std::runtime_error {
 public:
  api_error(int status, std::string name, const std::string& message)
      : std::runtime_error(message), status_(status), name_(std::move(name)) {}
  int status() const { return status_; }
  const std::string& name() const { return name_; }

 private:
  int status_;
  std::string name_;
};

// Upstream's error names and codes.
inline api_error validation_error(const std::string& m) {
  return {400, "ValidationError", m};
}
inline api_error not_found(const std::string& m) {
  return {404, "NotFoundError", m};
}
inline api_error auth_error(const std::string& m = "authorization failed") {
  return {401, "AuthenticationError", m};
}
inline api_error invalid_credentials() {
  return {401, "InvalidCredentialsError", "Invalid credentials"};
}
inline api_error duplicate_error(const std::string& m) {
  return {409, "DuplicatePropertyError", m};
}

// For a PUT to snapshot_upload_path (`head` has no body yet): true when it comes from an agent
// (valid token) whose fog has a snapshot request pending. Queries (api_diagnostics.cpp).
constexpr std::string_view snapshot_upload_path = "/api/v3/agent/image-snapshot";
bool may_upload_large_snapshot(db_pool& pool, const http_request& head);

http_response json_response(int status, const boost::json::value& v);
// `json_text` is already serialised JSON (often built by PostgreSQL itself).
http_response raw_json_response(int status, std::string json_text);
http_response empty_response(int status);
http_response error_response(int status, std::string_view name, std::string_view message);

}  // namespace fogmesh::controller
