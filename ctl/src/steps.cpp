#include "steps.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>

namespace fogmesh::ctl {

namespace json = boost::json;

std::string login(const endpoint& ep, const std::string& email, const std::string& password) {
  api_client anon(ep, "");
  auto r = anon.post("/user/login", json::object{{"email", email}, {"password", password}});
  if (!r.is_object() || !r.as_object().contains("accessToken")) {
    throw std::runtime_error("the controller's login answer has no accessToken");
  }
  return std::string(r.as_object().at("accessToken").as_string());
}

std::string sign_up_or_log_in(const endpoint& ep, const json::object& user) {
  std::string email(user.at("email").as_string());
  std::string password(user.at("password").as_string());
  try {
    return login(ep, email, password);
  } catch (const api_error& e) {
    if (e.status() != 401) throw;
  }
  api_client anon(ep, "");
  anon.post("/user/signup", json::object{{"firstName", user.at("name")},
                                         {"lastName", user.at("surname")},
                                         {"email", email},
                                         {"password", password}});
  return login(ep, email, password);
}

void connect_control_plane(const state& st, connection c, const endpoint& ep,
                           const json::object& user) {
  std::string email(user.at("email").as_string());
  std::string token =
      step("log in as " + email + " on " + ep.url(), [&] { return sign_up_or_log_in(ep, user); });
  c.endpoint = ep.url();
  c.email = email;
  st.save(c, token, std::string(user.at("password").as_string()));
}

bool controller_up(const endpoint& ep) {
  try {
    return http_request(ep, "GET", "/api/v3/status", "", "", std::chrono::seconds(5)).status == 200;
  } catch (const std::exception&) {
    return false;
  }
}

std::string absolute_local_path(const std::string& path) {
  std::string expanded = path;
  if (path.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    expanded = std::string(home != nullptr ? home : "") + path.substr(1);
  }
  return std::filesystem::absolute(expanded).lexically_normal().string();
}

}  // namespace fogmesh::ctl
