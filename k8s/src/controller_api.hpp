// Client of the fogmesh (ioFog v3) controller's REST API as the operator and the port manager
// use it: status, signup/login with a cached token (re-login once on 401), JSON calls and the
// iofogctl-YAML multipart uploads. Blocking; one instance per controller, not thread-safe.
#pragma once

#include <boost/json.hpp>
#include <memory>
#include <stdexcept>
#include <string>

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
  // multipart/form-data upload of one field (the /yaml endpoints).
  boost::json::value upload(const std::string& method, const std::string& path,
                            const std::string& field, const std::string& document);

 private:
  int raw(const std::string& method, const std::string& path, const std::string& body,
          const std::string& content_type, bool auth, std::string& out);
  void login();
  std::string url_;
  std::unique_ptr<http_transport> http_;
  std::string email_, password_, token_;
};

}  // namespace fogmesh::k8s
