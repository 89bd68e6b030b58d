// Client of the fogmesh (ioFog v3) controller's REST API as the operator and the port manager
// use it: status, signup/login with a cached token (re-login once on 401), JSON calls and the
// iofogctl-YAML multipart uploads. Blocking; one instance per controller, not thread-safe.
#pragma once

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fogmesh/k8s/http_transport.hpp"

namespace fogmesh::k8s {

class controller_error : public std::runtime_error {
 public:
  controller_error(int status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }  // 0 = unreachable

 private:
  int status_;
};

class controller_api {
 public:
  explicit controller_api(const std::string& base_url);  // http://host:51121 (adds /api/v3)
  const std::string& url() const { return url_; }

  // GET /status; throws controller_error(0, ...) when unreachable.
  boost::json::value status();
  // Signs the user up (an existing account is fine) and logs in.
  void ensure_user(const std::string& first, const std::string& last, const std::string& email,
                   const std::string& password);
  bool logged_in() const { return !token_.empty(); }

  // An authenticated JSON call; 401 → one re-login and retry. Throws controller_error for
  // status >= 400 (message = the controller's {name,message}).
  boost::json::value call(const std::string& method, const std::string& path,
                          const boost::json::value* body = nullptr);
  // Same, returning the status instead of throwing for 404.
  int call_status(const std::string& method, const std::string& path,
                  const boost::json::value* body, boost::json::value* out);
  // An authenticated GET whose body is returned as text (the caller may compare it before
  // parsing it); errors as call().
  std::string get_text(const std::string& path);
  // GET `path` as a long-poll: `?wait=wait_seconds` with If-None-Match: `etag` (when not empty);
  // the controller holds the request until its answer's ETag would differ or the wait is over.
  // `etag` becomes the answer's ETag ("" from a controller without them, which also answers at
  // once: the caller paces such answers).
  // `stop` set abandons a held request (controller_error 0).
  boost::json::value long_poll(const std::string& path, int wait_seconds, std::string& etag,
                               const std::atomic<bool>& stop);
  // multipart/form-data upload of one field (the /yaml endpoints).
  boost::json::value upload(const std::string& method, const std::string& path,
                            const std::string& field, const std::string& document);

 private:
  // One request; `headers` (in and out, may be null): extra request headers, replaced by the
  // response's headers.
  int raw(const std::string& method, const std::string& path, const std::string& body,
          const std::string& content_type, bool auth, std::string& out,
          std::vector<std::pair<std::string, std::string>>* headers = nullptr,
          std::chrono::milliseconds timeout = std::chrono::seconds(30),
          std::function<bool()> should_stop = {});
  void login();
  std::string url_;
  std::unique_ptr<http_transport> http_;
  std::string email_, password_, token_;
};

}  // namespace fogmesh::k8s
