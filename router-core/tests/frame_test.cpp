// Framing tests, including a full exchange with a Proton C transport: Proton's frames parsed by
// us, and our frames driving Proton's connection/session/link state machines.
#include "amqp/frame.hpp"

#include <gtest/gtest.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/link.h>
#include <proton/message.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <proton/transport.h>

#include <algorithm>
#include <string>

#include "amqp/message.hpp"

namespace {

using namespace fogmesh::router::amqp;
namespace amqp = fogmesh::router::amqp;

byte_buffer frame_bytes(std::uint32_t size, std::uint8_t doff, std::uint8_t type,
                        std::uint16_t channel, std::size_t total) {
  byte_buffer b(std::max<std::size_t>(total, 8), 0);
  b[0] = static_cast<std::uint8_t>(size >> 24);
  b[1] = static_cast<std::uint8_t>(size >> 16);
  b[2] = static_cast<std::uint8_t>(size >> 8);
  b[3] = static_cast<std::uint8_t>(size);
  b[4] = doff;
  b[5] = type;
  b[6] = static_cast<std::uint8_t>(channel >> 8);
  b[7] = static_cast<std::uint8_t>(channel);
  b.resize(total);
  return b;
}

TEST(frame_protocol_header, ids_partial_and_bad) {
  auto amqp_id = parse_protocol_header(amqp_protocol_header);
  ASSERT_TRUE(amqp_id);
  EXPECT_EQ(*amqp_id, protocol_id::amqp);
  EXPECT_EQ(**parse_protocol_header(sasl_protocol_header), protocol_id::sasl);
  EXPECT_EQ(**parse_protocol_header(tls_protocol_header), protocol_id::tls);
  for (std::size_t n = 0; n < 8; ++n) {
    auto r = parse_protocol_header(bytes_view(sasl_protocol_header).first(n));
    ASSERT_TRUE(r) << n;
    EXPECT_FALSE(*r) << n;
  }
  const byte_buffer http{'G', 'E', 'T', ' '};
  EXPECT_EQ(parse_protocol_header(http).error(), frame_errc::bad_protocol_header);
  const byte_buffer bad_id{'A', 'M', 'Q', 'P', 1, 1, 0, 0};
  EXPECT_EQ(parse_protocol_header(bad_id).error(), frame_errc::bad_protocol_header);
  const byte_buffer bad_version{'A', 'M', 'Q', 'P', 0, 0, 9, 10};
  EXPECT_EQ(parse_protocol_header(bad_version).error(), frame_errc::bad_protocol_header);
  // Extra bytes after the header do not matter.
  byte_buffer with_frame(amqp_protocol_header.begin(), amqp_protocol_header.end());
  append_heartbeat(with_frame);
  EXPECT_EQ(**parse_protocol_header(with_frame), protocol_id::amqp);
}

TEST(frame_parse, header_validation) {
  EXPECT_EQ(parse_frame(frame_bytes(7, 2, 0, 0, 8), 1024).error(), frame_errc::frame_too_small);
  EXPECT_EQ(parse_frame(frame_bytes(0, 2, 0, 0, 4), 1024).error(), frame_errc::frame_too_small);
  EXPECT_EQ(parse_frame(frame_bytes(8, 1, 0, 0, 8), 1024).error(), frame_errc::frame_too_small);
  EXPECT_EQ(parse_frame(frame_bytes(8, 0, 0, 0, 8), 1024).error(), frame_errc::frame_too_small);
  EXPECT_EQ(parse_frame(frame_bytes(12, 4, 0, 0, 12), 1024).error(),
            frame_errc::frame_too_small);  // doff*4 = 16 > 12
  EXPECT_EQ(parse_frame(frame_bytes(2000, 2, 0, 0, 8), 1024).error(), frame_errc::frame_too_large);
  // Size is checked as soon as 4 bytes are there, before the rest arrives.
  EXPECT_EQ(parse_frame(frame_bytes(0xffffffff, 2, 0, 0, 4), 65536).error(),
            frame_errc::frame_too_large);
  EXPECT_EQ(parse_frame(frame_bytes(8, 2, 7, 0, 8), 1024).error(), frame_errc::unknown_frame_type);
  EXPECT_EQ(peek_frame_size(frame_bytes(0x01020304, 2, 0, 0, 4)), 0x01020304u);
  EXPECT_FALSE(peek_frame_size(byte_buffer{0, 0, 1}));
  std::error_code ec = frame_errc::frame_too_large;
  EXPECT_EQ(&ec.category(), &frame_category());
  EXPECT_FALSE(ec.message().empty());
}

TEST(frame_parse, heartbeat_partial_and_extended_header) {
  byte_buffer hb;
  append_heartbeat(hb);
  EXPECT_EQ(hb, (byte_buffer{0, 0, 0, 8, 2, 0, 0, 0}));
  auto f = parse_frame(hb, 512);
  ASSERT_TRUE(f);
  ASSERT_TRUE(*f);
  EXPECT_EQ((*f)->size, 8u);
  EXPECT_TRUE((*f)->body.empty());
  EXPECT_FALSE(decode_amqp_frame(**f));  // no performative in a heartbeat

  for (std::size_t n = 0; n < hb.size(); ++n) {
    auto p = parse_frame(bytes_view(hb).first(n), 512);
    ASSERT_TRUE(p) << n;
    EXPECT_FALSE(*p) << n;
  }

  // doff = 4: 8 bytes of extended header are skipped.
  byte_buffer body;
  encoder e(body);
  encode(e, amqp::end{});
  byte_buffer ext = frame_bytes(static_cast<std::uint32_t>(16 + body.size()), 4, 0, 5, 16);
  for (std::size_t i = 8; i < 16; ++i) ext[i] = 0xee;
  ext.insert(ext.end(), body.begin(), body.end());
  ext.push_back(0x99);  // the next frame's first byte
  auto fx = parse_frame(ext, 512);
  ASSERT_TRUE(fx);
  ASSERT_TRUE(*fx);
  EXPECT_EQ((*fx)->channel, 5);
  EXPECT_EQ((*fx)->size, 16 + body.size());
  EXPECT_EQ((*fx)->body.size(), body.size());
  auto decoded = decode_amqp_frame(**fx);
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(std::holds_alternative<amqp::end>(decoded->body));
  EXPECT_TRUE(decoded->payload.empty());
}

TEST(frame_parse, append_frame_transfer_with_payload_and_every_truncation) {
  static const std::uint8_t tag[] = {'t', '1'};
  transfer t;
  t.handle = 2;
  t.delivery_id = 77;
  t.delivery_tag = bytes_view(tag);
  t.message_format = 0;
  t.settled = false;
  static const std::uint8_t payload[] = {0x00, 0x53, 0x77, 0xa1, 0x05, 'h', 'e', 'l', 'l', 'o'};
  byte_buffer out{0xaa};  // frames are appended after existing bytes
  const std::size_t n = append_frame(out, 0x1234, t, payload);
  EXPECT_EQ(n, out.size() - 1);
  bytes_view frame = bytes_view(out).subspan(1);
  auto f = parse_frame(frame, 512);
  ASSERT_TRUE(f && *f);
  EXPECT_EQ((*f)->channel, 0x1234);
  EXPECT_EQ((*f)->type, frame_type_amqp);
  auto d = decode_amqp_frame(**f);
  ASSERT_TRUE(d);
  const auto& got = std::get<transfer>(d->body);
  EXPECT_EQ(got.handle, 2u);
  EXPECT_EQ(got.delivery_id, 77u);
  ASSERT_EQ(d->payload.size(), sizeof(payload));
  EXPECT_TRUE(std::equal(d->payload.begin(), d->payload.end(), payload));
  EXPECT_FALSE(decode_sasl_body(**f));  // wrong frame type

  // Every truncation of the frame is "need more bytes"; every truncation of the body with the
  // header patched to match is a decode error, never a crash.
  for (std::size_t cut = 0; cut < frame.size(); ++cut) {
    auto p = parse_frame(frame.first(cut), 512);
    ASSERT_TRUE(p) << cut;
    EXPECT_FALSE(*p) << cut;
  }
  const std::size_t perf_size = frame.size() - 8 - sizeof(payload);
  for (std::size_t cut = 8; cut < 8 + perf_size; ++cut) {
    byte_buffer b(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(cut));
    write_frame_header(b.data(), static_cast<std::uint32_t>(cut), frame_type_amqp, 0);
    auto p = parse_frame(b, 512);
    ASSERT_TRUE(p && *p) << cut;
    EXPECT_FALSE(decode_amqp_frame(**p)) << cut;
  }
}

TEST(frame_parse, sasl_frames) {
  sasl_mechanisms m;
  m.mechanisms = {"ANONYMOUS"};
  byte_buffer out;
  append_frame(out, 0, m, {}, frame_type_sasl);
  auto f = parse_frame(out, 512);
  ASSERT_TRUE(f && *f);
  EXPECT_EQ((*f)->type, frame_type_sasl);
  auto s = decode_sasl_body(**f);
  ASSERT_TRUE(s);
  EXPECT_EQ(std::get<sasl_mechanisms>(*s).mechanisms, m.mechanisms);
  EXPECT_FALSE(decode_amqp_frame(**f));
  frame_view empty{8, frame_type_sasl, 0, {}};
  EXPECT_FALSE(decode_sasl_body(empty));
}

// ---------------------------------------------------------------------------------------------
// Interop with a Proton C transport.

struct proton_peer {
  pn_connection_t* conn = pn_connection();
  pn_transport_t* transport = pn_transport();
  proton_peer() { pn_transport_bind(transport, conn); }
  ~proton_peer() {
    pn_transport_unbind(transport);
    pn_transport_free(transport);
    pn_connection_free(conn);
  }
  byte_buffer take_output() {
    byte_buffer out;
    for (;;) {
      const ssize_t n = pn_transport_pending(transport);
      if (n <= 0) break;
      const char* head = pn_transport_head(transport);
      out.insert(out.end(), head, head + n);
      pn_transport_pop(transport, static_cast<size_t>(n));
    }
    return out;
  }
  void push(const byte_buffer& bytes) {
    std::size_t pos = 0;
    while (pos < bytes.size()) {
      const ssize_t n = pn_transport_push(
          transport, reinterpret_cast<const char*>(bytes.data()) + pos, bytes.size() - pos);
      ASSERT_GT(n, 0);
      pos += static_cast<std::size_t>(n);
    }
  }
  std::string error() {
    pn_condition_t* c = pn_transport_condition(transport);
    if (!pn_condition_is_set(c)) return {};
    return std::string(pn_condition_get_name(c)) + ": " + pn_condition_get_description(c);
  }
};

// Splits a byte stream after the protocol header into decoded AMQP frames.
std::vector<amqp_frame> parse_stream(bytes_view bytes, std::size_t* consumed = nullptr) {
  std::vector<amqp_frame> frames;
  std::size_t pos = 0;
  for (;;) {
    auto f = parse_frame(bytes.subspan(pos), 1 << 20);
    EXPECT_TRUE(f);
    if (!f || !*f) break;
    pos += (*f)->size;
    if ((*f)->body.empty()) continue;
    auto d = decode_amqp_frame(**f);
    EXPECT_TRUE(d) << d.error().message();
    if (d) frames.push_back(std::move(*d));
  }
  if (consumed) *consumed = pos;
  return frames;
}

TEST(frame_interop, proton_frames_parse_and_our_frames_drive_proton) {
  proton_peer peer;
  pn_connection_set_container(peer.conn, "proton-container");
  pn_connection_set_hostname(peer.conn, "router.example");
  pn_connection_open(peer.conn);
  pn_session_t* ssn = pn_session(peer.conn);
  pn_session_open(ssn);
  pn_link_t* snd = pn_sender(ssn, "sender-link");
  pn_terminus_set_address(pn_link_target(snd), "queue/in");
  pn_link_open(snd);

  // Proton → us: header, open, begin, attach.
  auto out = peer.take_output();
  ASSERT_GE(out.size(), 8u);
  EXPECT_EQ(**parse_protocol_header(out), protocol_id::amqp);
  std::size_t consumed = 0;
  auto frames = parse_stream(bytes_view(out).subspan(8), &consumed);
  EXPECT_EQ(consumed, out.size() - 8);
  ASSERT_EQ(frames.size(), 3u);
  const auto& o = std::get<amqp::open>(frames[0].body);
  EXPECT_EQ(o.container_id, "proton-container");
  EXPECT_EQ(o.hostname, "router.example");
  const auto& b = std::get<amqp::begin>(frames[1].body);
  EXPECT_FALSE(b.remote_channel);
  const auto& a = std::get<attach>(frames[2].body);
  EXPECT_EQ(a.name, "sender-link");
  EXPECT_EQ(a.role, role::sender);
  ASSERT_TRUE(a.target);
  EXPECT_EQ(a.target->address, "queue/in");

  // Us → Proton: header, open, begin, attach (receiver), flow granting credit.
  byte_buffer ours(amqp_protocol_header.begin(), amqp_protocol_header.end());
  amqp::open ro;
  ro.container_id = "fogmesh-router";
  ro.max_frame_size = 65536;
  ro.channel_max = 100;
  ro.idle_timeout_ms = 60000;
  ro.offered_capabilities = {"ANONYMOUS-RELAY"};
  append_frame(ours, 0, ro);
  amqp::begin rb;
  rb.remote_channel = 0;
  rb.next_outgoing_id = 0;
  rb.incoming_window = 1000;
  rb.outgoing_window = 1000;
  append_frame(ours, 0, rb);
  attach ra;
  ra.name = "sender-link";
  ra.handle = 0;
  ra.role = role::receiver;
  ra.source = a.source;
  ra.target = a.target;
  append_frame(ours, 0, ra);
  flow rf;
  rf.next_incoming_id = 0;
  rf.incoming_window = 1000;
  rf.next_outgoing_id = 0;
  rf.outgoing_window = 1000;
  rf.handle = 0;
  rf.delivery_count = 0;
  rf.link_credit = 10;
  append_frame(ours, 0, rf);
  append_heartbeat(ours);
  peer.push(ours);
  EXPECT_EQ(peer.error(), "");
  EXPECT_TRUE(pn_connection_state(peer.conn) & PN_REMOTE_ACTIVE);
  EXPECT_STREQ(pn_connection_remote_container(peer.conn), "fogmesh-router");
  EXPECT_TRUE(pn_link_state(snd) & PN_REMOTE_ACTIVE);
  EXPECT_EQ(pn_link_credit(snd), 10);

  // Proton sends a message: the transfer and payload decode, and the payload scans.
  pn_message_t* msg = pn_message();
  pn_message_set_address(msg, "queue/in");
  pn_message_set_reply_to(msg, "reply/here");
  pn_message_set_priority(msg, 9);
  pn_data_put_string(pn_message_body(msg), pn_bytes(5, "hello"));
  char encoded[1024];
  size_t encoded_size = sizeof(encoded);
  ASSERT_EQ(pn_message_encode(msg, encoded, &encoded_size), 0);
  pn_message_free(msg);
  pn_delivery_t* dlv = pn_delivery(snd, pn_dtag("tag-1", 5));
  ASSERT_EQ(pn_link_send(snd, encoded, encoded_size), static_cast<ssize_t>(encoded_size));
  pn_link_advance(snd);
  out = peer.take_output();
  frames = parse_stream(out);
  const transfer* t = nullptr;
  bytes_view payload;
  for (const auto& f : frames) {
    if (auto* p = std::get_if<transfer>(&f.body)) {
      t = p;
      payload = f.payload;
    }
  }
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->handle, 0u);
  EXPECT_EQ(t->delivery_id, 0u);
  ASSERT_TRUE(t->delivery_tag);
  EXPECT_EQ(std::string(t->delivery_tag->begin(), t->delivery_tag->end()), "tag-1");
  ASSERT_EQ(payload.size(), encoded_size);
  auto scan = scan_message(payload, true);
  ASSERT_TRUE(scan);
  EXPECT_TRUE(scan->routing_complete);
  EXPECT_EQ(scan->to, "queue/in");
  EXPECT_EQ(scan->reply_to, "reply/here");
  EXPECT_EQ(scan->priority, 9);

  // Us → Proton: settle it with a disposition, then detach/end/close with errors.
  byte_buffer closing;
  disposition disp;
  disp.role = role::receiver;
  disp.first = 0;
  disp.settled = true;
  disp.state.type = delivery_state::kind::accepted;
  append_frame(closing, 0, disp);
  detach dt;
  dt.handle = 0;
  dt.closed = true;
  append_frame(closing, 0, dt);
  amqp::end en;
  append_frame(closing, 0, en);
  amqp::close cl;
  cl.err = error{"amqp:connection:forced", "test over", {}};
  append_frame(closing, 0, cl);
  peer.push(closing);
  EXPECT_EQ(peer.error(), "");
  EXPECT_EQ(pn_delivery_remote_state(dlv), PN_ACCEPTED);
  EXPECT_TRUE(pn_delivery_settled(dlv));
  EXPECT_TRUE(pn_link_state(snd) & PN_REMOTE_CLOSED);
  EXPECT_TRUE(pn_connection_state(peer.conn) & PN_REMOTE_CLOSED);
  pn_condition_t* rc = pn_connection_remote_condition(peer.conn);
  EXPECT_STREQ(pn_condition_get_name(rc), "amqp:connection:forced");
  EXPECT_STREQ(pn_condition_get_description(rc), "test over");
}

}  // namespace
