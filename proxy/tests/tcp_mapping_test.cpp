// TCP stream mapping helpers: the head and data sections read back by Proton and by our
// reader in any split, the `received` state against Proton, and the byte window.
#include "fogmesh/proxy/tcp_mapping.hpp"

#include <gtest/gtest.h>
#include <proton/codec.h>
#include <proton/message.h>

#include <memory>

namespace {

using namespace fogmesh::proxy;

bytes_view as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

byte_buffer client_stream(const std::string& payload) {
  byte_buffer out;
  tcp::append_stream_head(out, {"svc-a", "amqp:/_topo/0/r/temp.7", message_id::from_string("r/42"),
                                tcp::kind_tcp});
  tcp::append_stream_data(out, as_bytes(payload.substr(0, 3)));
  tcp::append_stream_data(out, as_bytes(payload.substr(3)));
  return out;
}

TEST(tcp_mapping, stream_head_as_proton_reads_it) {
  const auto bytes = client_stream("hello world");
  std::unique_ptr<pn_message_t, decltype(&pn_message_free)> m(pn_message(), pn_message_free);
  ASSERT_EQ(pn_message_decode(m.get(), reinterpret_cast<const char*>(bytes.data()), bytes.size()), 0);
  EXPECT_STREQ(pn_message_get_address(m.get()), "svc-a");
  EXPECT_STREQ(pn_message_get_reply_to(m.get()), "amqp:/_topo/0/r/temp.7");
  EXPECT_STREQ(pn_message_get_content_type(m.get()), "application/octet-stream");
  const pn_atom_t cid = pn_message_get_correlation_id(m.get());
  ASSERT_EQ(cid.type, PN_STRING);
  EXPECT_EQ(std::string(cid.u.as_bytes.start, cid.u.as_bytes.size), "r/42");
}

TEST(tcp_mapping, stream_reader_in_any_split) {
  const std::string payload = "GET / HTTP/1.1\r\n\r\n\x00\x01binary";
  const auto bytes = client_stream(payload);
  for (std::size_t piece : {std::size_t{1}, std::size_t{5}, bytes.size()}) {
    tcp::stream_reader r;
    std::string out;
    for (std::size_t i = 0; i < bytes.size(); i += piece) {
      const std::size_t n = std::min(piece, bytes.size() - i);
      ASSERT_TRUE(r.feed(bytes_view(bytes).subspan(i, n), i + n == bytes.size(), out));
    }
    EXPECT_EQ(out, payload);
    EXPECT_EQ(r.kind(), tcp::kind_tcp);
    EXPECT_EQ(r.reply_to(), "amqp:/_topo/0/r/temp.7");
    EXPECT_EQ(r.stream_id(), message_id::from_string("r/42"));
  }
}

TEST(tcp_mapping, stream_reader_refuses_other_messages) {
  byte_buffer http_like;
  properties_fields p;
  p.subject = "GET";
  append_properties(http_like, p);
  append_value_null(http_like);
  tcp::stream_reader r;
  std::string out;
  EXPECT_EQ(r.feed(http_like, true, out).error(), make_error_code(stream_errc::unsupported_body));
}

TEST(tcp_mapping, received_state_matches_proton) {
  byte_buffer state;
  tcp::append_received_state(state, 5'000'000'000ull);
  std::unique_ptr<pn_data_t, decltype(&pn_data_free)> d(pn_data(4), pn_data_free);
  ASSERT_GT(pn_data_decode(d.get(), reinterpret_cast<const char*>(state.data()), state.size()), 0);
  pn_data_rewind(d.get());
  ASSERT_TRUE(pn_data_next(d.get()));
  ASSERT_EQ(pn_data_type(d.get()), PN_DESCRIBED);
  pn_data_enter(d.get());
  pn_data_next(d.get());
  EXPECT_EQ(pn_data_get_ulong(d.get()), 0x23u);
  pn_data_next(d.get());
  ASSERT_EQ(pn_data_type(d.get()), PN_LIST);
  pn_data_enter(d.get());
  pn_data_next(d.get());
  EXPECT_EQ(pn_data_get_uint(d.get()), 0u);
  pn_data_next(d.get());
  EXPECT_EQ(pn_data_get_ulong(d.get()), 5'000'000'000ull);
  EXPECT_EQ(*tcp::decode_received_state(state), 5'000'000'000ull);

  byte_buffer accepted = {0x00, 0x53, 0x24, 0x45};
  EXPECT_FALSE(tcp::decode_received_state(accepted));
}

TEST(tcp_mapping, byte_window_stops_and_resumes_the_sender) {
  tcp::byte_window_sender sender(100);
  tcp::byte_window_receiver receiver(100);
  EXPECT_EQ(sender.available(), 100u);
  sender.sent(100);
  EXPECT_EQ(sender.available(), 0u) << "a slow reader stops the writer";
  EXPECT_FALSE(receiver.written(49));
  const auto ack = receiver.written(1);
  ASSERT_TRUE(ack);
  EXPECT_EQ(*ack, 50u);
  sender.acknowledged(*ack);
  EXPECT_EQ(sender.available(), 50u);
  sender.acknowledged(10);   // stale
  sender.acknowledged(500);  // beyond what was sent
  EXPECT_EQ(sender.unacknowledged(), 50u);
}

}  // namespace
