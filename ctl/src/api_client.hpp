// The controller's REST API (/api/v3) as fogctl uses it: JSON in and out, the user's token,
// errors carrying the controller's {name, message}. Logs in again once on 401 when it knows
// the password (tokens expire after an hour of inactivity).
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <stdexcept>
#include <string>

#include "http_client.hpp"

namespace fogmesh::ctl {

// The controller answered with an error status; what() is its `message`.
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

class api_client {
 public:
  // `relogin` returns a fresh token (or throws); empty: no retry on 401.
  api_client(endpoint ep, std::string token, std::function<std::string()> relogin = {});

  boost::json::value get(const std::string& path) { return call("GET", path, nullptr); }
  boost::json::value post(const std::string& path, const boost::json::value& body) {
    return call("POST", path, &body);
  }
  boost::json::value put(const std::string& path, const boost::json::value& body) {
    return call("PUT", path, &body);
  }
  boost::json::value patch(const std::string& path, const boost::json::value& body) {
    return call("PATCH", path, &body);
  }
  boost::json::value del(const std::string& path) { return call("DELETE", path, nullptr); }

  const endpoint& ep() const { return ep_; }
  const std::string& token() const { return token_; }

 private:
  boost::json::value call(const std::string& method, const std::string& path,
                          const boost::json::value* body);
  endpoint ep_;
  std::string token_;
  std::function<std::string()> relogin_;
};

// Percent-encodes a path segment or query value.
std::string url_encode(const std::string& s);

}  // namespace fogmesh::ctl
