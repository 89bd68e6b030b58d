// A blocking HTTP/1.1 client for the controller's REST API: one request per connection, a
// deadline on the whole exchange. The only Beast/Asio translation unit of fogctl.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

namespace fogmesh::ctl {

struct http_reply {
  int status = 0;
  std::string body;
};

// Connection-level failure (refused, timed out, unreachable): no HTTP status.
class transport_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parsed "http://host[:port][/base]".
struct endpoint {
  std::string host;
  std::string port = "80";
  std::string base;  // path prefix without trailing '/', e.g. "/api/v3"

  // Accepts http://host:port, http://host:port/, http://host:port/api/v3; throws
  // std::invalid_argument naming what is wrong (https is not supported yet).
  static endpoint parse(const std::string& url);
  std::string url() const;  // http://host:port
};

http_reply http_request(const endpoint& ep, const std::string& method, const std::string& target,
                        const std::string& body, const std::string& authorization,
                        std::chrono::seconds timeout = std::chrono::seconds(60));

}  // namespace fogmesh::ctl
