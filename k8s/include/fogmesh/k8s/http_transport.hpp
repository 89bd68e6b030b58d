// A blocking HTTP/1.1 client over plain TCP or TLS (OpenSSL), used for the Kubernetes API and the
// fogmesh controller's REST API. The only Beast/Asio translation unit of fogmesh_k8s is its .cpp.
//
// Thread-safety: one transport may be used from several threads at once; each call takes a
// keep-alive connection from a small idle pool (or opens one) and owns it for the whole exchange.
// Every call blocks the calling thread until the response, the deadline or a stop request.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fogmesh::k8s {

// Connection-level failure (DNS, refused, TLS handshake, timeout, reset): no HTTP status.
class transport_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct tls_options {
  std::string ca_pem;           // trusted CA(s); empty = system default paths
  std::string client_cert_pem;  // client certificate chain (optional)
  std::string client_key_pem;   // its private key
  bool insecure_skip_verify = false;
  std::string server_name;  // SNI / name to verify; empty = the URL's host
};

// "scheme://host[:port][/base]"
struct url_parts {
  bool tls = false;
  std::string host;
  std::string port;
  std::string base;                                // without trailing '/'
  static url_parts parse(const std::string& url);  // throws std::invalid_argument
  std::string str() const;
};

struct http_request {
  std::string method = "GET";
  std::string target;  // path + query, appended to the URL's base
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  // Polled every ~200 ms while request() waits (long-polls); true abandons the request with a
  // transport_error, so a held request does not delay a shutdown.
  std::function<bool()> should_stop;
};

struct http_response {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names (request() only)

  // The first header of that (lower-case) name, or nullptr.
  const std::string* header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return &v;
    }
    return nullptr;
  }
};

class http_transport {
 public:
  http_transport(const std::string& url, tls_options tls = {});
  ~http_transport();
  http_transport(const http_transport&) = delete;
  http_transport& operator=(const http_transport&) = delete;

  const url_parts& url() const { return url_; }

  // One request/response; throws transport_error. `timeout` covers the whole exchange.
  http_response request(const http_request& req,
                        std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // A long response read as it arrives (watch streams): calls `on_line` for each '\n'-terminated
  // line of a 2xx body; `on_line` returning false ends the stream. Returns the status with an
  // empty body on a 2xx stream that ended (server closed, stop, on_line false), or the full
  // body of a non-2xx answer. `should_stop` is polled every ~200 ms. `idle_timeout` bounds the
  // silence between two reads. Throws transport_error when the connection fails.
  http_response stream(const http_request& req,
                       const std::function<bool(std::string_view line)>& on_line,
                       const std::function<bool()>& should_stop,
                       std::chrono::milliseconds idle_timeout = std::chrono::seconds(120));

 private:
  struct impl;
  url_parts url_;
  std::unique_ptr<impl> impl_;
};

}  // namespace fogmesh::k8s
