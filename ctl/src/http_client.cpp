#include "http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace fogmesh::ctl {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

endpoint endpoint::parse(const std::string& url) {
  std::string rest = url;
  if (rest.rfind("https://", 0) == 0) {
    throw std::invalid_argument("'" + url + "': https controllers are not supported by fogctl yet");
  }
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  if (rest.find("://") != std::string::npos) {
    throw std::invalid_argument("'" + url + "': only http:// URLs are supported");
  }
  endpoint ep;
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.size() >= 7 && path.compare(path.size() - 7, 7, "/api/v3") == 0) {
    path.resize(path.size() - 7);
  }
  ep.base = path;
  if (authority.empty()) throw std::invalid_argument("'" + url + "': no host");
  auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    ep.host = authority.substr(0, colon);
    ep.port = authority.substr(colon + 1);
  } else {
    ep.host = authority;
    ep.port = "51121";  // the controller's port, not 80: what users mean by a bare host
  }
  if (ep.port.empty() || ep.port.find_first_not_of("0123456789") != std::string::npos) {
    throw std::invalid_argument("'" + url + "': bad port '" + ep.port + "'");
  }
  return ep;
}

std::string endpoint::url() const { return "http://" + host + ":" + port + base; }

http_reply http_request(const endpoint& ep, const std::string& method, const std::string& target,
                        const std::string& body, const std::string& authorization,
                        std::chrono::seconds timeout) {
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  beast::flat_buffer buffer;
  http::request<http::string_body> req{http::string_to_verb(method), ep.base + target, 11};
  req.set(http::field::host, ep.host + ":" + ep.port);
  req.set(http::field::user_agent, "fogctl");
  req.set(http::field::accept, "application/json");
  req.set(http::field::connection, "close");
  if (!authorization.empty()) req.set(http::field::authorization, authorization);
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);

  beast::error_code result;
  std::string stage = "resolve";
  auto fail = [&](beast::error_code ec, const char* what) {
    result = ec;
    stage = what;
  };
  resolver.async_resolve(ep.host, ep.port, [&](beast::error_code ec, tcp::resolver::results_type r) {
    if (ec) return fail(ec, "resolve");
    stream.expires_after(timeout);
    stream.async_connect(r, [&](beast::error_code ec2, const tcp::endpoint&) {
      if (ec2) return fail(ec2, "connect");
      http::async_write(stream, req, [&](beast::error_code ec3, std::size_t) {
        if (ec3) return fail(ec3, "send");
        http::async_read(stream, buffer, parser, [&](beast::error_code ec4, std::size_t) {
          if (ec4) return fail(ec4, "receive");
          stage.clear();
        });
      });
    });
  });
  ioc.run();
  if (result || !stage.empty()) {
    std::string why = result == beast::error::timeout ? "timed out" : result.message();
    throw transport_error("cannot reach the controller at " + ep.url() + " (" + stage + ": " +
                          why + ")");
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  http_reply reply;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.body = std::move(parser.get().body());
  return reply;
}

}  // namespace fogmesh::ctl
