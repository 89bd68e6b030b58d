// Performative and SASL frame tests: ours -> ours, Proton-built -> ours, ours -> Proton.
#include "amqp/performatives.hpp"

#include <gtest/gtest.h>
#include <proton/codec.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

// Counts heap allocations so the hot decoders can be checked to allocate nothing.
namespace {
std::atomic<std::size_t> allocations{0};
}  // namespace
// noinline: once inlined, g++ sees free() on a pointer from operator new and warns
// (-Wmismatched-new-delete) although the pair is consistent.
[[gnu::noinline]] void* operator new(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

using namespace fogmesh::router::amqp;
namespace amqp = fogmesh::router::amqp;

struct data_deleter {
  void operator()(pn_data_t* d) const { pn_data_free(d); }
};
using pn_data_ptr = std::unique_ptr<pn_data_t, data_deleter>;
pn_data_ptr make_data() {
  return pn_data_ptr(pn_data(16));
}
pn_bytes_t pb(std::string_view s) {
  return pn_bytes(s.size(), s.data());
}

byte_buffer proton_encode(pn_data_t* d) {
  byte_buffer out(1 << 16);
  const ssize_t n = pn_data_encode(d, reinterpret_cast<char*>(out.data()), out.size());
  EXPECT_GE(n, 0);
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

// Short text form of the Proton value at the cursor, recursing into compounds.
std::string repr(pn_data_t* d) {
  auto text = [](pn_bytes_t b) { return std::string(b.start, b.size); };
  switch (pn_data_type(d)) {
    case PN_NULL:
      return "null";
    case PN_BOOL:
      return pn_data_get_bool(d) ? "true" : "false";
    case PN_UBYTE:
      return "ubyte:" + std::to_string(pn_data_get_ubyte(d));
    case PN_USHORT:
      return "ushort:" + std::to_string(pn_data_get_ushort(d));
    case PN_UINT:
      return "uint:" + std::to_string(pn_data_get_uint(d));
    case PN_ULONG:
      return "ulong:" + std::to_string(pn_data_get_ulong(d));
    case PN_INT:
      return "int:" + std::to_string(pn_data_get_int(d));
    case PN_STRING:
      return "str:" + text(pn_data_get_string(d));
    case PN_SYMBOL:
      return "sym:" + text(pn_data_get_symbol(d));
    case PN_BINARY:
      return "bin:" + text(pn_data_get_binary(d));
    case PN_DESCRIBED: {
      pn_data_enter(d);
      pn_data_next(d);
      std::string s = "described(" + repr(d) + ")";
      pn_data_next(d);
      s += repr(d);
      pn_data_exit(d);
      return s;
    }
    case PN_LIST:
    case PN_MAP:
    case PN_ARRAY: {
      const auto type = pn_data_type(d);
      std::string s = type == PN_LIST ? "[" : type == PN_MAP ? "{" : "array[";
      pn_data_enter(d);
      bool first = true;
      while (pn_data_next(d)) {
        if (!first) s += ",";
        first = false;
        s += repr(d);
      }
      pn_data_exit(d);
      return s + (type == PN_MAP ? "}" : "]");
    }
    default:
      return "other";
  }
}

// Decodes a described list with Proton: its descriptor and the text of each field.
struct proton_view {
  std::string descriptor;
  std::vector<std::string> fields;
};
proton_view proton_fields(const byte_buffer& bytes) {
  proton_view v;
  auto d = make_data();
  const ssize_t n =
      pn_data_decode(d.get(), reinterpret_cast<const char*>(bytes.data()), bytes.size());
  EXPECT_EQ(n, static_cast<ssize_t>(bytes.size()));
  pn_data_rewind(d.get());
  if (!pn_data_next(d.get()) || pn_data_type(d.get()) != PN_DESCRIBED) {
    ADD_FAILURE() << "not described";
    return v;
  }
  pn_data_enter(d.get());
  pn_data_next(d.get());
  v.descriptor = repr(d.get());
  pn_data_next(d.get());
  EXPECT_EQ(pn_data_type(d.get()), PN_LIST);
  pn_data_enter(d.get());
  while (pn_data_next(d.get())) v.fields.push_back(repr(d.get()));
  return v;
}

// Builds a described list with Proton; fill() puts the fields.
template <class F>
byte_buffer proton_described(std::uint64_t code, F fill) {
  auto d = make_data();
  pn_data_put_described(d.get());
  pn_data_enter(d.get());
  pn_data_put_ulong(d.get(), code);
  pn_data_put_list(d.get());
  pn_data_enter(d.get());
  fill(d.get());
  pn_data_exit(d.get());
  pn_data_exit(d.get());
  return proton_encode(d.get());
}

void put_described_list(pn_data_t* d, std::uint64_t code) {
  pn_data_put_described(d);
  pn_data_enter(d);
  pn_data_put_ulong(d, code);
  pn_data_put_list(d);
  pn_data_enter(d);
}
void exit_described_list(pn_data_t* d) {
  pn_data_exit(d);
  pn_data_exit(d);
}

template <class T>
byte_buffer encode_one(const T& v) {
  byte_buffer buf;
  encoder e(buf);
  encode(e, v);
  return buf;
}

template <class T>
T decode_as(const byte_buffer& bytes) {
  decoder in(bytes);
  auto p = decode_performative(in);
  EXPECT_TRUE(p) << p.error().message();
  if (!p) return T{};
  EXPECT_TRUE(in.at_end());
  EXPECT_TRUE(std::holds_alternative<T>(*p));
  if (!std::holds_alternative<T>(*p)) return T{};
  return std::get<T>(*p);
}

template <class T>
T decode_sasl_as(const byte_buffer& bytes) {
  decoder in(bytes);
  auto p = decode_sasl_frame(in);
  EXPECT_TRUE(p) << p.error().message();
  if (!p) return T{};
  EXPECT_TRUE(std::holds_alternative<T>(*p));
  if (!std::holds_alternative<T>(*p)) return T{};
  return std::get<T>(*p);
}

byte_buffer bytes_of(std::string_view s) {
  return byte_buffer(s.begin(), s.end());
}
std::string str_of(bytes_view b) {
  return std::string(b.begin(), b.end());
}

// Every byte-prefix of a valid encoding must fail without crashing.
void expect_all_truncations_fail(const byte_buffer& full, bool sasl = false) {
  for (std::size_t n = 0; n < full.size(); ++n) {
    byte_buffer cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    decoder in(cut);
    if (sasl) {
      EXPECT_FALSE(decode_sasl_frame(in)) << n;
    } else {
      EXPECT_FALSE(decode_performative(in)) << n;
    }
    EXPECT_EQ(in.position(), 0u);
  }
}

byte_buffer encoded_map(std::string_view key, std::string_view value) {
  byte_buffer b;
  encoder e(b);
  auto m = e.begin_map();
  e.write_symbol(key);
  e.write_string(value);
  e.end_map(m, 2);
  return b;
}

// ---------------------------------------------------------------------------------------------
// open

open full_open() {
  open o;
  o.container_id = "container-1";
  o.hostname = "example.com";
  o.max_frame_size = 65536;
  o.channel_max = 255;
  o.idle_timeout_ms = 30000;
  o.outgoing_locales = {"en-US"};
  o.incoming_locales = {"en-US", "de-DE"};
  o.offered_capabilities = {"ANONYMOUS-RELAY"};
  o.desired_capabilities = {"DELAYED_DELIVERY"};
  o.properties = encoded_map("product", "fogmesh");
  return o;
}

TEST(performatives_open, round_trip_full_and_minimal) {
  const open o = full_open();
  auto bytes = encode_one(o);
  auto got = decode_as<open>(bytes);
  EXPECT_EQ(got.container_id, o.container_id);
  EXPECT_EQ(got.hostname, o.hostname);
  EXPECT_EQ(got.max_frame_size, o.max_frame_size);
  EXPECT_EQ(got.channel_max, o.channel_max);
  EXPECT_EQ(got.idle_timeout_ms, o.idle_timeout_ms);
  EXPECT_EQ(got.outgoing_locales, o.outgoing_locales);
  EXPECT_EQ(got.incoming_locales, o.incoming_locales);
  EXPECT_EQ(got.offered_capabilities, o.offered_capabilities);
  EXPECT_EQ(got.desired_capabilities, o.desired_capabilities);
  EXPECT_EQ(got.properties, o.properties);
  expect_all_truncations_fail(bytes);

  open minimal;
  minimal.container_id = "c";
  auto mb = encode_one(minimal);
  // Trailing defaults are omitted: descriptor + list8 with one field.
  EXPECT_EQ(mb, (byte_buffer{0x00, 0x53, 0x10, 0xc0, 0x04, 0x01, 0xa1, 0x01, 'c'}));
  auto m = decode_as<open>(mb);
  EXPECT_EQ(m.max_frame_size, 0xffffffffu);
  EXPECT_EQ(m.channel_max, 0xffff);
  EXPECT_FALSE(m.idle_timeout_ms);
}

TEST(performatives_open, ours_to_proton) {
  auto v = proton_fields(encode_one(full_open()));
  EXPECT_EQ(v.descriptor, "ulong:16");
  ASSERT_EQ(v.fields.size(), 10u);
  EXPECT_EQ(v.fields[0], "str:container-1");
  EXPECT_EQ(v.fields[1], "str:example.com");
  EXPECT_EQ(v.fields[2], "uint:65536");
  EXPECT_EQ(v.fields[3], "ushort:255");
  EXPECT_EQ(v.fields[4], "uint:30000");
  EXPECT_EQ(v.fields[5], "array[sym:en-US]");
  EXPECT_EQ(v.fields[6], "array[sym:en-US,sym:de-DE]");
  EXPECT_EQ(v.fields[7], "array[sym:ANONYMOUS-RELAY]");
  EXPECT_EQ(v.fields[8], "array[sym:DELAYED_DELIVERY]");
  EXPECT_EQ(v.fields[9], "{sym:product,str:fogmesh}");
}

TEST(performatives_open, proton_to_ours_with_single_symbols_and_nulls) {
  auto bytes = proton_described(0x10, [](pn_data_t* d) {
    pn_data_put_string(d, pb("peer"));
    pn_data_put_null(d);  // hostname
    pn_data_put_uint(d, 4096);
    pn_data_put_null(d);  // channel-max → default
    pn_data_put_uint(d, 0);
    pn_data_put_null(d);
    pn_data_put_null(d);
    pn_data_put_symbol(d, pb("SOLE-CAP"));  // a single symbol for a multiple field
    pn_data_put_array(d, false, PN_SYMBOL);
    pn_data_enter(d);
    pn_data_put_symbol(d, pb("x"));
    pn_data_put_symbol(d, pb("y"));
    pn_data_exit(d);
    pn_data_put_map(d);
    pn_data_put_string(d, pb("extra trailing field"));  // must be ignored
  });
  auto o = decode_as<open>(bytes);
  EXPECT_EQ(o.container_id, "peer");
  EXPECT_EQ(o.hostname, "");
  EXPECT_EQ(o.max_frame_size, 4096u);
  EXPECT_EQ(o.channel_max, 0xffff);
  EXPECT_EQ(o.idle_timeout_ms, 0u);
  EXPECT_EQ(o.offered_capabilities, (std::vector<std::string>{"SOLE-CAP"}));
  EXPECT_EQ(o.desired_capabilities, (std::vector<std::string>{"x", "y"}));
  EXPECT_FALSE(o.properties.empty());
}

TEST(performatives_open, symbolic_descriptor) {
  auto d = make_data();
  pn_data_put_described(d.get());
  pn_data_enter(d.get());
  pn_data_put_symbol(d.get(), pb("amqp:open:list"));
  pn_data_put_list(d.get());
  pn_data_enter(d.get());
  pn_data_put_string(d.get(), pb("sym-peer"));
  pn_data_exit(d.get());
  pn_data_exit(d.get());
  EXPECT_EQ(decode_as<open>(proton_encode(d.get())).container_id, "sym-peer");
}

TEST(performatives_open, missing_container_id) {
  auto empty = proton_described(0x10, [](pn_data_t*) {});
  decoder in(empty);
  EXPECT_EQ(decode_performative(in).error(), codec_errc::missing_field);
  auto null_id = proton_described(0x10, [](pn_data_t* d) { pn_data_put_null(d); });
  decoder in2(null_id);
  EXPECT_EQ(decode_performative(in2).error(), codec_errc::missing_field);
  auto wrong = proton_described(0x10, [](pn_data_t* d) { pn_data_put_uint(d, 1); });
  decoder in3(wrong);
  EXPECT_EQ(decode_performative(in3).error(), codec_errc::unexpected_type);
}

// ---------------------------------------------------------------------------------------------
// begin

TEST(performatives_begin, round_trip_proton_both_ways) {
  begin b;
  b.remote_channel = 7;
  b.next_outgoing_id = 1;
  b.incoming_window = 2048;
  b.outgoing_window = 0xffffffff;
  b.handle_max = 1023;
  b.offered_capabilities = {"a"};
  auto bytes = encode_one(b);
  auto got = decode_as<begin>(bytes);
  EXPECT_EQ(got.remote_channel, 7);
  EXPECT_EQ(got.next_outgoing_id, 1u);
  EXPECT_EQ(got.incoming_window, 2048u);
  EXPECT_EQ(got.outgoing_window, 0xffffffffu);
  EXPECT_EQ(got.handle_max, 1023u);
  EXPECT_EQ(got.offered_capabilities, b.offered_capabilities);
  expect_all_truncations_fail(bytes);

  auto v = proton_fields(bytes);
  EXPECT_EQ(v.descriptor, "ulong:17");
  ASSERT_EQ(v.fields.size(), 6u);
  EXPECT_EQ(v.fields[0], "ushort:7");
  EXPECT_EQ(v.fields[1], "uint:1");
  EXPECT_EQ(v.fields[2], "uint:2048");
  EXPECT_EQ(v.fields[3], "uint:4294967295");
  EXPECT_EQ(v.fields[4], "uint:1023");
  EXPECT_EQ(v.fields[5], "array[sym:a]");

  auto pbytes = proton_described(0x11, [](pn_data_t* d) {
    pn_data_put_null(d);
    pn_data_put_uint(d, 0);
    pn_data_put_uint(d, 100);
    pn_data_put_uint(d, 200);
  });
  auto pb2 = decode_as<begin>(pbytes);
  EXPECT_FALSE(pb2.remote_channel);
  EXPECT_EQ(pb2.incoming_window, 100u);
  EXPECT_EQ(pb2.outgoing_window, 200u);
  EXPECT_EQ(pb2.handle_max, 0xffffffffu);

  auto missing = proton_described(0x11, [](pn_data_t* d) {
    pn_data_put_null(d);
    pn_data_put_uint(d, 0);
    pn_data_put_uint(d, 100);
  });
  decoder in(missing);
  EXPECT_EQ(decode_performative(in).error(), codec_errc::missing_field);
}

// ---------------------------------------------------------------------------------------------
// attach (with source/target)

attach full_attach() {
  attach a;
  a.name = "link-1";
  a.handle = 3;
  a.role = role::receiver;
  a.snd_settle_mode = sender_settle_mode::settled;
  a.rcv_settle_mode = receiver_settle_mode::second;
  terminus s;
  s.address = "queue/a";
  s.durable = 2;
  s.expiry_policy = "never";
  s.timeout = 60;
  s.dynamic = true;
  s.dynamic_node_properties = encoded_map("lifetime-policy", "x");
  s.distribution_mode = "copy";
  s.filter = encoded_map("f", "v");
  {
    encoder e(s.default_outcome);
    delivery_state released;
    released.type = delivery_state::kind::released;
    encode(e, released);
  }
  s.outcomes = {"amqp:accepted:list", "amqp:released:list"};
  s.capabilities = {"queue"};
  a.source = s;
  terminus t;
  t.address = "topic/b";
  t.capabilities = {"topic"};
  a.target = t;
  a.unsettled = encoded_map("k", "v");
  a.incomplete_unsettled = true;
  a.initial_delivery_count = 0;
  a.max_message_size = 1ull << 33;
  a.offered_capabilities = {"o"};
  a.desired_capabilities = {"d"};
  a.properties = encoded_map("p", "q");
  return a;
}

TEST(performatives_attach, round_trip_full) {
  const attach a = full_attach();
  auto bytes = encode_one(a);
  auto got = decode_as<attach>(bytes);
  EXPECT_EQ(got.name, a.name);
  EXPECT_EQ(got.handle, a.handle);
  EXPECT_EQ(got.role, role::receiver);
  EXPECT_EQ(got.snd_settle_mode, sender_settle_mode::settled);
  EXPECT_EQ(got.rcv_settle_mode, receiver_settle_mode::second);
  ASSERT_TRUE(got.source);
  EXPECT_EQ(got.source->address, "queue/a");
  EXPECT_EQ(got.source->durable, 2u);
  EXPECT_EQ(got.source->expiry_policy, "never");
  EXPECT_EQ(got.source->timeout, 60u);
  EXPECT_TRUE(got.source->dynamic);
  EXPECT_EQ(got.source->dynamic_node_properties, a.source->dynamic_node_properties);
  EXPECT_EQ(got.source->distribution_mode, "copy");
  EXPECT_EQ(got.source->filter, a.source->filter);
  EXPECT_EQ(got.source->default_outcome, a.source->default_outcome);
  EXPECT_EQ(got.source->outcomes, a.source->outcomes);
  EXPECT_EQ(got.source->capabilities, a.source->capabilities);
  ASSERT_TRUE(got.target);
  EXPECT_EQ(got.target->address, "topic/b");
  EXPECT_EQ(got.target->expiry_policy, "session-end");
  EXPECT_EQ(got.target->capabilities, (std::vector<std::string>{"topic"}));
  EXPECT_EQ(got.unsettled, a.unsettled);
  EXPECT_TRUE(got.incomplete_unsettled);
  EXPECT_EQ(got.initial_delivery_count, 0u);
  EXPECT_EQ(got.max_message_size, 1ull << 33);
  EXPECT_EQ(got.offered_capabilities, a.offered_capabilities);
  EXPECT_EQ(got.desired_capabilities, a.desired_capabilities);
  EXPECT_EQ(got.properties, a.properties);
  expect_all_truncations_fail(bytes);
}

TEST(performatives_attach, ours_to_proton) {
  auto v = proton_fields(encode_one(full_attach()));
  EXPECT_EQ(v.descriptor, "ulong:18");
  ASSERT_EQ(v.fields.size(), 14u);
  EXPECT_EQ(v.fields[0], "str:link-1");
  EXPECT_EQ(v.fields[1], "uint:3");
  EXPECT_EQ(v.fields[2], "true");
  EXPECT_EQ(v.fields[3], "ubyte:1");
  EXPECT_EQ(v.fields[4], "ubyte:1");
  EXPECT_EQ(v.fields[5],
            "described(ulong:40)[str:queue/a,uint:2,sym:never,uint:60,true,"
            "{sym:lifetime-policy,str:x},sym:copy,{sym:f,str:v},described(ulong:38)[],"
            "array[sym:amqp:accepted:list,sym:amqp:released:list],array[sym:queue]]");
  EXPECT_EQ(v.fields[6],
            "described(ulong:41)[str:topic/b,null,null,null,null,null,array[sym:topic]]");
  EXPECT_EQ(v.fields[7], "{sym:k,str:v}");
  EXPECT_EQ(v.fields[8], "true");
  EXPECT_EQ(v.fields[9], "uint:0");
  EXPECT_EQ(v.fields[10], "ulong:8589934592");
  EXPECT_EQ(v.fields[13], "{sym:p,str:q}");
}

TEST(performatives_attach, proton_to_ours_defaults_and_symbol_address) {
  auto bytes = proton_described(0x12, [](pn_data_t* d) {
    pn_data_put_string(d, pb("sender-link"));
    pn_data_put_uint(d, 0);
    pn_data_put_bool(d, false);
    pn_data_put_null(d);
    pn_data_put_null(d);
    put_described_list(d, 0x28);
    pn_data_put_symbol(d, pb("sym-address"));  // address as a symbol, tolerated
    exit_described_list(d);
    put_described_list(d, 0x29);
    exit_described_list(d);
  });
  auto a = decode_as<attach>(bytes);
  EXPECT_EQ(a.name, "sender-link");
  EXPECT_EQ(a.role, role::sender);
  EXPECT_EQ(a.snd_settle_mode, sender_settle_mode::mixed);
  EXPECT_EQ(a.rcv_settle_mode, receiver_settle_mode::first);
  ASSERT_TRUE(a.source);
  EXPECT_EQ(a.source->address, "sym-address");
  ASSERT_TRUE(a.target);
  EXPECT_FALSE(a.target->address);
  EXPECT_FALSE(a.initial_delivery_count);

  auto no_role = proton_described(0x12, [](pn_data_t* d) {
    pn_data_put_string(d, pb("l"));
    pn_data_put_uint(d, 0);
  });
  decoder in(no_role);
  EXPECT_EQ(decode_performative(in).error(), codec_errc::missing_field);

  auto bad_mode = proton_described(0x12, [](pn_data_t* d) {
    pn_data_put_string(d, pb("l"));
    pn_data_put_uint(d, 0);
    pn_data_put_bool(d, true);
    pn_data_put_ubyte(d, 3);
  });
  decoder in2(bad_mode);
  EXPECT_EQ(decode_performative(in2).error(), codec_errc::invalid_value);

  // A target where a source belongs.
  auto swapped = proton_described(0x12, [](pn_data_t* d) {
    pn_data_put_string(d, pb("l"));
    pn_data_put_uint(d, 0);
    pn_data_put_bool(d, true);
    pn_data_put_null(d);
    pn_data_put_null(d);
    put_described_list(d, 0x29);
    exit_described_list(d);
  });
  decoder in3(swapped);
  EXPECT_EQ(decode_performative(in3).error(), codec_errc::invalid_descriptor);
}

// ---------------------------------------------------------------------------------------------
// flow

TEST(performatives_flow, round_trip_proton_both_ways_no_alloc) {
  flow f;
  f.next_incoming_id = 10;
  f.incoming_window = 2048;
  f.next_outgoing_id = 1;
  f.outgoing_window = 2048;
  f.handle = 0;
  f.delivery_count = 5;
  f.link_credit = 300;
  f.available = 0;
  f.drain = true;
  f.echo = true;
  auto props = encoded_map("k", "v");
  f.properties = props;
  auto bytes = encode_one(f);

  const std::size_t before = allocations.load();
  decoder in(bytes);
  auto p = decode_performative(in);
  EXPECT_EQ(allocations.load(), before);
  ASSERT_TRUE(p);
  const auto& got = std::get<flow>(*p);
  EXPECT_EQ(got.next_incoming_id, 10u);
  EXPECT_EQ(got.incoming_window, 2048u);
  EXPECT_EQ(got.next_outgoing_id, 1u);
  EXPECT_EQ(got.outgoing_window, 2048u);
  EXPECT_EQ(got.handle, 0u);
  EXPECT_EQ(got.delivery_count, 5u);
  EXPECT_EQ(got.link_credit, 300u);
  EXPECT_EQ(got.available, 0u);
  EXPECT_TRUE(got.drain);
  EXPECT_TRUE(got.echo);
  EXPECT_EQ(str_of(got.properties), str_of(props));
  expect_all_truncations_fail(bytes);

  auto v = proton_fields(bytes);
  EXPECT_EQ(v.descriptor, "ulong:19");
  ASSERT_EQ(v.fields.size(), 11u);
  EXPECT_EQ(v.fields[0], "uint:10");
  EXPECT_EQ(v.fields[6], "uint:300");
  EXPECT_EQ(v.fields[8], "true");
  EXPECT_EQ(v.fields[10], "{sym:k,str:v}");

  // Session-level flow: no handle, trailing fields omitted.
  flow s;
  s.incoming_window = 1;
  s.next_outgoing_id = 2;
  s.outgoing_window = 3;
  auto sv = proton_fields(encode_one(s));
  EXPECT_EQ(sv.fields, (std::vector<std::string>{"null", "uint:1", "uint:2", "uint:3"}));

  auto pbytes = proton_described(0x13, [](pn_data_t* d) {
    pn_data_put_uint(d, 1);
    pn_data_put_uint(d, 100);
    pn_data_put_uint(d, 7);
    pn_data_put_uint(d, 100);
    pn_data_put_uint(d, 2);
    pn_data_put_uint(d, 9);
    pn_data_put_uint(d, 50);
    pn_data_put_null(d);
    pn_data_put_bool(d, false);
  });
  auto pf = decode_as<flow>(pbytes);
  EXPECT_EQ(pf.handle, 2u);
  EXPECT_EQ(pf.link_credit, 50u);
  EXPECT_FALSE(pf.available);
  EXPECT_FALSE(pf.drain);
}

// ---------------------------------------------------------------------------------------------
// transfer

TEST(performatives_transfer, round_trip_minimal_and_full_no_alloc) {
  static const std::uint8_t tag[] = {0xde, 0xad, 0xbe, 0xef};
  transfer t;
  t.handle = 1;
  t.delivery_id = 1000;
  t.delivery_tag = bytes_view(tag);
  t.message_format = 0;
  t.settled = true;
  t.more = true;
  t.rcv_settle_mode = receiver_settle_mode::second;
  t.state.type = delivery_state::kind::accepted;
  t.resume = true;
  t.aborted = true;
  t.batchable = true;
  auto bytes = encode_one(t);
  const std::size_t before = allocations.load();
  decoder in(bytes);
  auto p = decode_performative(in);
  EXPECT_EQ(allocations.load(), before);
  ASSERT_TRUE(p);
  const auto& got = std::get<transfer>(*p);
  EXPECT_EQ(got.handle, 1u);
  EXPECT_EQ(got.delivery_id, 1000u);
  ASSERT_TRUE(got.delivery_tag);
  EXPECT_EQ(str_of(*got.delivery_tag), str_of(tag));
  EXPECT_GE(got.delivery_tag->data(), bytes.data());  // a view, not a copy
  EXPECT_EQ(got.message_format, 0u);
  EXPECT_EQ(got.settled, true);
  EXPECT_TRUE(got.more);
  EXPECT_EQ(got.rcv_settle_mode, receiver_settle_mode::second);
  EXPECT_EQ(got.state.type, delivery_state::kind::accepted);
  EXPECT_TRUE(got.resume);
  EXPECT_TRUE(got.aborted);
  EXPECT_TRUE(got.batchable);
  expect_all_truncations_fail(bytes);

  auto v = proton_fields(bytes);
  EXPECT_EQ(v.descriptor, "ulong:20");
  ASSERT_EQ(v.fields.size(), 11u);
  EXPECT_EQ(v.fields[0], "uint:1");
  EXPECT_EQ(v.fields[1], "uint:1000");
  EXPECT_EQ(v.fields[2], "bin:" + str_of(tag));
  EXPECT_EQ(v.fields[3], "uint:0");
  EXPECT_EQ(v.fields[4], "true");
  EXPECT_EQ(v.fields[5], "true");
  EXPECT_EQ(v.fields[6], "ubyte:1");
  EXPECT_EQ(v.fields[7], "described(ulong:36)[]");
  EXPECT_EQ(v.fields[10], "true");

  // A continuation transfer: only the handle.
  transfer c;
  c.handle = 9;
  auto cb = encode_one(c);
  EXPECT_EQ(cb, (byte_buffer{0x00, 0x53, 0x14, 0xc0, 0x03, 0x01, 0x52, 0x09}));
  auto cg = decode_as<transfer>(cb);
  EXPECT_EQ(cg.handle, 9u);
  EXPECT_FALSE(cg.delivery_id);
  EXPECT_FALSE(cg.delivery_tag);
  EXPECT_FALSE(cg.settled);
  EXPECT_EQ(cg.state.type, delivery_state::kind::none);
}

TEST(performatives_transfer, proton_to_ours) {
  auto bytes = proton_described(0x14, [](pn_data_t* d) {
    pn_data_put_uint(d, 0);
    pn_data_put_uint(d, 42);
    pn_data_put_binary(d, pb("tag-42"));
    pn_data_put_uint(d, 0);
    pn_data_put_bool(d, false);
    pn_data_put_null(d);
    pn_data_put_null(d);
    put_described_list(d, 0x27);  // modified
    pn_data_put_bool(d, true);
    pn_data_put_bool(d, false);
    pn_data_put_map(d);
    pn_data_enter(d);
    pn_data_put_symbol(d, pb("x-reason"));
    pn_data_put_string(d, pb("busy"));
    pn_data_exit(d);
    exit_described_list(d);
  });
  auto t = decode_as<transfer>(bytes);
  EXPECT_EQ(t.handle, 0u);
  EXPECT_EQ(t.delivery_id, 42u);
  EXPECT_EQ(str_of(*t.delivery_tag), "tag-42");
  EXPECT_EQ(t.settled, false);
  EXPECT_FALSE(t.more);
  EXPECT_FALSE(t.rcv_settle_mode);
  EXPECT_EQ(t.state.type, delivery_state::kind::modified);
  EXPECT_TRUE(t.state.delivery_failed);
  EXPECT_FALSE(t.state.undeliverable_here);
  EXPECT_FALSE(t.state.message_annotations.empty());

  auto no_handle = proton_described(0x14, [](pn_data_t* d) { pn_data_put_null(d); });
  decoder in(no_handle);
  EXPECT_EQ(decode_performative(in).error(), codec_errc::missing_field);
  auto bad_rsm = proton_described(0x14, [](pn_data_t* d) {
    pn_data_put_uint(d, 0);
    pn_data_put_null(d);
    pn_data_put_null(d);
    pn_data_put_null(d);
    pn_data_put_null(d);
    pn_data_put_null(d);
    pn_data_put_ubyte(d, 2);
  });
  decoder in2(bad_rsm);
  EXPECT_EQ(decode_performative(in2).error(), codec_errc::invalid_value);
}

// ---------------------------------------------------------------------------------------------
// disposition and delivery states

TEST(performatives_disposition, every_state_round_trip_and_proton) {
  std::vector<delivery_state> states(6);
  states[1].type = delivery_state::kind::received;
  states[1].section_number = 2;
  states[1].section_offset = 1ull << 40;
  states[2].type = delivery_state::kind::accepted;
  states[3].type = delivery_state::kind::rejected;
  states[3].rejected_error =
      error{"amqp:not-found", "no such node", encoded_map("node", "queue/x")};
  states[4].type = delivery_state::kind::released;
  states[5].type = delivery_state::kind::modified;
  states[5].delivery_failed = true;
  states[5].undeliverable_here = true;
  auto ann = encoded_map("x-opt-reason", "r");
  states[5].message_annotations = ann;

  const char* expected_state[] = {
      nullptr,
      "described(ulong:35)[uint:2,ulong:1099511627776]",
      "described(ulong:36)[]",
      "described(ulong:37)[described(ulong:29)[sym:amqp:not-found,str:no such node,"
      "{sym:node,str:queue/x}]]",
      "described(ulong:38)[]",
      "described(ulong:39)[true,true,{sym:x-opt-reason,str:r}]"};

  for (std::size_t i = 0; i < states.size(); ++i) {
    disposition d;
    d.role = role::receiver;
    d.first = 10;
    d.last = 20;
    d.settled = true;
    d.state = states[i];
    d.batchable = i % 2 == 0;
    auto bytes = encode_one(d);
    auto got = decode_as<disposition>(bytes);
    EXPECT_EQ(got.role, role::receiver);
    EXPECT_EQ(got.first, 10u);
    EXPECT_EQ(got.last, 20u);
    EXPECT_TRUE(got.settled);
    EXPECT_EQ(got.batchable, i % 2 == 0);
    EXPECT_EQ(got.state.type, states[i].type);
    EXPECT_EQ(got.state.section_number, states[i].section_number);
    EXPECT_EQ(got.state.section_offset, states[i].section_offset);
    EXPECT_EQ(got.state.delivery_failed, states[i].delivery_failed);
    EXPECT_EQ(got.state.undeliverable_here, states[i].undeliverable_here);
    EXPECT_EQ(str_of(got.state.message_annotations), str_of(states[i].message_annotations));
    EXPECT_EQ(got.state.rejected_error.has_value(), states[i].rejected_error.has_value());
    if (got.state.rejected_error) {
      EXPECT_EQ(got.state.rejected_error->condition, "amqp:not-found");
      EXPECT_EQ(got.state.rejected_error->description, "no such node");
      EXPECT_EQ(got.state.rejected_error->info, states[i].rejected_error->info);
    }
    expect_all_truncations_fail(bytes);

    auto v = proton_fields(bytes);
    EXPECT_EQ(v.descriptor, "ulong:21");
    ASSERT_GE(v.fields.size(), 5u);
    EXPECT_EQ(v.fields[0], "true");
    EXPECT_EQ(v.fields[1], "uint:10");
    EXPECT_EQ(v.fields[2], "uint:20");
    EXPECT_EQ(v.fields[3], "true");
    EXPECT_EQ(v.fields[4], expected_state[i] ? expected_state[i] : "null");
  }
}

TEST(performatives_disposition, proton_to_ours_no_alloc_for_accepted) {
  auto bytes = proton_described(0x15, [](pn_data_t* d) {
    pn_data_put_bool(d, true);
    pn_data_put_uint(d, 5);
    pn_data_put_null(d);
    pn_data_put_bool(d, true);
    put_described_list(d, 0x24);
    exit_described_list(d);
  });
  const std::size_t before = allocations.load();
  decoder in(bytes);
  auto p = decode_performative(in);
  EXPECT_EQ(allocations.load(), before);
  ASSERT_TRUE(p);
  const auto& d = std::get<disposition>(*p);
  EXPECT_EQ(d.role, role::receiver);
  EXPECT_EQ(d.first, 5u);
  EXPECT_FALSE(d.last);
  EXPECT_TRUE(d.settled);
  EXPECT_EQ(d.state.type, delivery_state::kind::accepted);

  auto unknown_state = proton_described(0x15, [](pn_data_t* d) {
    pn_data_put_bool(d, true);
    pn_data_put_uint(d, 5);
    pn_data_put_null(d);
    pn_data_put_bool(d, true);
    put_described_list(d, 0x99);
    exit_described_list(d);
  });
  decoder in2(unknown_state);
  EXPECT_EQ(decode_performative(in2).error(), codec_errc::invalid_descriptor);

  auto received_missing = proton_described(0x15, [](pn_data_t* d) {
    pn_data_put_bool(d, true);
    pn_data_put_uint(d, 5);
    pn_data_put_null(d);
    pn_data_put_bool(d, true);
    put_described_list(d, 0x23);
    pn_data_put_uint(d, 1);
    exit_described_list(d);
  });
  decoder in3(received_missing);
  EXPECT_EQ(decode_performative(in3).error(), codec_errc::missing_field);
}

// ---------------------------------------------------------------------------------------------
// detach, end, close and error

TEST(performatives_detach_end_close, round_trip_and_proton) {
  detach d;
  d.handle = 4;
  d.closed = true;
  d.err = error{"amqp:link:detach-forced", "bye", {}};
  auto bytes = encode_one(d);
  auto got = decode_as<detach>(bytes);
  EXPECT_EQ(got.handle, 4u);
  EXPECT_TRUE(got.closed);
  ASSERT_TRUE(got.err);
  EXPECT_EQ(got.err->condition, "amqp:link:detach-forced");
  EXPECT_EQ(got.err->description, "bye");
  EXPECT_TRUE(got.err->info.empty());
  expect_all_truncations_fail(bytes);
  auto v = proton_fields(bytes);
  EXPECT_EQ(v.descriptor, "ulong:22");
  EXPECT_EQ(v.fields,
            (std::vector<std::string>{"uint:4", "true",
                                      "described(ulong:29)[sym:amqp:link:detach-forced,str:bye]"}));

  end e;
  auto eb = encode_one(e);
  EXPECT_EQ(eb, (byte_buffer{0x00, 0x53, 0x17, 0x45}));
  EXPECT_FALSE(decode_as<end>(eb).err);
  e.err = error{"amqp:internal-error", "", {}};
  auto eg = decode_as<end>(encode_one(e));
  ASSERT_TRUE(eg.err);
  EXPECT_EQ(eg.err->condition, "amqp:internal-error");

  amqp::close c;
  c.err = error{"amqp:connection:forced", "shutting down", encoded_map("a", "b")};
  auto cb = encode_one(c);
  auto cg = decode_as<amqp::close>(cb);
  ASSERT_TRUE(cg.err);
  EXPECT_EQ(cg.err->description, "shutting down");
  EXPECT_EQ(cg.err->info, c.err->info);
  expect_all_truncations_fail(cb);
  EXPECT_EQ(proton_fields(cb).descriptor, "ulong:24");

  auto pclose = proton_described(0x18, [](pn_data_t* d) {
    put_described_list(d, 0x1d);
    pn_data_put_symbol(d, pb("amqp:unauthorized-access"));
    exit_described_list(d);
  });
  auto pc = decode_as<amqp::close>(pclose);
  ASSERT_TRUE(pc.err);
  EXPECT_EQ(pc.err->condition, "amqp:unauthorized-access");

  auto no_condition = proton_described(0x18, [](pn_data_t* d) {
    put_described_list(d, 0x1d);
    exit_described_list(d);
  });
  decoder in(no_condition);
  EXPECT_EQ(decode_performative(in).error(), codec_errc::missing_field);
}

TEST(performatives_misc, unknown_descriptor_and_non_list) {
  auto unknown = proton_described(0x30, [](pn_data_t*) {});
  decoder in(unknown);
  EXPECT_EQ(decode_performative(in).error(), codec_errc::invalid_descriptor);
  EXPECT_EQ(in.position(), 0u);

  const byte_buffer unknown_symbol{0x00, 0xa3, 0x03, 'f', 'o', 'o', 0x45};
  decoder in2(unknown_symbol);
  EXPECT_EQ(decode_performative(in2).error(), codec_errc::invalid_descriptor);

  const byte_buffer not_list{0x00, 0x53, 0x10, 0xa1, 0x01, 'x'};
  decoder in3(not_list);
  EXPECT_EQ(decode_performative(in3).error(), codec_errc::unexpected_type);

  const byte_buffer not_described{0x45};
  decoder in4(not_described);
  EXPECT_FALSE(decode_performative(in4));

  // SASL frames are not performatives and vice versa.
  byte_buffer sasl = encode_one(sasl_outcome{});
  decoder in5(sasl);
  EXPECT_EQ(decode_performative(in5).error(), codec_errc::invalid_descriptor);
  byte_buffer perf = encode_one(end{});
  decoder in6(perf);
  EXPECT_EQ(decode_sasl_frame(in6).error(), codec_errc::invalid_descriptor);
}

TEST(performatives_misc, every_symbolic_performative_descriptor) {
  const std::pair<const char*, std::size_t> names[] = {
      {"amqp:open:list", 0},   {"amqp:begin:list", 1},    {"amqp:attach:list", 2},
      {"amqp:flow:list", 3},   {"amqp:transfer:list", 4}, {"amqp:disposition:list", 5},
      {"amqp:detach:list", 6}, {"amqp:end:list", 7},      {"amqp:close:list", 8}};
  for (auto [name, index] : names) {
    auto d = make_data();
    pn_data_put_described(d.get());
    pn_data_enter(d.get());
    pn_data_put_symbol(d.get(), pb(name));
    pn_data_put_list(d.get());
    pn_data_enter(d.get());
    // Enough mandatory-looking fields for every performative.
    switch (index) {
      case 0:
        pn_data_put_string(d.get(), pb("c"));
        break;
      case 1:
      case 3:
        pn_data_put_null(d.get());
        for (int i = 0; i < 3; ++i) pn_data_put_uint(d.get(), 1);
        break;
      case 2:
        pn_data_put_string(d.get(), pb("n"));
        pn_data_put_uint(d.get(), 1);
        pn_data_put_bool(d.get(), false);
        break;
      case 4:
      case 6:
        pn_data_put_uint(d.get(), 1);
        break;
      case 5:
        pn_data_put_bool(d.get(), false);
        pn_data_put_uint(d.get(), 1);
        break;
      default:
        break;
    }
    pn_data_exit(d.get());
    pn_data_exit(d.get());
    auto bytes = proton_encode(d.get());
    decoder in(bytes);
    auto p = decode_performative(in);
    ASSERT_TRUE(p) << name << ": " << p.error().message();
    EXPECT_EQ(p->index(), index) << name;
  }
}

// ---------------------------------------------------------------------------------------------
// SASL

TEST(performatives_sasl, mechanisms) {
  sasl_mechanisms m;
  m.mechanisms = {"PLAIN", "ANONYMOUS", "EXTERNAL"};
  auto bytes = encode_one(m);
  EXPECT_EQ(decode_sasl_as<sasl_mechanisms>(bytes).mechanisms, m.mechanisms);
  expect_all_truncations_fail(bytes, true);
  auto v = proton_fields(bytes);
  EXPECT_EQ(v.descriptor, "ulong:64");
  EXPECT_EQ(v.fields, (std::vector<std::string>{"array[sym:PLAIN,sym:ANONYMOUS,sym:EXTERNAL]"}));

  // Mandatory even when empty.
  auto ev = proton_fields(encode_one(sasl_mechanisms{}));
  ASSERT_EQ(ev.fields.size(), 1u);
  EXPECT_EQ(ev.fields[0], "array[]");

  auto single = proton_described(0x40, [](pn_data_t* d) { pn_data_put_symbol(d, pb("PLAIN")); });
  EXPECT_EQ(decode_sasl_as<sasl_mechanisms>(single).mechanisms,
            (std::vector<std::string>{"PLAIN"}));
  auto missing = proton_described(0x40, [](pn_data_t*) {});
  decoder in(missing);
  EXPECT_EQ(decode_sasl_frame(in).error(), codec_errc::missing_field);
}

TEST(performatives_sasl, init) {
  sasl_init i;
  i.mechanism = "PLAIN";
  i.initial_response = bytes_of(std::string_view("\0user\0pass", 10));
  i.hostname = "broker";
  auto bytes = encode_one(i);
  auto got = decode_sasl_as<sasl_init>(bytes);
  EXPECT_EQ(got.mechanism, "PLAIN");
  ASSERT_TRUE(got.initial_response);
  EXPECT_EQ(*got.initial_response, *i.initial_response);
  EXPECT_EQ(got.hostname, "broker");
  expect_all_truncations_fail(bytes, true);
  auto v = proton_fields(bytes);
  EXPECT_EQ(v.descriptor, "ulong:65");
  EXPECT_EQ(v.fields, (std::vector<std::string>{
                          "sym:PLAIN", "bin:" + std::string("\0user\0pass", 10), "str:broker"}));

  auto anon = proton_described(0x41, [](pn_data_t* d) { pn_data_put_symbol(d, pb("ANONYMOUS")); });
  auto ag = decode_sasl_as<sasl_init>(anon);
  EXPECT_EQ(ag.mechanism, "ANONYMOUS");
  EXPECT_FALSE(ag.initial_response);
  // An empty initial response is distinct from an absent one.
  auto empty_resp = proton_described(0x41, [](pn_data_t* d) {
    pn_data_put_symbol(d, pb("PLAIN"));
    pn_data_put_binary(d, pb(""));
  });
  auto eg = decode_sasl_as<sasl_init>(empty_resp);
  ASSERT_TRUE(eg.initial_response);
  EXPECT_TRUE(eg.initial_response->empty());
}

TEST(performatives_sasl, challenge_response_outcome) {
  sasl_challenge ch{bytes_of("nonce")};
  auto cb = encode_one(ch);
  EXPECT_EQ(decode_sasl_as<sasl_challenge>(cb).challenge, ch.challenge);
  EXPECT_EQ(proton_fields(cb).fields, (std::vector<std::string>{"bin:nonce"}));
  expect_all_truncations_fail(cb, true);

  sasl_response r{bytes_of("proof")};
  auto rb = encode_one(r);
  EXPECT_EQ(decode_sasl_as<sasl_response>(rb).response, r.response);
  EXPECT_EQ(proton_fields(rb).descriptor, "ulong:67");
  // Empty binaries are still written: the field is mandatory.
  EXPECT_EQ(proton_fields(encode_one(sasl_response{})).fields, (std::vector<std::string>{"bin:"}));

  sasl_outcome o;
  o.code = sasl_outcome::code_t::sys_temp;
  o.additional_data = bytes_of("retry");
  auto ob = encode_one(o);
  auto og = decode_sasl_as<sasl_outcome>(ob);
  EXPECT_EQ(og.code, sasl_outcome::code_t::sys_temp);
  EXPECT_EQ(og.additional_data, o.additional_data);
  EXPECT_EQ(proton_fields(ob).fields, (std::vector<std::string>{"ubyte:4", "bin:retry"}));
  expect_all_truncations_fail(ob, true);
  EXPECT_EQ(proton_fields(encode_one(sasl_outcome{})).fields,
            (std::vector<std::string>{"ubyte:0"}));

  auto bad_code = proton_described(0x44, [](pn_data_t* d) { pn_data_put_ubyte(d, 9); });
  decoder in(bad_code);
  EXPECT_EQ(decode_sasl_frame(in).error(), codec_errc::invalid_value);
  auto ok = proton_described(0x44, [](pn_data_t* d) { pn_data_put_ubyte(d, 0); });
  EXPECT_EQ(decode_sasl_as<sasl_outcome>(ok).code, sasl_outcome::code_t::ok);
}

TEST(performatives_misc, resolve_descriptor_names) {
  descriptor d;
  d.symbol = "amqp:message-annotations:map";
  EXPECT_EQ(resolve_descriptor(d), descriptor_code::message_annotations);
  d.symbol = "amqp:amqp-value:*";
  EXPECT_EQ(resolve_descriptor(d), descriptor_code::amqp_value);
  d.symbol = "nope";
  EXPECT_FALSE(resolve_descriptor(d));
  descriptor n;
  n.code = 0x14;
  EXPECT_EQ(resolve_descriptor(n), 0x14u);
}

}  // namespace
