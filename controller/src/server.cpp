// The only Beast/Asio translation unit: accepts connections, parses HTTP/1.1 (keep-alive), hands
// each request to the app on a worker thread (the handlers block on PostgreSQL), holds long-polls
// on a timer, and writes the response.
#include "fogmesh/controller/server.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <cerrno>
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
  explicit impl(server_options o) : options(std::move(o)) {}

  server_options options;
  std::unique_ptr<db_pool> pool;
  std::unique_ptr<app> core;
  asio::io_context io;
  // Recreated by every start(): a joined thread_pool cannot run again.
  std::unique_ptr<asio::thread_pool> workers;
  // One thread (and one pool connection of its own) answering woken long-polls: on the worker
  // queue they waited behind every request queued there (5,000 agents' status reports).
  std::unique_ptr<asio::thread_pool> wake_worker;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> liveness_timer;
  std::vector<std::thread> io_threads;
  std::atomic<bool> stopping{false};
  bool started = false;
  bool ever_started = false;
  uint16_t bound_port = 0;

  std::optional<asio::ssl::context> ssl_ctx;  // set when serving HTTPS
  std::mutex sessions_mutex;
  std::set<beast::tcp_stream*> sessions;

  // Runs the (blocking) app on a worker thread and resumes on the session's executor; what needs
  // no database (an agent's empty change poll known from memory) is answered right here.
  asio::awaitable<http_response> on_worker(const http_request& req, bool final) {
    if (auto fast = core->handle_fast(req, final)) co_return std::move(*fast);
    co_return co_await asio::co_spawn(
        workers->get_executor(),
        [this, &req, final]() -> asio::awaitable<http_response> {
          co_return core->handle(req, final);
        },
        asio::use_awaitable);
  }

  // Calls on_gone (on the socket's executor) if the client closes the connection before
  // sock.cancel() ends the watch. Readable data that is not an end of stream is a pipelined
  // request: it is read after the current response and ends the watch without a call.
  template <class F>
  static void watch_hangup(tcp::socket& sock, F on_gone) {
    sock.async_wait(tcp::socket::wait_read, [on_gone, &sock](boost::system::error_code ec) {
      if (ec) return;  // cancelled: the wait ended first (sock may be gone; do not touch it)
      char c = 0;
      ssize_t n = ::recv(sock.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) on_gone();
    });
  }

  // Runs a request on a worker while watching its client: a hang-up cancels the request's query
  // (query_canceller, db.hpp) instead of letting it run to the end for nobody. Returns nullopt
  // when the client went away.
  asio::awaitable<std::optional<http_response>> run_watched(beast::tcp_stream& stream,
                                                            http_request& req) {
    auto canceller = std::make_shared<query_canceller>();
    req.canceller = canceller;
    auto& sock = stream.socket();
    // PQcancel opens a connection to the server and waits for it: not on an io thread. The wake
    // worker is joined in stop(), so no cancel outlives the server.
    watch_hangup(sock, [this, canceller] {
      asio::post(*wake_worker, [canceller] { canceller->cancel(); });
    });
    http_response resp = co_await on_worker(req, false);
    boost::system::error_code ec;
    sock.cancel(ec);  // ends the watch
    req.canceller.reset();
    if (canceller->cancelled()) co_return std::nullopt;
    co_return resp;
  }

  // Holds a long-poll until the agent's change sequence moves or the timeout passes. Returns
  // nullopt when the client hung up meanwhile: it is not answered, and its slot is freed at once.
  asio::awaitable<std::optional<http_response>> wait_for_change(beast::tcp_stream& stream,
                                                                const http_request& req,
                                                                http_response resp) {
    auto lp = *resp.long_poll;
    if (stopping) co_return co_await on_worker(req, true);
    auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
    timer->expires_after(std::chrono::milliseconds(lp.timeout_ms));
    auto woken = std::make_shared<std::atomic<bool>>(false);
    uint64_t id = core->notifier().subscribe(lp.key, lp.seen_sequence, [timer, woken] {
      // Called from the listener thread: hop to the timer's executor to cancel it.
      *woken = true;
      asio::post(timer->get_executor(), [timer] { timer->cancel(); });
    });
    auto gone = std::make_shared<bool>(false);
    auto& sock = stream.socket();
    watch_hangup(sock, [timer, gone] {
      *gone = true;
      timer->cancel();
    });
    boost::system::error_code ec;
    co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    core->notifier().unsubscribe(id);
    sock.cancel(ec);  // ends the read-watch
    if (*gone) co_return std::nullopt;
    if (*woken && !stopping) co_return co_await answer_woken(req, lp.key);
    co_return co_await on_worker(req, true);
  }

  // A long-poll woken by a change joins the batch that one worker answers (app::drain_woken).
  // The answer comes back through a timer that is cancelled when it is ready (as in
  // wait_for_change): the worker never touches the coroutine.
  asio::awaitable<http_response> answer_woken(const http_request& req, const std::string& fog) {
    auto slot = std::make_shared<woken_slot>(co_await asio::this_coro::executor);
    start_woken(req, fog, slot);
    boost::system::error_code ec;
    co_await slot->ready.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    co_return std::move(slot->answer);
  }

  struct woken_slot {
    explicit woken_slot(const asio::any_io_executor& ex) : ready(ex) {
      ready.expires_at(asio::steady_timer::time_point::max());
    }
    asio::steady_timer ready;
    http_response answer;
  };

  void start_woken(const http_request& req, const std::string& fog,
                   const std::shared_ptr<woken_slot>& slot) {
    app::woken_poll p{&req, fog, [slot](http_response r) {
                        // Handed over on the session's strand, then the waiting coroutine runs.
                        asio::post(slot->ready.get_executor(), [slot, r = std::move(r)]() mutable {
                          slot->answer = std::move(r);
                          slot->ready.cancel();
                        });
                      }};
    if (core->enqueue_woken(std::move(p))) {
      // Through the io queue first: the other long-polls woken by the same change are queued
      // there already and join the batch before a worker drains it.
      asio::post(io, [this] { asio::post(*wake_worker, [this] { core->drain_woken(); }); });
    }
  }

  // A connection in `sessions` for its lifetime, so stop() can cancel what it waits for. Converts
  // to false when the server is stopping already (stop()'s sweep may have run without it): the
  // connection then ends at once.
  class registration {
   public:
    registration(impl& s, beast::tcp_stream& stream) : s_(s), stream_(stream) {
      std::lock_guard lock(s_.sessions_mutex);
      s_.sessions.insert(&stream_);
      live_ = !s_.stopping;
    }
    ~registration() {
      std::lock_guard lock(s_.sessions_mutex);
      s_.sessions.erase(&stream_);
    }
    registration(const registration&) = delete;
    registration& operator=(const registration&) = delete;
    explicit operator bool() const { return live_; }

   private:
    impl& s_;
    beast::tcp_stream& stream_;
    bool live_ = false;
  };

  // may_upload_large_snapshot on a worker (it queries); false when that fails.
  asio::awaitable<bool> large_body_allowed(const http_request& head) {
    co_return co_await asio::co_spawn(
        workers->get_executor(),
        [this, &head]() -> asio::awaitable<bool> {
          try {
            co_return may_upload_large_snapshot(*pool, head);
          } catch (const std::exception& e) {
            logger()->warn("checking an image snapshot upload: {}", e.what());
            co_return false;
          }
        },
        asio::use_awaitable);
  }

  // One connection: plain, or TLS when the server has a certificate. The HTTP loop is the same
  // for both (serve<Stream>). Registered before the TLS handshake: nothing yields between the
  // registration and the start of the handshake (or of serve's first read), so stop() either
  // cancels that operation or the registration saw `stopping`. A client that connects and sends
  // nothing does not hold stop() for the handshake's 30 s timeout.
  asio::awaitable<void> session(tcp::socket socket) {
    std::string remote;
    {
      boost::system::error_code ec;
      auto ep = socket.remote_endpoint(ec);
      if (!ec) remote = ep.address().to_string();
    }
    try {
      if (ssl_ctx) {
        beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *ssl_ctx);
        registration registered(*this, beast::get_lowest_layer(stream));
        if (!registered) co_return;
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
        co_await stream.async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
        co_await serve(stream, remote);
      } else {
        beast::tcp_stream stream(std::move(socket));
        registration registered(*this, stream);
        if (!registered) co_return;
        co_await serve(stream, remote);
      }
    } catch (const boost::system::system_error& e) {
      logger()->debug("connection from {}: {}", remote, e.code().message());
    }
  }

  template <class Stream>
  asio::awaitable<void> serve(Stream& stream, const std::string& remote) {
    beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
    beast::flat_buffer buffer;
    try {
      for (;;) {
        bhttp::request_parser<bhttp::string_body> parser;
        // The largest limit any request can get; lowered once the header is known (Beast checks
        // a Content-Length against the limit as soon as the header is parsed).
        parser.body_limit(snapshot_body_limit);
        lowest.expires_after(std::chrono::seconds(120));  // idle keep-alive connections
        co_await bhttp::async_read_header(stream, buffer, parser, asio::use_awaitable);
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
        auto url = boost::urls::parse_origin_form(req.target);
        std::string lax;
        if (!url) {
          lax = encode_lax(req.target);
          url = boost::urls::parse_origin_form(lax);
        }
        if (url) {
          req.path = url->path();
          for (auto p : url->params()) req.query.emplace_back(p.key, p.has_value ? p.value : "");
        }

        http_response resp;
        bool too_large = false;
        if (req.method == "PUT" && req.path == snapshot_upload_path &&
            co_await large_body_allowed(req)) {
          lowest.expires_after(std::chrono::minutes(30));  // hundreds of MB over an edge link
        } else if (parser.content_length() && *parser.content_length() > default_body_limit) {
          too_large = true;
        } else {
          parser.body_limit(default_body_limit);
        }
        if (const auto* expect = req.header("expect");
            !too_large && expect != nullptr && beast::iequals(*expect, "100-continue")) {
          // The body is wanted: clients such as curl wait for this before sending a large one.
          bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, breq.version()};
          co_await bhttp::async_write(stream, go_on, asio::use_awaitable);
        }
        if (too_large) {
          // Answered without reading the body; the connection closes after the answer.
          resp = error_response(413, "PayloadTooLargeError", "Request body larger than 16 MiB");
        } else {
          co_await bhttp::async_read(stream, buffer, parser, asio::use_awaitable);
          req.body = std::move(breq.body());
          if (!url) {
            resp = core->handle(req, true);  // path stays empty: answers a JSON 404
          } else {
            lowest.expires_never();
            auto answered = co_await run_watched(lowest, req);
            if (!answered) break;  // the client went away
            resp = std::move(*answered);
            if (resp.long_poll) {
              auto answered = co_await wait_for_change(lowest, req, std::move(resp));
              if (!answered) break;  // the client went away
              resp = std::move(*answered);
            }
          }
        }

        bhttp::response<bhttp::string_body> bres;
        bres.version(breq.version());
        bres.result(static_cast<unsigned>(resp.status));
        for (auto& [k, v] : resp.headers) bres.set(k, v);
        if (!resp.body.empty()) {
          bool text =
              resp.content_type.starts_with("text/") || resp.content_type == "application/json";
          bres.set(bhttp::field::content_type, resp.content_type + (text ? "; charset=utf-8" : ""));
        }
        bres.keep_alive(breq.keep_alive() && !stopping && !too_large);
        bres.body() = std::move(resp.body);
        bres.prepare_payload();
        if (req.method == "HEAD") bres.body().clear();  // Content-Length stays that of GET
        lowest.expires_after(std::chrono::seconds(30));
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
    boost::system::error_code ec;
    lowest.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      // Each connection gets its own strand: with several io threads, a session's coroutine,
      // its long-poll timer and its socket watch still run one at a time.
      auto [ec, socket] = co_await acceptor->async_accept(asio::make_strand(io),
                                                          asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping) co_return;
        logger()->warn("accept: {}", ec.message());
        // Out of descriptors and the like: back off instead of spinning.
        asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(100));
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto executor = socket.get_executor();
      asio::co_spawn(executor, session(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> liveness_loop() {
    for (;;) {
      liveness_timer->expires_after(std::chrono::seconds(options.liveness_interval_sec));
      auto [ec] = co_await liveness_timer->async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec || stopping) co_return;
      co_await asio::co_spawn(
          workers->get_executor(),
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
  if (s.started) return;
  if (s.options.db_conninfo.empty()) throw std::runtime_error("no database configured");
  // A stopped server starts again from scratch (the io_context ran out of work in stop()).
  if (s.ever_started) {
    s.core.reset();
    s.io.restart();
  }
  s.ever_started = true;
  s.stopping = false;
  s.workers = std::make_unique<asio::thread_pool>(std::max(1, s.options.db_connections));
  s.wake_worker = std::make_unique<asio::thread_pool>(1);
  // One connection more than workers: the wake worker's, so it never waits for a request.
  s.pool =
      std::make_unique<db_pool>(s.options.db_conninfo, std::max(1, s.options.db_connections) + 1);
  {
    auto conn = s.pool->acquire();
    int applied = apply_migrations(*conn);
    if (applied > 0) logger()->info("database schema: {} migration(s) applied", applied);
  }
  s.core = std::make_unique<app>(s.options, *s.pool);
  s.core->start_listener();

  if (!s.options.tls_cert_file.empty()) {
    s.ssl_ctx.emplace(asio::ssl::context::tls_server);
    s.ssl_ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1);
    s.ssl_ctx->use_certificate_chain_file(s.options.tls_cert_file);
    s.ssl_ctx->use_private_key_file(s.options.tls_key_file, asio::ssl::context::pem);
  }
  auto address = asio::ip::make_address(s.options.bind_address);
  // The acceptor and the liveness timer live on their own strands so stop() can reach them
  // safely with several io threads.
  s.acceptor = std::make_unique<tcp::acceptor>(asio::make_strand(s.io));
  tcp::endpoint ep(address, s.options.port);
  s.acceptor->open(ep.protocol());
  s.acceptor->set_option(asio::socket_base::reuse_address(true));
  s.acceptor->bind(ep);
  s.acceptor->listen(asio::socket_base::max_listen_connections);
  s.bound_port = s.acceptor->local_endpoint().port();
  s.liveness_timer = std::make_unique<asio::steady_timer>(asio::make_strand(s.io));

  s.work.emplace(s.io.get_executor());
  asio::co_spawn(s.acceptor->get_executor(), s.accept_loop(), asio::detached);
  asio::co_spawn(s.liveness_timer->get_executor(), s.liveness_loop(), asio::detached);
  for (int i = 0; i < std::max(1, s.options.io_threads); ++i) {
    s.io_threads.emplace_back([&s] { s.io.run(); });
  }
  s.started = true;
  logger()->info("listening on {}:{}{}", s.options.bind_address, s.bound_port,
                 s.ssl_ctx ? " (TLS)" : "");
}

void server::stop() {
  auto& s = *impl_;
  if (!s.started) return;
  s.started = false;
  s.stopping = true;
  asio::post(s.acceptor->get_executor(), [&s] {
    boost::system::error_code ec;
    s.acceptor->close(ec);
  });
  asio::post(s.liveness_timer->get_executor(), [&s] { s.liveness_timer->cancel(); });
  asio::post(s.io, [&s] {
    std::lock_guard lock(s.sessions_mutex);
    for (auto* stream : s.sessions) {
      // On the session's strand; a stream still in the set is alive there, because it removes
      // itself on that same strand.
      asio::post(stream->get_executor(), [&s, stream] {
        std::lock_guard inner(s.sessions_mutex);
        boost::system::error_code ignored;
        if (s.sessions.count(stream) != 0) stream->socket().cancel(ignored);
      });
    }
  });
  s.core->notifier().notify_all();  // answers held long-polls now
  s.work.reset();
  for (auto& t : s.io_threads) t.join();
  s.io_threads.clear();
  s.workers->join();
  s.wake_worker->join();
  s.core->stop_listener();
  // The io threads are gone, so nothing else touches these now. Closing here (not only in the
  // posted handler above) guarantees the port is free when stop() returns, whatever ran.
  boost::system::error_code ec;
  s.acceptor->close(ec);
  s.acceptor.reset();
  s.liveness_timer.reset();
  logger()->info("stopped");
}

}  // namespace fogmesh::controller
