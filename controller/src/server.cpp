// The only Beast/Asio translation unit: accepts connections, parses HTTP/1.1 (keep-alive), hands
// each request to the app on a worker thread (the handlers block on PostgreSQL), holds long-polls
// on a timer, and writes the response.
#include "fogmesh/controller/server.hpp"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <chrono>
#include <set>
#include <thread>

#include "app.hpp"
#include "db.hpp"
#include "fogmesh/common/log.hpp"
#include "migrations.hpp"

namespace fogmesh::controller {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = fogmesh::log::get("controller.http");
  return l;
}

bool is_disconnect(const boost::system::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted ||
         ec == beast::error::timeout || ec == asio::error::connection_reset ||
         ec == asio::error::eof || ec == asio::error::broken_pipe ||
         ec == asio::error::bad_descriptor;
}

// Clients (browsers, axios, qs) send `filters[0][key]=...` with raw brackets and the like, which
// RFC 3986 does not allow in a query; percent-encode such characters instead of refusing them.
std::string encode_lax(std::string_view target) {
  static constexpr std::string_view allowed =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/?%";
  std::string out;
  for (char c : target) {
    if (allowed.find(c) != std::string_view::npos) {
      out += c;
    } else {
      static constexpr char hex[] = "0123456789ABCDEF";
      auto b = static_cast<unsigned char>(c);
      out += '%';
      out += hex[b >> 4];
      out += hex[b & 15];
    }
  }
  return out;
}

}  // namespace

struct server::impl {
  explicit impl(server_options o)
      : options(std::move(o)), workers(std::max(1, options.db_connections)) {}

  server_options options;
  std::unique_ptr<db_pool> pool;
  std::unique_ptr<app> core;
  asio::io_context io;
  asio::thread_pool workers;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> liveness_timer;
  std::vector<std::thread> io_threads;
  std::atomic<bool> stopping{false};
  bool started = false;
  uint16_t bound_port = 0;

  std::mutex sessions_mutex;
  std::set<beast::tcp_stream*> sessions;

  // Runs the (blocking) app on a worker thread and resumes on the session's executor.
  asio::awaitable<http_response> on_worker(const http_request& req, bool final) {
    co_return co_await asio::co_spawn(
        workers.get_executor(),
        [this, &req, final]() -> asio::awaitable<http_response> {
          co_return core->handle(req, final);
        },
        asio::use_awaitable);
  }

  asio::awaitable<http_response> wait_for_change(const http_request& req, http_response resp) {
    auto lp = *resp.long_poll;
    if (stopping) co_return co_await on_worker(req, true);
    auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
    timer->expires_after(std::chrono::milliseconds(lp.timeout_ms));
    uint64_t id = core->notifier().subscribe(lp.key, lp.seen_sequence, [timer] {
      // Called from the listener thread: hop to the timer's executor to cancel it.
      asio::post(timer->get_executor(), [timer] { timer->cancel(); });
    });
    boost::system::error_code ec;
    co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    core->notifier().unsubscribe(id);
    co_return co_await on_worker(req, true);
  }

  asio::awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    {
      std::lock_guard lock(sessions_mutex);
      sessions.insert(&stream);
    }
    beast::flat_buffer buffer;
    std::string remote;
    {
      boost::system::error_code ec;
      auto ep = stream.socket().remote_endpoint(ec);
      if (!ec) remote = ep.address().to_string();
    }
    try {
      for (;;) {
        bhttp::request_parser<bhttp::string_body> parser;
        parser.body_limit(16 * 1024 * 1024);
        stream.expires_after(std::chrono::seconds(120));  // idle keep-alive connections
        co_await bhttp::async_read(stream, buffer, parser, asio::use_awaitable);
        auto& breq = parser.get();

        http_request req;
        req.method = std::string(breq.method_string());
        req.target = std::string(breq.target());
        req.remote_address = remote;
        for (const auto& field : breq) {
          std::string name(field.name_string());
          std::transform(name.begin(), name.end(), name.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
          req.headers.emplace_back(std::move(name), std::string(field.value()));
        }
        req.body = std::move(breq.body());

        http_response resp;
        auto url = boost::urls::parse_origin_form(req.target);
        std::string lax;
        if (!url) {
          lax = encode_lax(req.target);
          url = boost::urls::parse_origin_form(lax);
        }
        if (!url) {
          resp = core->handle(req, true);  // path stays empty: answers a JSON 404
        } else {
          req.path = url->path();
          for (auto p : url->params()) req.query.emplace_back(p.key, p.has_value ? p.value : "");
          stream.expires_never();
          resp = co_await on_worker(req, false);
          if (resp.long_poll) resp = co_await wait_for_change(req, std::move(resp));
        }

        bhttp::response<bhttp::string_body> bres;
        bres.version(breq.version());
        bres.result(static_cast<unsigned>(resp.status));
        for (auto& [k, v] : resp.headers) bres.set(k, v);
        if (!resp.body.empty())
          bres.set(bhttp::field::content_type, resp.content_type + "; charset=utf-8");
        bres.keep_alive(breq.keep_alive() && !stopping);
        bres.body() = std::move(resp.body);
        bres.prepare_payload();
        if (req.method == "HEAD") bres.body().clear();  // Content-Length stays that of GET
        stream.expires_after(std::chrono::seconds(30));
        co_await bhttp::async_write(stream, bres, asio::use_awaitable);
        if (!bres.keep_alive()) break;
      }
    } catch (const boost::system::system_error& e) {
      if (!is_disconnect(e.code()) && e.code() != bhttp::error::partial_message) {
        logger()->debug("connection from {}: {}", remote, e.code().message());
      }
    } catch (const std::exception& e) {
      logger()->warn("connection from {}: {}", remote, e.what());
    }
    {
      std::lock_guard lock(sessions_mutex);
      sessions.erase(&stream);
    }
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping) co_return;
        logger()->warn("accept: {}", ec.message());
        // Out of descriptors and the like: back off instead of spinning.
        asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(100));
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      asio::co_spawn(acceptor->get_executor(), session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> liveness_loop() {
    for (;;) {
      liveness_timer->expires_after(std::chrono::seconds(options.liveness_interval_sec));
      auto [ec] = co_await liveness_timer->async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec || stopping) co_return;
      co_await asio::co_spawn(
          workers.get_executor(),
          [this]() -> asio::awaitable<void> {
            core->run_liveness_job();
            co_return;
          },
          asio::use_awaitable);
    }
  }
};

server::server(server_options options) : impl_(std::make_unique<impl>(std::move(options))) {}

server::~server() {
  stop();
}

uint16_t server::port() const {
  return impl_->bound_port;
}

void server::start() {
  auto& s = *impl_;
  if (s.options.db_conninfo.empty()) throw std::runtime_error("no database configured");
  s.pool = std::make_unique<db_pool>(s.options.db_conninfo, std::max(1, s.options.db_connections));
  {
    auto conn = s.pool->acquire();
    int applied = apply_migrations(*conn);
    if (applied > 0) logger()->info("database schema: {} migration(s) applied", applied);
  }
  s.core = std::make_unique<app>(s.options, *s.pool);
  s.core->start_listener();

  auto address = asio::ip::make_address(s.options.bind_address);
  s.acceptor = std::make_unique<tcp::acceptor>(s.io);
  tcp::endpoint ep(address, s.options.port);
  s.acceptor->open(ep.protocol());
  s.acceptor->set_option(asio::socket_base::reuse_address(true));
  s.acceptor->bind(ep);
  s.acceptor->listen(asio::socket_base::max_listen_connections);
  s.bound_port = s.acceptor->local_endpoint().port();
  s.liveness_timer = std::make_unique<asio::steady_timer>(s.io);

  s.work.emplace(s.io.get_executor());
  asio::co_spawn(s.io, s.accept_loop(), asio::detached);
  asio::co_spawn(s.io, s.liveness_loop(), asio::detached);
  for (int i = 0; i < std::max(1, s.options.io_threads); ++i) {
    s.io_threads.emplace_back([&s] { s.io.run(); });
  }
  s.started = true;
  logger()->info("listening on {}:{}", s.options.bind_address, s.bound_port);
}

void server::stop() {
  auto& s = *impl_;
  if (!s.started) return;
  s.started = false;
  s.stopping = true;
  asio::post(s.io, [&s] {
    boost::system::error_code ec;
    s.acceptor->close(ec);
    s.liveness_timer->cancel();
    std::lock_guard lock(s.sessions_mutex);
    for (auto* stream : s.sessions) stream->socket().cancel(ec);
  });
  s.core->notifier().notify_all();  // answers held long-polls now
  s.work.reset();
  for (auto& t : s.io_threads) t.join();
  s.io_threads.clear();
  s.workers.join();
  s.core->stop_listener();
  logger()->info("stopped");
}

}  // namespace fogmesh::controller
