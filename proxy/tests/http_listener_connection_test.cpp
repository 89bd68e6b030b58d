// The HTTP listener connection state machine against a fake AMQP side: request messages out,
// responses in any order, generated errors, timeouts (driven by explicit time, never by the
// clock), back-pressure and the upgrade-to-tunnel path.
#include "fogmesh/proxy/http_listener_connection.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace fogmesh::proxy;
using clock_type = http_listener_connection::clock;
using fogmesh::result;

bytes_view as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

struct fake_amqp final : http_listener_amqp_side {
  struct request {
    byte_buffer bytes;
    bool complete = false;
    int calls = 0;
  };
  std::map<std::uint64_t, request> requests;
  std::vector<std::uint64_t> order;
  std::set<std::uint64_t> aborted;
  std::map<std::uint64_t, delivery_outcome> settled;
  std::string tunnel;
  bool tunnel_begun = false, tunnel_ended = false, closed = false;
  bool capacity = true;
  std::uint64_t next_id = 1;

  std::string_view reply_address() const override { return "amqp:/_topo/0/r/temp.reply"; }
  std::uint64_t allocate_request_id() override { return next_id++; }
  void begin_request(std::uint64_t id, bytes_view b, bool last) override {
    EXPECT_EQ(requests.count(id), 0u);
    order.push_back(id);
    auto& r = requests[id];
    r.bytes.assign(b.begin(), b.end());
    r.complete = last;
    r.calls = 1;
  }
  void continue_request(std::uint64_t id, bytes_view b, bool last) override {
    ASSERT_EQ(requests.count(id), 1u);
    auto& r = requests[id];
    EXPECT_FALSE(r.complete);
    r.bytes.insert(r.bytes.end(), b.begin(), b.end());
    r.complete = last;
    ++r.calls;
  }
  void abort_request(std::uint64_t id) override { aborted.insert(id); }
  bool can_send_request_bytes() const override { return capacity; }
  void settle_response(std::uint64_t token, delivery_outcome o) override { settled[token] = o; }
  void begin_tunnel(bytes_view b) override {
    tunnel_begun = true;
    tunnel.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  void tunnel_data(bytes_view b) override {
    tunnel.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  void end_tunnel() override { tunnel_ended = true; }
  void connection_closed() override { closed = true; }

  // Subject and body of a request as the far side would read them.
  std::string subject_of(std::uint64_t id) {
    message_to_http conv(message_to_http::kind::request, {});
    std::string out;
    EXPECT_TRUE(conv.feed(requests.at(id).bytes, true, out));
    return conv.subject();
  }
  std::string http_of(std::uint64_t id) {
    message_to_http conv(message_to_http::kind::request, {});
    std::string out;
    EXPECT_TRUE(conv.feed(requests.at(id).bytes, true, out));
    EXPECT_EQ(conv.correlation_id(), message_id::from_ulong(id));
    EXPECT_EQ(conv.reply_to(), "amqp:/_topo/0/r/temp.reply");
    return out;
  }
};

byte_buffer response_message(std::uint64_t correlation, int status, std::string_view body,
                             std::vector<http::header_field> headers = {}) {
  http::message_head head;
  head.is_request = false;
  head.status = status;
  head.headers = headers;
  byte_buffer out;
  append_response_head(out, head, {"amqp:/_topo/0/r/temp.reply", message_id::from_ulong(correlation),
                                   std::nullopt});
  body_encoder enc(body.size());
  enc.append(as_bytes(body), out);
  EXPECT_TRUE(enc.finish(out));
  return out;
}

struct fixture : ::testing::Test {
  fake_amqp amqp;
  clock_type::time_point t0{};
  http_listener_options options;
  std::unique_ptr<http_listener_connection> conn;

  void make() { conn = std::make_unique<http_listener_connection>(amqp, options, t0); }
  void SetUp() override { make(); }
  void client(std::string_view bytes) { conn->on_client_data(as_bytes(bytes), t0); }
  std::string take_output() {
    std::string out(conn->pending_output());
    conn->consume_output(out.size());
    return out;
  }
};

TEST_F(fixture, get_request_and_response) {
  client("GET /a HTTP/1.1\r\nHost: svc:6000\r\n\r\n");
  ASSERT_EQ(amqp.order.size(), 1u);
  EXPECT_TRUE(amqp.requests[1].complete);
  EXPECT_EQ(amqp.requests[1].calls, 1) << "a small request goes out in one piece";
  EXPECT_EQ(amqp.http_of(1), "GET /a HTTP/1.1\r\nhost: svc:6000\r\n\r\n");
  EXPECT_TRUE(conn->pending_output().empty());

  conn->on_response(77, response_message(1, 200, "hello"), true);
  EXPECT_EQ(take_output(), "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello");
  EXPECT_EQ(amqp.settled.at(77), delivery_outcome::accepted);
  EXPECT_FALSE(conn->should_close());
  EXPECT_TRUE(conn->wants_input());
}

TEST_F(fixture, pipelined_responses_are_written_in_request_order) {
  client("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nGET /3 HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(amqp.order.size(), 3u);
  conn->on_response(13, response_message(3, 200, "three"), true);
  conn->on_response(12, response_message(2, 404, "two"), true);
  EXPECT_TRUE(conn->pending_output().empty()) << "nothing before the first response";
  // The first response streams in two pieces.
  const auto first = response_message(1, 200, "one");
  conn->on_response(11, bytes_view(first).first(first.size() - 2), false);
  EXPECT_EQ(take_output(), "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\no");
  conn->on_response(11, bytes_view(first).subspan(first.size() - 2), true);
  EXPECT_EQ(take_output(),
            "ne"
            "HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n\r\ntwo"
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nthree");
}

TEST_F(fixture, malformed_request_gets_400_and_the_connection_closes) {
  client("GET / HTTP/1.1\r\nHost : h\r\n\r\n");
  EXPECT_TRUE(amqp.order.empty());
  const auto out = take_output();
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("connection: close"), std::string::npos);
  EXPECT_NE(out.find("invalid header field name"), std::string::npos) << "the reason is given";
  EXPECT_TRUE(conn->should_close());
  EXPECT_FALSE(conn->wants_input());
}

TEST_F(fixture, error_after_pipelined_request_waits_for_its_response) {
  client("GET /ok HTTP/1.1\r\nHost: h\r\n\r\nGARBAGE\r\n\r\n");
  ASSERT_EQ(amqp.order.size(), 1u);
  EXPECT_TRUE(conn->pending_output().empty());
  EXPECT_FALSE(conn->should_close());
  conn->on_response(5, response_message(1, 200, "x"), true);
  const auto out = take_output();
  EXPECT_EQ(out.find("HTTP/1.1 200 OK"), 0u);
  EXPECT_NE(out.find("HTTP/1.1 400 Bad Request"), std::string::npos) << out;
  EXPECT_TRUE(conn->should_close());
}

TEST_F(fixture, oversized_head_gets_431) {
  options.limits.max_head_bytes = 128;
  make();
  client("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(200, 'a'));
  EXPECT_EQ(take_output().rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0), 0u);
  EXPECT_TRUE(conn->should_close());
}

TEST_F(fixture, undeliverable_request_gets_502_and_the_connection_stays_usable) {
  client("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
  conn->on_request_outcome(1, delivery_outcome::released);
  const auto out = take_output();
  EXPECT_EQ(out.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0), 0u);
  EXPECT_NE(out.find("no service is reachable"), std::string::npos);
  EXPECT_FALSE(conn->should_close());
  client("GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(amqp.order.size(), 2u);
}

TEST_F(fixture, accepted_outcome_before_the_response_changes_nothing) {
  client("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
  conn->on_request_outcome(1, delivery_outcome::accepted);
  EXPECT_TRUE(conn->pending_output().empty());
  conn->on_response(1, response_message(1, 204, ""), true);
  EXPECT_EQ(take_output(), "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST_F(fixture, request_timeout_gives_504_and_a_late_response_is_dropped) {
  options.request_timeout = std::chrono::seconds(5);
  make();
  client("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
  conn->on_tick(t0 + std::chrono::seconds(4));
  EXPECT_TRUE(conn->pending_output().empty());
  conn->on_tick(t0 + std::chrono::seconds(5));
  const auto out = take_output();
  EXPECT_EQ(out.rfind("HTTP/1.1 504 Gateway Timeout\r\n", 0), 0u);
  EXPECT_NE(out.find("no response within 5 s"), std::string::npos);
  conn->on_response(9, response_message(1, 200, "late"), true);
  EXPECT_TRUE(conn->pending_output().empty());
  EXPECT_EQ(amqp.settled.at(9), delivery_outcome::accepted);
}

TEST_F(fixture, streamed_body_with_back_pressure) {
  client("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\nabcd");
  ASSERT_EQ(amqp.order.size(), 1u);
  EXPECT_FALSE(amqp.requests[1].complete);
  amqp.capacity = false;
  EXPECT_FALSE(conn->wants_input());
  client("efgh");  // a buffer already received is still taken
  amqp.capacity = true;
  conn->on_request_capacity(t0);
  EXPECT_TRUE(conn->wants_input());
  client("ijkl");
  EXPECT_TRUE(amqp.requests[1].complete);
  EXPECT_GE(amqp.requests[1].calls, 2) << "the body streamed in pieces";
  EXPECT_NE(amqp.http_of(1).find("\r\n\r\nabcdefghijkl"), std::string::npos);
}

TEST_F(fixture, chunked_request_becomes_a_length_delimited_request_at_the_target) {
  client("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  ASSERT_TRUE(amqp.requests[1].complete);
  const auto http_bytes = amqp.http_of(1);
  EXPECT_NE(http_bytes.find("content-length: 3\r\n\r\nabc"), std::string::npos) << http_bytes;
  EXPECT_EQ(http_bytes.find("transfer-encoding"), std::string::npos);
}

TEST_F(fixture, pipelining_limit_pauses_reading) {
  options.max_pipelined_requests = 2;
  make();
  client("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nGET /3 HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(amqp.order.size(), 2u);
  EXPECT_FALSE(conn->wants_input());
  conn->on_response(1, response_message(1, 200, "a"), true);
  EXPECT_EQ(amqp.order.size(), 3u) << "held input resumes when a slot frees";
}

TEST_F(fixture, connection_close_request_closes_after_its_response) {
  client("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\n\r\n");
  EXPECT_EQ(amqp.order.size(), 1u);
  conn->on_response(1, response_message(1, 200, "bye"), true);
  const auto out = take_output();
  EXPECT_NE(out.find("connection: close"), std::string::npos);
  EXPECT_TRUE(conn->should_close());
}

TEST_F(fixture, http10_client_gets_a_closing_response) {
  client("GET / HTTP/1.0\r\n\r\n");
  conn->on_response(1, response_message(1, 200, "old"), true);
  const auto out = take_output();
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(out.find("connection: close"), std::string::npos);
  EXPECT_TRUE(conn->should_close());
}

TEST_F(fixture, client_eof_mid_body_aborts_the_request) {
  client("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\npartial");
  conn->on_client_eof();
  EXPECT_EQ(amqp.aborted.count(1), 1u);
  EXPECT_TRUE(conn->should_close());
}

TEST_F(fixture, client_half_close_still_gets_its_response) {
  client("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  conn->on_client_eof();
  EXPECT_FALSE(conn->should_close());
  conn->on_response(1, response_message(1, 200, "ok"), true);
  EXPECT_NE(take_output().find("ok"), std::string::npos);
  EXPECT_TRUE(conn->should_close());
}

TEST_F(fixture, unmappable_response_gets_502) {
  client("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  byte_buffer bad;
  properties_fields p;
  const message_id cid = message_id::from_ulong(1);
  p.correlation_id = &cid;
  p.subject = "not-a-status";
  append_properties(bad, p);
  append_value_null(bad);
  conn->on_response(4, bad, true);
  EXPECT_EQ(take_output().rfind("HTTP/1.1 502 Bad Gateway\r\n", 0), 0u);
  EXPECT_EQ(amqp.settled.at(4), delivery_outcome::rejected);
}

TEST_F(fixture, upgrade_waits_for_earlier_responses_then_tunnels) {
  client("GET /first HTTP/1.1\r\nHost: h\r\n\r\n"
         "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nEARLY");
  ASSERT_EQ(amqp.order.size(), 1u) << "the upgrade request is not an HTTP message";
  EXPECT_FALSE(amqp.tunnel_begun);
  conn->on_response(1, response_message(1, 200, "first"), true);
  ASSERT_TRUE(amqp.tunnel_begun);
  EXPECT_EQ(amqp.tunnel,
            "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nEARLY");
  EXPECT_TRUE(conn->tunneling());
  client("\x81\x02hi");
  EXPECT_EQ(amqp.tunnel.substr(amqp.tunnel.size() - 4), "\x81\x02hi");
  take_output();
  conn->on_tunnel_data(as_bytes("HTTP/1.1 101 Switching Protocols\r\n\r\n"));
  EXPECT_EQ(take_output(), "HTTP/1.1 101 Switching Protocols\r\n\r\n");
  conn->on_client_eof();
  EXPECT_TRUE(amqp.tunnel_ended);
  EXPECT_FALSE(conn->should_close()) << "the other direction is still open";
  conn->on_tunnel_end();
  EXPECT_TRUE(conn->tunnel_write_closed());
  EXPECT_TRUE(conn->should_close());
}

TEST_F(fixture, lost_amqp_path_fails_pending_requests) {
  client("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n");
  conn->on_amqp_lost();
  EXPECT_EQ(take_output().rfind("HTTP/1.1 502 Bad Gateway\r\n", 0), 0u);
  EXPECT_TRUE(conn->should_close());
}

TEST_F(fixture, destruction_releases_what_is_left) {
  client("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
  conn.reset();
  EXPECT_EQ(amqp.aborted.count(1), 1u);
  EXPECT_TRUE(amqp.closed);
}

}  // namespace
