// A small HTTP/1.1 client for the agent's two peers: the controller (TCP) and the Docker Engine
// API (unix socket). One request per connection: the agent makes a few requests per second at
// most, and a fresh connection never inherits a half-read response from a cancelled long-poll.
// Runs on the caller's io_context (the daemon's single thread); throws
// boost::system::system_error on transport failures and timeouts.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fogmesh::agent {

struct http_endpoint {
  // "host" + "port" for TCP; socket_path for a unix socket (host is then only the Host header).
  std::string host;
  std::string port;
  std::string socket_path;
  std::string base_path;  // prefixed to every target ("/api/v3", "/v1.41")
  // HTTPS: the server certificate is verified against ca_file (PEM) when set, else the
  // system's CA store, and must name `host`. tls_insecure skips verification (explicit only).
  bool tls = false;
  std::string ca_file;
  bool tls_insecure = false;
};

struct http_reply {
  unsigned status = 0;
  std::string body;
  std::string content_type;
};

using http_headers = std::vector<std::pair<std::string, std::string>>;

struct http_request_options {
  std::string method = "GET";
  std::string target;  // path + query, appended to base_path
  std::string body;
  std::string content_type = "application/json";
  http_headers headers;
  std::chrono::milliseconds timeout{30000};
  // Called for each piece of the body as it arrives (chunked streams such as image pulls);
  // the reply's body then stays empty.
  std::function<void(std::string_view)> on_body;
};

boost::asio::awaitable<http_reply> http_request(const http_endpoint& endpoint,
                                                http_request_options request);

// Parses "http[s]://host:port/path", "unix:///path/to.sock" or "tcp://host:port". Throws
// std::invalid_argument naming what is wrong.
http_endpoint parse_endpoint_url(const std::string& url, const std::string& default_base_path);

}  // namespace fogmesh::agent
