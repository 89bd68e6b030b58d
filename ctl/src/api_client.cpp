#include "api_client.hpp"

namespace fogmesh::ctl {

namespace json = boost::json;

api_client::api_client(endpoint ep, std::string token, std::function<std::string()> relogin)
    : ep_(std::move(ep)), token_(std::move(token)), relogin_(std::move(relogin)) {}

json::value api_client::call(const std::string& method, const std::string& path,
                             const json::value* body) {
  std::string text = body != nullptr ? json::serialize(*body) : "";
  http_reply r = http_request(ep_, method, "/api/v3" + path, text, token_);
  if (r.status == 401 && relogin_) {
    token_ = relogin_();
    relogin_ = {};
    r = http_request(ep_, method, "/api/v3" + path, text, token_);
  }
  json::value v;
  if (!r.body.empty()) {
    boost::system::error_code ec;
    v = json::parse(r.body, ec);
    if (ec) v = nullptr;
  }
  if (r.status >= 400) {
    std::string name = "Error";
    std::string message = "HTTP " + std::to_string(r.status);
    if (v.is_object()) {
      const auto& o = v.as_object();
      if (auto it = o.find("name"); it != o.end() && it->value().is_string()) {
        name = std::string(it->value().as_string());
      }
      if (auto it = o.find("message"); it != o.end() && it->value().is_string()) {
        message = std::string(it->value().as_string());
      }
    } else if (!r.body.empty()) {
      message += ": " + r.body.substr(0, 200);
    }
    throw api_error(r.status, name, message);
  }
  return v;
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace fogmesh::ctl
