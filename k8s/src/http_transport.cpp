// The only Beast/Asio translation unit of fogmesh_k8s (slow to compile): everything else sees
// http_request/http_response. Each connection owns its io_context and is driven by the calling
// thread, so no I/O thread is shared and a call never waits on another caller's work.
#include "fogmesh/k8s/http_transport.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <mutex>
#include <optional>

namespace fogmesh::k8s {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

url_parts url_parts::parse(const std::string& url) {
  url_parts u;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    throw std::invalid_argument("'" + url + "': expected an http:// or https:// URL");
  }
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.base = slash == std::string::npos ? "" : rest.substr(slash);
  while (!u.base.empty() && u.base.back() == '/') u.base.pop_back();
  if (authority.empty()) throw std::invalid_argument("'" + url + "': no host");
  if (authority.front() == '[') {  // [v6]:port
    auto close = authority.find(']');
    if (close == std::string::npos) throw std::invalid_argument("'" + url + "': bad IPv6 host");
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      u.port = authority.substr(close + 2);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string::npos) {
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
  } else {
    u.host = authority;
  }
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  if (u.port.find_first_not_of("0123456789") != std::string::npos) {
    throw std::invalid_argument("'" + url + "': bad port '" + u.port + "'");
  }
  return u;
}

std::string url_parts::str() const {
  bool v6 = host.find(':') != std::string::npos;
  return std::string(tls ? "https://" : "http://") + (v6 ? "[" + host + "]" : host) + ":" + port +
         base;
}

namespace {

struct connection {
  net::io_context ioc;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  template <class F>
  void with_stream(F&& f) {
    if (secure) {
      f(*secure);
    } else {
      f(*plain);
    }
  }
};

// Runs the connection's io_context until `done`, polling `should_stop` (which cancels the
// pending operation; its handler still runs, reporting operation_aborted).
void drive(connection& c, const bool& done, const std::function<bool()>& should_stop) {
  c.ioc.restart();
  bool cancelled = false;
  while (!done) {
    if (should_stop) {
      c.ioc.run_for(std::chrono::milliseconds(200));
      if (!done && !cancelled && should_stop()) {
        beast::error_code ignored;
        c.lowest().socket().cancel(ignored);
        c.lowest().socket().close(ignored);
        cancelled = true;
      }
    } else {
      c.ioc.run();
    }
    if (c.ioc.stopped() && !done) c.ioc.restart();
  }
}

std::string describe(const beast::error_code& ec) {
  if (ec == beast::error::timeout) return "timed out";
  return ec.message();
}

}  // namespace

struct http_transport::impl {
  url_parts url;
  std::optional<ssl::context> ssl_ctx;
  std::string server_name;
  bool verify = true;
  std::mutex mu;
  std::deque<std::unique_ptr<connection>> idle;

  std::unique_ptr<connection> take() {
    std::lock_guard lock(mu);
    if (idle.empty()) return nullptr;
    auto c = std::move(idle.front());
    idle.pop_front();
    return c;
  }
  void give_back(std::unique_ptr<connection> c) {
    std::lock_guard lock(mu);
    if (idle.size() < 4) idle.push_back(std::move(c));
  }

  std::unique_ptr<connection> open(std::chrono::milliseconds timeout,
                                   const std::function<bool()>& should_stop) {
    auto c = std::make_unique<connection>();
    if (ssl_ctx) {
      c->secure.emplace(c->ioc, *ssl_ctx);
    } else {
      c->plain.emplace(c->ioc);
    }
    tcp::resolver resolver(c->ioc);
    beast::error_code result;
    std::string stage = "resolve";
    bool done = false;
    auto fail = [&](beast::error_code ec, const char* what) {
      result = ec;
      stage = what;
      done = true;
    };
    c->lowest().expires_after(timeout);
    auto on_connected = [&](beast::error_code ec2) {
      if (ec2) return fail(ec2, "connect");
      if (!c->secure) {
        done = true;
        return;
      }
      beast::error_code not_ip;
      net::ip::make_address(server_name, not_ip);
      if (not_ip) SSL_set_tlsext_host_name(c->secure->native_handle(), server_name.c_str());
      if (verify) {
        c->secure->set_verify_mode(ssl::verify_peer);
        c->secure->set_verify_callback(ssl::host_name_verification(server_name));
      } else {
        c->secure->set_verify_mode(ssl::verify_none);
      }
      c->secure->async_handshake(ssl::stream_base::client, [&](beast::error_code ec3) {
        if (ec3) return fail(ec3, "TLS handshake");
        done = true;
      });
    };
    // An IP literal (the usual in-cluster KUBERNETES_SERVICE_HOST) needs no resolver: Asio's
    // async resolver keeps a thread per io_context, i.e. one per long-lived watch connection.
    beast::error_code not_ip;
    auto ip = net::ip::make_address(url.host, not_ip);
    if (!not_ip) {
      stage = "connect";
      c->lowest().async_connect(tcp::endpoint(ip, static_cast<unsigned short>(std::stoi(url.port))),
                                on_connected);
    } else {
      resolver.async_resolve(
          url.host, url.port, [&](beast::error_code ec, tcp::resolver::results_type r) {
            if (ec) return fail(ec, "resolve");
            c->lowest().async_connect(
                r, [&](beast::error_code ec2, const tcp::endpoint&) { on_connected(ec2); });
          });
    }
    drive(*c, done, should_stop);
    if (result) {
      throw transport_error("cannot reach " + url.str() + " (" + stage + ": " + describe(result) +
                            ")");
    }
    return c;
  }
};

http_transport::http_transport(const std::string& url, tls_options tls)
    : url_(url_parts::parse(url)), impl_(std::make_unique<impl>()) {
  impl_->url = url_;
  impl_->server_name = tls.server_name.empty() ? url_.host : tls.server_name;
  impl_->verify = !tls.insecure_skip_verify;
  if (url_.tls) {
    impl_->ssl_ctx.emplace(ssl::context::tls_client);
    auto& ctx = *impl_->ssl_ctx;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    try {
      if (tls.ca_pem.empty()) {
        ctx.set_default_verify_paths();
      } else {
        ctx.add_certificate_authority(net::buffer(tls.ca_pem));
      }
      if (!tls.client_cert_pem.empty()) {
        ctx.use_certificate_chain(net::buffer(tls.client_cert_pem));
        ctx.use_private_key(net::buffer(tls.client_key_pem), ssl::context::pem);
      }
    } catch (const boost::system::system_error& e) {
      throw std::invalid_argument("bad TLS material for " + url + ": " + e.what());
    }
  }
}

http_transport::~http_transport() = default;

namespace {

http::request<http::string_body> make_request(const url_parts& u, const http_request& r) {
  http::request<http::string_body> req{http::string_to_verb(r.method), u.base + r.target, 11};
  req.set(http::field::host, u.host + ":" + u.port);
  req.set(http::field::user_agent, "fogmesh-k8s/0.1");
  req.set(http::field::accept, "application/json");
  for (const auto& [k, v] : r.headers) req.set(k, v);
  if (!r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
    req.set(http::field::content_type, r.content_type);
    req.body() = r.body;
  }
  req.prepare_payload();
  return req;
}

}  // namespace

http_response http_transport::request(const http_request& r, std::chrono::milliseconds timeout) {
  auto req = make_request(url_, r);
  // A pooled connection may have been closed by the server while idle: one retry on a fresh one.
  for (int attempt = 0;; ++attempt) {
    auto c = attempt == 0 ? impl_->take() : nullptr;
    bool reused = c != nullptr;
    if (!c) c = impl_->open(timeout, r.should_stop);
    http::response_parser<http::string_body> parser;
    parser.body_limit(512ull * 1024 * 1024);
    beast::error_code result;
    std::string stage;
    bool done = false;
    c->lowest().expires_after(timeout);
    c->with_stream([&](auto& s) {
      http::async_write(s, req, [&](beast::error_code ec, std::size_t) {
        if (ec) {
          result = ec;
          stage = "send";
          done = true;
          return;
        }
        http::async_read(s, c->buffer, parser, [&](beast::error_code ec2, std::size_t) {
          if (ec2) {
            result = ec2;
            stage = "receive";
          }
          done = true;
        });
      });
    });
    drive(*c, done, r.should_stop);
    if (result) {
      if (r.should_stop && r.should_stop()) {
        throw transport_error(r.method + " " + url_.str() + r.target + " abandoned (stopping)");
      }
      if (reused && result != beast::error::timeout) continue;
      throw transport_error(r.method + " " + url_.str() + r.target + " failed (" + stage + ": " +
                            describe(result) + ")");
    }
    http_response out;
    out.status = static_cast<int>(parser.get().result_int());
    bool keep = parser.get().keep_alive();
    out.body = std::move(parser.get().body());
    for (const auto& field : parser.get()) {
      std::string name(field.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      out.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    if (keep) {
      c->lowest().expires_never();
      impl_->give_back(std::move(c));
    }
    return out;
  }
}

http_response http_transport::stream(const http_request& r,
                                     const std::function<bool(std::string_view)>& on_line,
                                     const std::function<bool()>& should_stop,
                                     std::chrono::milliseconds idle_timeout) {
  auto req = make_request(url_, r);
  auto c = impl_->open(std::chrono::seconds(30), should_stop);
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  beast::error_code result;
  std::string stage = "send";
  bool done = false;
  c->lowest().expires_after(std::chrono::seconds(30));
  c->with_stream([&](auto& s) {
    http::async_write(s, req, [&](beast::error_code ec, std::size_t) {
      if (ec) {
        result = ec;
        done = true;
        return;
      }
      stage = "receive";
      http::async_read_header(s, c->buffer, parser, [&](beast::error_code ec2, std::size_t) {
        result = ec2;
        done = true;
      });
    });
  });
  drive(*c, done, should_stop);
  if (result) {
    if (result == net::error::operation_aborted && should_stop && should_stop()) return {};
    throw transport_error(r.method + " " + url_.str() + r.target + " failed (" + stage + ": " +
                          describe(result) + ")");
  }
  http_response out;
  out.status = static_cast<int>(parser.get().result_int());
  bool ok = out.status >= 200 && out.status < 300;
  std::string pending;
  char buf[16384];
  bool keep_going = true;
  while (keep_going && !parser.is_done()) {
    parser.get().body().data = buf;
    parser.get().body().size = sizeof(buf);
    done = false;
    result = {};
    c->lowest().expires_after(idle_timeout);
    c->with_stream([&](auto& s) {
      // read_some: hand over whatever arrived (a watch event is small; read() would wait
      // for a full buffer).
      http::async_read_some(s, c->buffer, parser, [&](beast::error_code ec, std::size_t) {
        result = ec == http::error::need_buffer ? beast::error_code{} : ec;
        done = true;
      });
    });
    drive(*c, done, should_stop);
    std::size_t got = sizeof(buf) - parser.get().body().size;
    if (ok) {
      pending.append(buf, got);
      std::size_t start = 0;
      for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n', start)) {
        if (!on_line(std::string_view(pending).substr(start, nl - start))) {
          keep_going = false;
          break;
        }
        start = nl + 1;
      }
      pending.erase(0, start);
    } else {
      out.body.append(buf, got);
    }
    if (result) {
      if (result == net::error::operation_aborted && should_stop && should_stop()) break;
      if (result == http::error::end_of_stream || result == net::error::eof) break;
      throw transport_error("stream " + url_.str() + r.target + " broke (" + describe(result) +
                            ")");
    }
    if (should_stop && should_stop()) break;
  }
  return out;
}

}  // namespace fogmesh::k8s
