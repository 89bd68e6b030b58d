// For tests that need a fleet: our real controller as a local process (embedded PostgreSQL in a
// temp dir), a user signed up and logged in, and plain HTTP calls to /api/v3.
#pragma once

#include <string>

#include "testkit.hpp"

namespace fogmesh::k8s::test {

class fleet {
 public:
  // Starts the controller and signs up + logs in `email` (password "password1").
  explicit fleet(const std::string& email) : ctl_(dir_.path()) {
    auto s = call("POST", "/user/signup",
                  R"({"firstName":"Fleet","lastName":"Owner","email":")" + email +
                      R"(","password":"password1"})");
    if (s.status != 201) throw std::runtime_error("signup: " + s.body);
    auto l = call("POST", "/user/login", R"({"email":")" + email + R"(","password":"password1"})");
    token_ = std::string(l.json().at("accessToken").as_string());
  }
  // An authenticated call (the user's token) to /api/v3 + path.
  controller::test::http_result call(const std::string& method, const std::string& path,
                                     const std::string& body = "") {
    return controller::test::http(ctl_.port(), method, "/api/v3" + path, body, token_);
  }
  // An unauthenticated (or agent-token) call.
  controller::test::http_result call_as(const std::string& auth, const std::string& method,
                                        const std::string& path, const std::string& body = "") {
    return controller::test::http(ctl_.port(), method, "/api/v3" + path, body, auth);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(ctl_.port()); }
  const std::string& dir() const { return dir_.path(); }

 private:
  controller::test::temp_dir dir_;
  controller::test::controller_process ctl_;
  std::string token_;
};

}  // namespace fogmesh::k8s::test
