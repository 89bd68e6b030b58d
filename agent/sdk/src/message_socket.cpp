#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <deque>

#include "fogmesh/sdk/microservice.hpp"

namespace fogmesh::sdk {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {
constexpr uint8_t op_ack = 0x0B;
constexpr uint8_t op_message = 0x0D;
constexpr uint8_t op_receipt = 0x0E;
constexpr uint8_t op_pong = 0x0A;

uint64_t read_be(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}
}  // namespace

// Blocking on the outside, asynchronous inside: one read stays outstanding across next() calls
// so a timeout never cancels it (a cancelled Beast WebSocket read would end the socket); frames
// it completes are queued. Writes run the same io_context until they finish.
struct message_socket::impl {
  asio::io_context io;
  websocket::stream<beast::tcp_stream> ws{io};
  beast::flat_buffer read_buffer;
  bool reading = false;
  bool closed = false;
  std::string close_reason;
  std::deque<std::pair<std::string, bool>> frames;  // payload, was text

  void start_read() {
    if (reading || closed) return;
    reading = true;
    ws.async_read(read_buffer, [this](boost::system::error_code ec, size_t) {
      reading = false;
      if (ec) {
        closed = true;
        close_reason = ec.message();
        return;
      }
      frames.emplace_back(beast::buffers_to_string(read_buffer.data()), ws.got_text());
      read_buffer.consume(read_buffer.size());
      start_read();
    });
  }

  void write(const std::string& payload) {
    if (closed) throw sdk_error(0, "message socket closed: " + close_reason);
    bool done = false;
    boost::system::error_code result;
    ws.binary(true);
    ws.async_write(asio::buffer(payload), [&](boost::system::error_code ec, size_t) {
      done = true;
      result = ec;
    });
    while (!done) {
      if (io.stopped()) io.restart();
      io.run_one();
    }
    if (result) {
      closed = true;
      close_reason = result.message();
      throw sdk_error(0, "message socket write failed: " + result.message());
    }
  }
};

message_socket::message_socket(const environment& env) : impl_(std::make_unique<impl>()) {
  tcp::resolver resolver(impl_->io);
  boost::system::error_code ec;
  auto endpoints = resolver.resolve(env.host, std::to_string(env.port), ec);
  if (!ec) beast::get_lowest_layer(impl_->ws).connect(endpoints, ec);
  if (ec) {
    throw sdk_error(0, "cannot reach the agent's local API at " + env.host + ":" +
                           std::to_string(env.port) + ": " + ec.message());
  }
  beast::get_lowest_layer(impl_->ws).socket().set_option(tcp::no_delay(true));
  impl_->ws.set_option(
      websocket::stream_base::decorator([token = env.token](websocket::request_type& req) {
        if (!token.empty()) req.set(http::field::authorization, token);
      }));
  impl_->ws.read_message_max(64 * 1024 * 1024);
  websocket::response_type response;
  impl_->ws.handshake(response, env.host, "/v2/message/socket/id/" + env.self_name, ec);
  if (ec) {
    // A refused upgrade carries the agent's JSON reason (401/403/400).
    std::string why = response.body().empty() ? ec.message() : response.body();
    throw sdk_error(static_cast<int>(response.result_int()), "message socket: " + why);
  }
  impl_->start_read();
}

message_socket::~message_socket() {
  if (!impl_->closed) {
    boost::system::error_code ec;
    beast::get_lowest_layer(impl_->ws).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(impl_->ws).socket().close(ec);
  }
}

void message_socket::publish(const io_message& message) {
  auto encoded = agent::encode_binary(message);
  if (!encoded)
    throw sdk_error(0, "ioMessage does not fit the binary form: " + encoded.error().message());
  std::string frame(5, '\0');
  frame[0] = static_cast<char>(op_message);
  auto len = static_cast<uint32_t>(encoded->size());
  for (int i = 0; i < 4; ++i)
    frame[static_cast<size_t>(1 + i)] = static_cast<char>(len >> (8 * (3 - i)));
  frame.append(encoded->begin(), encoded->end());
  impl_->write(frame);
}

std::optional<message_socket::event> message_socket::next(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    while (!impl_->frames.empty()) {
      auto [payload, text] = std::move(impl_->frames.front());
      impl_->frames.pop_front();
      event e;
      if (text) {
        e.type = event::kind::error;
        e.error = payload;
        return e;
      }
      if (payload.empty()) continue;
      const auto* bytes = reinterpret_cast<const uint8_t*>(payload.data());
      uint8_t opcode = bytes[0];
      if (opcode == op_message && payload.size() >= 5) {
        // Acknowledge first: the agent resends unacknowledged messages after 2 s.
        impl_->write(std::string(1, static_cast<char>(op_ack)));
        auto decoded = agent::decode_binary(std::span(bytes + 5, payload.size() - 5));
        if (!decoded) {
          e.type = event::kind::error;
          e.error = "the agent sent an invalid ioMessage: " + decoded.error->message;
          return e;
        }
        e.message = std::move(decoded.message);
        return e;
      }
      if (opcode == op_receipt && payload.size() >= 3) {
        size_t id_len = bytes[1], ts_len = bytes[2];
        if (payload.size() >= 3 + id_len + ts_len && ts_len <= 8) {
          e.type = event::kind::receipt;
          e.receipt.id.assign(payload.data() + 3, id_len);
          e.receipt.timestamp = static_cast<int64_t>(read_be(bytes + 3 + id_len, ts_len));
          return e;
        }
      }
      if (opcode == op_pong || opcode == op_ack) continue;
      e.type = event::kind::error;
      e.error = "unexpected frame with opcode " + std::to_string(opcode);
      return e;
    }
    if (impl_->closed) throw sdk_error(0, "message socket closed: " + impl_->close_reason);
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    if (impl_->io.stopped()) impl_->io.restart();
    impl_->io.run_one_for(deadline - now);
  }
}

}  // namespace fogmesh::sdk
