#include "http_client.hpp"

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <stdexcept>

namespace fogmesh::agent {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

template <class Stream>
asio::awaitable<http_reply> exchange(Stream& stream, const http_endpoint& endpoint,
                                     http_request_options& request) {
  http::request<http::string_body> req;
  req.method_string(request.method);
  req.target(endpoint.base_path + request.target);
  req.version(11);
  req.set(http::field::host, endpoint.host.empty() ? "localhost" : endpoint.host);
  req.set(http::field::user_agent, "fogmesh-agent");
  req.set(http::field::connection, "close");
  for (const auto& [name, value] : request.headers) req.set(name, value);
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
      request.method == "PATCH") {
    req.set(http::field::content_type, request.content_type);
    req.body() = std::move(request.body);
    req.prepare_payload();
  }
  beast::get_lowest_layer(stream).expires_after(request.timeout);
  co_await http::async_write(stream, req, asio::use_awaitable);

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  http_reply reply;
  if (request.on_body) {
    // Hand over each chunk as it arrives and keep nothing: a pull's progress stream is long.
    auto on_chunk = [&request](std::uint64_t, beast::string_view body,
                               beast::error_code&) -> std::size_t {
      request.on_body(std::string_view(body.data(), body.size()));
      return body.size();
    };
    parser.on_chunk_body(on_chunk);
  }
  co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
  auto& res = parser.get();
  reply.status = res.result_int();
  reply.content_type = std::string(res[http::field::content_type]);
  if (request.on_body && !parser.chunked() && !res.body().empty()) request.on_body(res.body());
  if (!request.on_body) reply.body = std::move(res.body());
  co_return reply;
}

// Boost 1.81's system_error::what() ends in "[category:value at <header:line in function
// ...>]": the agent's log and the CLI say what was being reached and why, nothing more. The
// code stays (the CLI tells TLS failures apart by its category).
class transport_error : public boost::system::system_error {
 public:
  transport_error(const boost::system::error_code& code, std::string what)
      : system_error(code), what_(std::move(what)) {}
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

asio::awaitable<http_reply> request_once(const http_endpoint& endpoint,
                                         http_request_options request) {
  auto executor = co_await asio::this_coro::executor;
  if (!endpoint.socket_path.empty()) {
    beast::basic_stream<asio::local::stream_protocol> stream(executor);
    stream.expires_after(request.timeout);
    co_await stream.async_connect(asio::local::stream_protocol::endpoint(endpoint.socket_path),
                                  asio::use_awaitable);
    auto reply = co_await exchange(stream, endpoint, request);
    beast::error_code ignored;
    stream.socket().shutdown(asio::socket_base::shutdown_both, ignored);
    co_return reply;
  }
  asio::ip::tcp::resolver resolver(executor);
  auto results = co_await resolver.async_resolve(endpoint.host, endpoint.port, asio::use_awaitable);
  if (endpoint.tls) {
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1);
    if (endpoint.tls_insecure) {
      ctx.set_verify_mode(asio::ssl::verify_none);
    } else {
      if (!endpoint.ca_file.empty()) {
        ctx.load_verify_file(endpoint.ca_file);
      } else {
        ctx.set_default_verify_paths();
      }
      ctx.set_verify_mode(asio::ssl::verify_peer);
      ctx.set_verify_callback(asio::ssl::host_name_verification(endpoint.host));
    }
    beast::ssl_stream<beast::tcp_stream> stream(executor, ctx);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), endpoint.host.c_str())) {
      throw boost::system::system_error(
          boost::system::error_code(static_cast<int>(::ERR_get_error()),
                                    asio::error::get_ssl_category()),
          "TLS server name");
    }
    beast::get_lowest_layer(stream).expires_after(request.timeout);
    co_await beast::get_lowest_layer(stream).async_connect(results, asio::use_awaitable);
    co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    auto reply = co_await exchange(stream, endpoint, request);
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(asio::socket_base::shutdown_both, ignored);
    co_return reply;
  }
  beast::tcp_stream stream(executor);
  stream.expires_after(request.timeout);
  co_await stream.async_connect(results, asio::use_awaitable);
  auto reply = co_await exchange(stream, endpoint, request);
  beast::error_code ignored;
  stream.socket().shutdown(asio::socket_base::shutdown_both, ignored);
  co_return reply;
}

}  // namespace

asio::awaitable<http_reply> http_request(const http_endpoint& endpoint,
                                         http_request_options request) {
  try {
    co_return co_await request_once(endpoint, std::move(request));
  } catch (const boost::system::system_error& e) {
    const std::string target = endpoint.socket_path.empty() ? endpoint.host + ":" + endpoint.port
                                                            : "unix://" + endpoint.socket_path;
    throw transport_error(e.code(), target + ": " + e.code().message());
  }
}

http_endpoint parse_endpoint_url(const std::string& url, const std::string& default_base_path) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed)
    throw std::invalid_argument("'" + url + "' is not a URL: " + parsed.error().message());
  http_endpoint e;
  std::string scheme(parsed->scheme());
  if (scheme == "unix") {
    e.socket_path = std::string(parsed->path());
    if (e.socket_path.empty()) throw std::invalid_argument("'" + url + "' names no socket path");
    e.host = "localhost";
    e.base_path = default_base_path;
    return e;
  }
  if (scheme != "http" && scheme != "https" && scheme != "tcp") {
    throw std::invalid_argument("'" + url + "': scheme must be http, https, tcp or unix");
  }
  e.tls = scheme == "https";
  e.host = std::string(parsed->host());
  if (e.host.empty()) throw std::invalid_argument("'" + url + "' names no host");
  if (e.host.size() > 2 && e.host.front() == '[') e.host = e.host.substr(1, e.host.size() - 2);
  e.port = parsed->has_port() ? std::string(parsed->port()) : (e.tls ? "443" : "80");
  std::string path(parsed->path());
  while (!path.empty() && path.back() == '/') path.pop_back();
  // "http://host:51121" and "http://host:51121/api/v3/" both mean the v3 API.
  e.base_path = path.empty() ? default_base_path : path;
  return e;
}

}  // namespace fogmesh::agent
