// AMQP type-system codec tests. Qpid Proton C is the oracle: what Proton encodes we must decode
// to the same values, and what we encode Proton must decode to the same values.
#include "amqp/codec.hpp"

#include <gtest/gtest.h>
#include <proton/codec.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

namespace {

using namespace fogmesh::router::amqp;

struct data_deleter {
  void operator()(pn_data_t* d) const { pn_data_free(d); }
};
using pn_data_ptr = std::unique_ptr<pn_data_t, data_deleter>;

pn_data_ptr make_data() {
  return pn_data_ptr(pn_data(16));
}

byte_buffer proton_encode(pn_data_t* d) {
  byte_buffer out(1 << 20);
  const ssize_t n = pn_data_encode(d, reinterpret_cast<char*>(out.data()), out.size());
  EXPECT_GE(n, 0);
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

// Decodes every value in bytes (pn_data_decode takes one at a time), positioned on the first.
pn_data_ptr proton_decode(const byte_buffer& bytes) {
  auto d = make_data();
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const ssize_t n = pn_data_decode(d.get(), reinterpret_cast<const char*>(bytes.data()) + pos,
                                     bytes.size() - pos);
    EXPECT_GT(n, 0);
    if (n <= 0) break;
    pos += static_cast<std::size_t>(n);
  }
  pn_data_rewind(d.get());
  EXPECT_TRUE(pn_data_next(d.get()));
  return d;
}

std::string proton_format(pn_data_t* d) {
  std::string s(1 << 16, '\0');
  size_t size = s.size();
  pn_data_rewind(d);
  EXPECT_EQ(pn_data_format(d, s.data(), &size), 0);
  s.resize(size);
  return s;
}

pn_bytes_t pb(std::string_view s) {
  return pn_bytes(s.size(), s.data());
}

template <class F>
byte_buffer encode_with(F f) {
  byte_buffer buf;
  encoder e(buf);
  f(e);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Fixed-width primitives, each value both ways.

TEST(codec_primitives, uint_both_ways_and_smallest_encoding) {
  const std::pair<std::uint32_t, std::size_t> cases[] = {{0, 1},   {1, 2},     {255, 2},
                                                         {256, 5}, {65535, 5}, {0xffffffffu, 5}};
  for (auto [v, size] : cases) {
    auto d = make_data();
    pn_data_put_uint(d.get(), v);
    auto pbytes = proton_encode(d.get());
    decoder in(pbytes);
    auto got = in.read_uint();
    ASSERT_TRUE(got) << v;
    EXPECT_EQ(*got, v);
    EXPECT_TRUE(in.at_end());

    auto ours = encode_with([&](encoder& e) { e.write_uint(v); });
    EXPECT_EQ(ours.size(), size) << v;
    auto back = proton_decode(ours);
    ASSERT_EQ(pn_data_type(back.get()), PN_UINT);
    EXPECT_EQ(pn_data_get_uint(back.get()), v);
  }
  EXPECT_EQ(encode_with([](encoder& e) { e.write_uint(0); }), (byte_buffer{0x43}));
  EXPECT_EQ(encode_with([](encoder& e) { e.write_uint(255); }), (byte_buffer{0x52, 0xff}));
  EXPECT_EQ(encode_with([](encoder& e) { e.write_uint(256); }), (byte_buffer{0x70, 0, 0, 1, 0}));
}

TEST(codec_primitives, ulong_both_ways_and_smallest_encoding) {
  const std::pair<std::uint64_t, std::size_t> cases[] = {
      {0, 1}, {1, 2}, {255, 2}, {256, 9}, {0xffffffffull, 9}, {0xffffffffffffffffull, 9}};
  for (auto [v, size] : cases) {
    auto d = make_data();
    pn_data_put_ulong(d.get(), v);
    auto pbytes = proton_encode(d.get());
    decoder in(pbytes);
    auto got = in.read_ulong();
    ASSERT_TRUE(got) << v;
    EXPECT_EQ(*got, v);

    auto ours = encode_with([&](encoder& e) { e.write_ulong(v); });
    EXPECT_EQ(ours.size(), size) << v;
    auto back = proton_decode(ours);
    ASSERT_EQ(pn_data_type(back.get()), PN_ULONG);
    EXPECT_EQ(pn_data_get_ulong(back.get()), v);
  }
}

TEST(codec_primitives, int_and_long_including_negative_small_forms) {
  const std::int32_t ints[] = {
      std::numeric_limits<std::int32_t>::min(), -129, -128, -1, 0, 1, 127, 128,
      std::numeric_limits<std::int32_t>::max()};
  for (auto v : ints) {
    auto d = make_data();
    pn_data_put_int(d.get(), v);
    auto pbytes = proton_encode(d.get());
    decoder in(pbytes);
    auto got = in.read_int();
    ASSERT_TRUE(got) << v;
    EXPECT_EQ(*got, v);
    auto ours = encode_with([&](encoder& e) { e.write_int(v); });
    EXPECT_EQ(ours.size(), (v >= -128 && v <= 127) ? 2u : 5u) << v;
    auto back = proton_decode(ours);
    ASSERT_EQ(pn_data_type(back.get()), PN_INT);
    EXPECT_EQ(pn_data_get_int(back.get()), v);
  }
  const std::int64_t longs[] = {
      std::numeric_limits<std::int64_t>::min(), -129, -128, -1, 0, 127, 128,
      std::numeric_limits<std::int64_t>::max()};
  for (auto v : longs) {
    auto d = make_data();
    pn_data_put_long(d.get(), v);
    auto pbytes = proton_encode(d.get());
    decoder in(pbytes);
    auto got = in.read_long();
    ASSERT_TRUE(got) << v;
    EXPECT_EQ(*got, v);
    auto ours = encode_with([&](encoder& e) { e.write_long(v); });
    EXPECT_EQ(ours.size(), (v >= -128 && v <= 127) ? 2u : 9u) << v;
    auto back = proton_decode(ours);
    ASSERT_EQ(pn_data_type(back.get()), PN_LONG);
    EXPECT_EQ(pn_data_get_long(back.get()), v);
  }
  EXPECT_EQ(encode_with([](encoder& e) { e.write_int(-1); }), (byte_buffer{0x54, 0xff}));
  EXPECT_EQ(encode_with([](encoder& e) { e.write_long(-128); }), (byte_buffer{0x55, 0x80}));
}

TEST(codec_primitives, small_integer_types) {
  for (int v : {0, 1, 127, 255}) {
    auto d = make_data();
    pn_data_put_ubyte(d.get(), static_cast<std::uint8_t>(v));
    auto pbytes = proton_encode(d.get());
    decoder in(pbytes);
    EXPECT_EQ(*in.read_ubyte(), v);
    auto back = proton_decode(encode_with([&](encoder& e) { e.write_ubyte(v); }));
    EXPECT_EQ(pn_data_get_ubyte(back.get()), v);
  }
  for (int v : {-128, -1, 0, 127}) {
    auto d = make_data();
    pn_data_put_byte(d.get(), static_cast<std::int8_t>(v));
    auto pbytes = proton_encode(d.get());
    decoder in(pbytes);
    EXPECT_EQ(*in.read_byte(), v);
    auto back = proton_decode(encode_with([&](encoder& e) { e.write_byte(v); }));
    EXPECT_EQ(pn_data_get_byte(back.get()), v);
  }
  for (int v : {0, 1, 256, 65535}) {
    auto d = make_data();
    pn_data_put_ushort(d.get(), static_cast<std::uint16_t>(v));
    auto pbytes = proton_encode(d.get());
    decoder in(pbytes);
    EXPECT_EQ(*in.read_ushort(), v);
    auto back = proton_decode(encode_with([&](encoder& e) { e.write_ushort(v); }));
    EXPECT_EQ(pn_data_get_ushort(back.get()), v);
  }
  for (int v : {-32768, -1, 0, 32767}) {
    auto d = make_data();
    pn_data_put_short(d.get(), static_cast<std::int16_t>(v));
    auto pbytes = proton_encode(d.get());
    decoder in(pbytes);
    EXPECT_EQ(*in.read_short(), v);
    auto back = proton_decode(encode_with([&](encoder& e) { e.write_short(v); }));
    EXPECT_EQ(pn_data_get_short(back.get()), v);
  }
}

TEST(codec_primitives, null_and_bool) {
  for (bool v : {true, false}) {
    auto d = make_data();
    pn_data_put_bool(d.get(), v);
    auto pbytes = proton_encode(d.get());
    decoder in(pbytes);
    EXPECT_EQ(*in.read_bool(), v);
    auto ours = encode_with([&](encoder& e) { e.write_bool(v); });
    EXPECT_EQ(ours.size(), 1u);
    EXPECT_EQ(pn_data_get_bool(proton_decode(ours).get()), v);
  }
  // The one-byte-payload form 0x56.
  const byte_buffer t{0x56, 0x01}, f{0x56, 0x00}, bad{0x56, 0x02};
  EXPECT_TRUE(*decoder(t).read_bool());
  EXPECT_FALSE(*decoder(f).read_bool());
  EXPECT_EQ(decoder(bad).read_bool().error(), codec_errc::invalid_value);

  auto d = make_data();
  pn_data_put_null(d.get());
  auto pbytes = proton_encode(d.get());
  decoder in(pbytes);
  EXPECT_TRUE(in.next_is_null());
  EXPECT_TRUE(in.read_null());
  EXPECT_FALSE(in.next_is_null());
  EXPECT_EQ(pn_data_type(proton_decode(encode_with([](encoder& e) { e.write_null(); })).get()),
            PN_NULL);
}

TEST(codec_primitives, float_double_char_timestamp_uuid) {
  for (float v : {0.0f, -1.5f, 3.25e10f, std::numeric_limits<float>::infinity()}) {
    auto d = make_data();
    pn_data_put_float(d.get(), v);
    auto pbytes = proton_encode(d.get());
    EXPECT_EQ(*decoder(pbytes).read_float(), v);
    EXPECT_EQ(
        pn_data_get_float(proton_decode(encode_with([&](encoder& e) { e.write_float(v); })).get()),
        v);
  }
  for (double v : {0.0, -1.5, 1e300, -std::numeric_limits<double>::denorm_min()}) {
    auto d = make_data();
    pn_data_put_double(d.get(), v);
    auto pbytes = proton_encode(d.get());
    EXPECT_EQ(*decoder(pbytes).read_double(), v);
    EXPECT_EQ(pn_data_get_double(
                  proton_decode(encode_with([&](encoder& e) { e.write_double(v); })).get()),
              v);
  }
  {
    auto d = make_data();
    pn_data_put_double(d.get(), std::nan(""));
    auto pbytes = proton_encode(d.get());
    EXPECT_TRUE(std::isnan(*decoder(pbytes).read_double()));
  }
  for (std::uint32_t v : {0u, 0x41u, 0x1f600u, 0x10ffffu}) {
    auto d = make_data();
    pn_data_put_char(d.get(), v);
    auto pbytes = proton_encode(d.get());
    EXPECT_EQ(*decoder(pbytes).read_char(), v);
    EXPECT_EQ(
        pn_data_get_char(proton_decode(encode_with([&](encoder& e) { e.write_char(v); })).get()),
        v);
  }
  for (std::int64_t v : {std::int64_t{0}, std::int64_t{1700000000000}, std::int64_t{-1}}) {
    auto d = make_data();
    pn_data_put_timestamp(d.get(), v);
    auto pbytes = proton_encode(d.get());
    EXPECT_EQ(*decoder(pbytes).read_timestamp(), v);
    auto back = proton_decode(encode_with([&](encoder& e) { e.write_timestamp(v); }));
    ASSERT_EQ(pn_data_type(back.get()), PN_TIMESTAMP);
    EXPECT_EQ(pn_data_get_timestamp(back.get()), v);
  }
  std::array<std::uint8_t, 16> id{};
  for (int i = 0; i < 16; ++i) id[i] = static_cast<std::uint8_t>(i * 17 + 3);
  pn_uuid_t pu;
  std::memcpy(pu.bytes, id.data(), 16);
  auto d = make_data();
  pn_data_put_uuid(d.get(), pu);
  auto pbytes = proton_encode(d.get());
  EXPECT_EQ(*decoder(pbytes).read_uuid(), id);
  auto back = proton_decode(encode_with([&](encoder& e) { e.write_uuid(id); }));
  ASSERT_EQ(pn_data_type(back.get()), PN_UUID);
  EXPECT_EQ(std::memcmp(pn_data_get_uuid(back.get()).bytes, id.data(), 16), 0);
}

// ---------------------------------------------------------------------------------------------
// Variable-width primitives at the str8/str32 boundary.

class codec_variable : public ::testing::TestWithParam<std::size_t> {};

TEST_P(codec_variable, string_symbol_binary_both_ways) {
  const std::size_t len = GetParam();
  std::string s(len, 'x');
  for (std::size_t i = 0; i < len; ++i) s[i] = static_cast<char>('a' + i % 26);
  const std::size_t header = len <= 255 ? 2 : 5;

  auto d = make_data();
  pn_data_put_string(d.get(), pb(s));
  auto pbytes = proton_encode(d.get());
  EXPECT_EQ(*decoder(pbytes).read_string(), s);
  auto ours = encode_with([&](encoder& e) { e.write_string(s); });
  EXPECT_EQ(ours.size(), header + len);
  EXPECT_EQ(ours[0], len <= 255 ? code::str8 : code::str32);
  auto back = proton_decode(ours);
  ASSERT_EQ(pn_data_type(back.get()), PN_STRING);
  auto pbs = pn_data_get_string(back.get());
  EXPECT_EQ(std::string_view(pbs.start, pbs.size), s);

  d = make_data();
  pn_data_put_symbol(d.get(), pb(s));
  pbytes = proton_encode(d.get());
  EXPECT_EQ(*decoder(pbytes).read_symbol(), s);
  ours = encode_with([&](encoder& e) { e.write_symbol(s); });
  EXPECT_EQ(ours[0], len <= 255 ? code::sym8 : code::sym32);
  back = proton_decode(ours);
  ASSERT_EQ(pn_data_type(back.get()), PN_SYMBOL);
  pbs = pn_data_get_symbol(back.get());
  EXPECT_EQ(std::string_view(pbs.start, pbs.size), s);

  d = make_data();
  pn_data_put_binary(d.get(), pb(s));
  pbytes = proton_encode(d.get());
  auto bin = decoder(pbytes).read_binary();
  ASSERT_TRUE(bin);
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(bin->data()), bin->size()), s);
  // Views point into the input: no copy was made.
  if (len > 0) {
    EXPECT_GE(bin->data(), pbytes.data());
    EXPECT_LT(bin->data(), pbytes.data() + pbytes.size());
  }
  ours = encode_with([&](encoder& e) {
    e.write_binary({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
  });
  EXPECT_EQ(ours[0], len <= 255 ? code::vbin8 : code::vbin32);
  back = proton_decode(ours);
  ASSERT_EQ(pn_data_type(back.get()), PN_BINARY);
  pbs = pn_data_get_binary(back.get());
  EXPECT_EQ(std::string_view(pbs.start, pbs.size), s);
}

INSTANTIATE_TEST_SUITE_P(lengths, codec_variable,
                         ::testing::Values(0, 1, 254, 255, 256, 1000, 70000));

TEST(codec_primitives, wrong_type_leaves_cursor_in_place) {
  auto buf = encode_with([](encoder& e) { e.write_string("hi"); });
  decoder in(buf);
  EXPECT_EQ(in.read_symbol().error(), codec_errc::unexpected_type);
  EXPECT_EQ(in.read_uint().error(), codec_errc::unexpected_type);
  EXPECT_EQ(in.position(), 0u);
  EXPECT_EQ(*in.read_string(), "hi");
}

// ---------------------------------------------------------------------------------------------
// Compounds.

TEST(codec_compounds, empty_list_map_array_from_proton) {
  auto d = make_data();
  pn_data_put_list(d.get());
  pn_data_put_map(d.get());
  pn_data_put_array(d.get(), false, PN_SYMBOL);
  auto pbytes = proton_encode(d.get());
  decoder in(pbytes);
  auto l = in.read_list();
  ASSERT_TRUE(l);
  EXPECT_EQ(l->count, 0u);
  auto m = in.read_map();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->count, 0u);
  auto a = in.read_array();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->count, 0u);
  EXPECT_TRUE(a->element_code == code::sym8 || a->element_code == code::sym32);
  EXPECT_TRUE(in.at_end());
}

TEST(codec_compounds, empty_compounds_we_encode) {
  auto ours = encode_with([](encoder& e) {
    e.end_list(e.begin_list(), 0);
    e.end_map(e.begin_map(), 0);
    e.write_symbol_array(std::span<const std::string_view>{});
  });
  EXPECT_EQ(ours, (byte_buffer{0x45, 0xc1, 0x01, 0x00, 0x40}));
  auto back = proton_decode(ours);
  EXPECT_EQ(pn_data_type(back.get()), PN_LIST);
  EXPECT_EQ(pn_data_get_list(back.get()), 0u);
  ASSERT_TRUE(pn_data_next(back.get()));
  EXPECT_EQ(pn_data_type(back.get()), PN_MAP);
  EXPECT_EQ(pn_data_get_map(back.get()), 0u);
}

TEST(codec_compounds, list8_list32_boundary) {
  // list8 holds up to 254 content bytes (size byte counts the count byte too).
  for (std::size_t n : {1u, 100u, 126u, 127u, 200u, 300u}) {
    auto ours = encode_with([&](encoder& e) {
      auto m = e.begin_list();
      for (std::size_t i = 0; i < n; ++i) e.write_ubyte(static_cast<std::uint8_t>(i));
      e.end_list(m, static_cast<std::uint32_t>(n));
    });
    const std::size_t content = 2 * n;
    EXPECT_EQ(ours[0], content + 1 <= 255 ? code::list8 : code::list32) << n;
    EXPECT_EQ(ours.size(), content + (content + 1 <= 255 ? 3 : 9));
    auto back = proton_decode(ours);
    ASSERT_EQ(pn_data_type(back.get()), PN_LIST);
    ASSERT_EQ(pn_data_get_list(back.get()), n);
    pn_data_enter(back.get());
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_TRUE(pn_data_next(back.get()));
      EXPECT_EQ(pn_data_get_ubyte(back.get()), static_cast<std::uint8_t>(i));
    }
    decoder in(ours);
    auto l = in.read_list();
    ASSERT_TRUE(l);
    EXPECT_EQ(l->count, n);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(*l->elements.read_ubyte(), static_cast<std::uint8_t>(i));
    }
    EXPECT_TRUE(l->elements.at_end());
  }
}

TEST(codec_compounds, nested_structure_proton_to_ours) {
  // {"k1": [1, "two", [sym], {}], 7: <array of int>, "d": described(ulong 0x77, "v")}
  auto d = make_data();
  pn_data_put_map(d.get());
  pn_data_enter(d.get());
  pn_data_put_string(d.get(), pb("k1"));
  pn_data_put_list(d.get());
  pn_data_enter(d.get());
  pn_data_put_int(d.get(), 1);
  pn_data_put_string(d.get(), pb("two"));
  pn_data_put_list(d.get());
  pn_data_enter(d.get());
  pn_data_put_symbol(d.get(), pb("sym"));
  pn_data_exit(d.get());
  pn_data_put_map(d.get());
  pn_data_exit(d.get());
  pn_data_put_ulong(d.get(), 7);
  pn_data_put_array(d.get(), false, PN_INT);
  pn_data_enter(d.get());
  for (int i = -2; i < 3; ++i) pn_data_put_int(d.get(), i * 1000);
  pn_data_exit(d.get());
  pn_data_put_string(d.get(), pb("d"));
  pn_data_put_described(d.get());
  pn_data_enter(d.get());
  pn_data_put_ulong(d.get(), 0x77);
  pn_data_put_string(d.get(), pb("v"));
  pn_data_exit(d.get());
  pn_data_exit(d.get());
  auto pbytes = proton_encode(d.get());

  decoder in(pbytes);
  auto m = in.read_map();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->count, 6u);
  auto& e = m->elements;
  EXPECT_EQ(*e.read_string(), "k1");
  auto l = e.read_list();
  ASSERT_TRUE(l);
  EXPECT_EQ(l->count, 4u);
  EXPECT_EQ(*l->elements.read_int(), 1);
  EXPECT_EQ(*l->elements.read_string(), "two");
  auto inner = l->elements.read_list();
  ASSERT_TRUE(inner);
  EXPECT_EQ(*inner->elements.read_symbol(), "sym");
  auto empty = l->elements.read_map();
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->count, 0u);
  EXPECT_EQ(*e.read_ulong(), 7u);
  auto a = e.read_array();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->count, 5u);
  EXPECT_FALSE(a->element_descriptor);
  decoder elems(a->element_bytes);
  (void)elems;
  EXPECT_TRUE(a->element_code == code::int_ || a->element_code == code::smallint);
  EXPECT_EQ(*e.read_string(), "d");
  decoder described = e;
  auto skipped = described.skip_value();
  ASSERT_TRUE(skipped);
  auto desc = e.read_descriptor();
  ASSERT_TRUE(desc);
  EXPECT_FALSE(desc->is_symbol());
  EXPECT_EQ(desc->code, 0x77u);
  EXPECT_EQ(*e.read_string(), "v");
  EXPECT_EQ(e.position(), described.position());
  EXPECT_TRUE(e.at_end());
  EXPECT_TRUE(in.at_end());
}

TEST(codec_compounds, nested_structure_ours_to_proton) {
  auto ours = encode_with([](encoder& e) {
    auto m = e.begin_map();
    e.write_symbol("list");
    auto l = e.begin_list();
    e.write_uint(300);
    e.write_string(std::string(300, 'z'));
    auto l2 = e.begin_list();
    e.write_null();
    e.write_bool(true);
    e.end_list(l2, 2);
    const std::string_view syms[] = {"a", "bb"};
    e.write_symbol_array(syms);
    e.end_list(l, 4);
    e.write_ulong(1);
    e.write_descriptor(0x1234567890ull);
    e.write_long(-5);
    e.write_string("sym-described");
    e.write_descriptor(std::string_view("com.example:thing"));
    e.end_list(e.begin_list(), 0);
    e.end_map(m, 6);
  });

  auto d = make_data();
  pn_data_put_map(d.get());
  pn_data_enter(d.get());
  pn_data_put_symbol(d.get(), pb("list"));
  pn_data_put_list(d.get());
  pn_data_enter(d.get());
  pn_data_put_uint(d.get(), 300);
  pn_data_put_string(d.get(), pb(std::string(300, 'z')));
  pn_data_put_list(d.get());
  pn_data_enter(d.get());
  pn_data_put_null(d.get());
  pn_data_put_bool(d.get(), true);
  pn_data_exit(d.get());
  pn_data_put_array(d.get(), false, PN_SYMBOL);
  pn_data_enter(d.get());
  pn_data_put_symbol(d.get(), pb("a"));
  pn_data_put_symbol(d.get(), pb("bb"));
  pn_data_exit(d.get());
  pn_data_exit(d.get());
  pn_data_put_ulong(d.get(), 1);
  pn_data_put_described(d.get());
  pn_data_enter(d.get());
  pn_data_put_ulong(d.get(), 0x1234567890ull);
  pn_data_put_long(d.get(), -5);
  pn_data_exit(d.get());
  pn_data_put_string(d.get(), pb("sym-described"));
  pn_data_put_described(d.get());
  pn_data_enter(d.get());
  pn_data_put_symbol(d.get(), pb("com.example:thing"));
  pn_data_put_list(d.get());
  pn_data_exit(d.get());
  pn_data_exit(d.get());

  auto back = proton_decode(ours);
  EXPECT_EQ(proton_format(back.get()), proton_format(d.get()));
  // And our own decoder walks it back.
  decoder in(ours);
  auto m = in.read_map();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->count, 6u);
  EXPECT_EQ(*m->elements.read_symbol(), "list");
  auto l = m->elements.read_list();
  ASSERT_TRUE(l);
  EXPECT_EQ(l->count, 4u);
  EXPECT_EQ(*l->elements.read_uint(), 300u);
  EXPECT_EQ(l->elements.read_string()->size(), 300u);
  ASSERT_TRUE(l->elements.skip_value());
  std::vector<std::string_view> syms;
  ASSERT_TRUE(l->elements.read_symbols(syms));
  EXPECT_EQ(syms, (std::vector<std::string_view>{"a", "bb"}));
  EXPECT_EQ(*m->elements.read_ulong(), 1u);
  auto d1 = m->elements.read_descriptor();
  ASSERT_TRUE(d1);
  EXPECT_EQ(d1->code, 0x1234567890ull);
  EXPECT_EQ(*m->elements.read_long(), -5);
  EXPECT_EQ(*m->elements.read_string(), "sym-described");
  auto d2 = m->elements.read_descriptor();
  ASSERT_TRUE(d2);
  EXPECT_EQ(d2->symbol, "com.example:thing");
}

TEST(codec_compounds, large_map_uses_map32) {
  auto ours = encode_with([](encoder& e) {
    auto m = e.begin_map();
    for (int i = 0; i < 200; ++i) {
      e.write_uint(static_cast<std::uint32_t>(i));
      e.write_string("value");
    }
    e.end_map(m, 400);
  });
  EXPECT_EQ(ours[0], code::map32);
  auto back = proton_decode(ours);
  ASSERT_EQ(pn_data_type(back.get()), PN_MAP);
  EXPECT_EQ(pn_data_get_map(back.get()), 400u);
  decoder in(ours);
  auto m = in.read_map();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->count, 400u);
}

TEST(codec_arrays, symbol_arrays_both_ways_incl_sym32_and_array32) {
  std::vector<std::string> many;
  for (int i = 0; i < 300; ++i) many.push_back("cap-" + std::to_string(i));
  const std::vector<std::vector<std::string>> cases = {
      {"one"}, {"a", "b", "c"}, {std::string(300, 'L'), "short"}, many};
  for (const auto& syms : cases) {
    auto ours = encode_with([&](encoder& e) { e.write_symbol_array(std::span(syms)); });
    auto back = proton_decode(ours);
    ASSERT_EQ(pn_data_type(back.get()), PN_ARRAY);
    ASSERT_EQ(pn_data_get_array(back.get()), syms.size());
    EXPECT_EQ(pn_data_get_array_type(back.get()), PN_SYMBOL);
    pn_data_enter(back.get());
    for (const auto& s : syms) {
      ASSERT_TRUE(pn_data_next(back.get()));
      auto got = pn_data_get_symbol(back.get());
      EXPECT_EQ(std::string_view(got.start, got.size), s);
    }

    auto d = make_data();
    pn_data_put_array(d.get(), false, PN_SYMBOL);
    pn_data_enter(d.get());
    for (const auto& s : syms) pn_data_put_symbol(d.get(), pb(s));
    pn_data_exit(d.get());
    auto pbytes = proton_encode(d.get());
    std::vector<std::string_view> got;
    decoder in(pbytes);
    ASSERT_TRUE(in.read_symbols(got));
    ASSERT_EQ(got.size(), syms.size());
    for (std::size_t i = 0; i < syms.size(); ++i) EXPECT_EQ(got[i], syms[i]);
  }
  // A single symbol is accepted where an array is allowed ("multiple" fields).
  auto single = encode_with([](encoder& e) { e.write_symbol("ANONYMOUS"); });
  std::vector<std::string_view> got;
  ASSERT_TRUE(decoder(single).read_symbols(got));
  EXPECT_EQ(got, (std::vector<std::string_view>{"ANONYMOUS"}));
}

TEST(codec_arrays, described_array_and_array_of_lists_from_proton) {
  auto d = make_data();
  pn_data_put_array(d.get(), true, PN_STRING);
  pn_data_enter(d.get());
  pn_data_put_symbol(d.get(), pb("x:desc"));  // the first element is the descriptor
  pn_data_put_string(d.get(), pb("e1"));
  pn_data_put_string(d.get(), pb("e2"));
  pn_data_exit(d.get());
  auto pbytes = proton_encode(d.get());
  decoder in(pbytes);
  auto a = in.read_array();
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(a->element_descriptor);
  EXPECT_EQ(a->element_descriptor->symbol, "x:desc");
  EXPECT_EQ(a->count, 2u);
  EXPECT_TRUE(a->element_code == code::str8 || a->element_code == code::str32);
  EXPECT_TRUE(in.at_end());
  // Wrong element type for read_symbols.
  decoder in2(pbytes);
  std::vector<std::string_view> syms;
  EXPECT_FALSE(in2.read_symbols(syms));
  EXPECT_TRUE(syms.empty());
  EXPECT_EQ(in2.position(), 0u);

  auto d2 = make_data();
  pn_data_put_array(d2.get(), false, PN_LIST);
  pn_data_enter(d2.get());
  for (int i = 0; i < 3; ++i) {
    pn_data_put_list(d2.get());
    pn_data_enter(d2.get());
    pn_data_put_int(d2.get(), i);
    pn_data_exit(d2.get());
  }
  pn_data_exit(d2.get());
  auto pbytes2 = proton_encode(d2.get());
  decoder in3(pbytes2);
  auto skipped = in3.skip_value();
  ASSERT_TRUE(skipped);
  EXPECT_EQ(skipped->size(), pbytes2.size());
  decoder in4(pbytes2);
  auto a2 = in4.read_array();
  ASSERT_TRUE(a2);
  EXPECT_EQ(a2->count, 3u);
}

TEST(codec_descriptors, numeric_forms_and_symbol) {
  const byte_buffer small{0x00, 0x53, 0x10, 0x45};
  const byte_buffer big{0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x45};
  for (const auto& b : {small, big}) {
    decoder in(b);
    EXPECT_EQ(*in.peek_code(), code::described);
    auto d = in.read_descriptor();
    ASSERT_TRUE(d);
    EXPECT_EQ(d->code, 0x10u);
    EXPECT_TRUE(in.read_list());
    EXPECT_TRUE(in.at_end());
  }
  auto sym = encode_with([](encoder& e) {
    e.write_descriptor(std::string_view("amqp:open:list"));
    e.end_list(e.begin_list(), 0);
  });
  decoder in(sym);
  auto d = in.read_descriptor();
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->is_symbol());
  EXPECT_EQ(d->symbol, "amqp:open:list");
  // A string is not a valid descriptor.
  const byte_buffer bad{0x00, 0xa1, 0x01, 'x', 0x45};
  EXPECT_EQ(decoder(bad).read_descriptor().error(), codec_errc::invalid_descriptor);
  // write_descriptor uses smallulong when it fits.
  EXPECT_EQ(encode_with([](encoder& e) { e.write_descriptor(0x14); }),
            (byte_buffer{0x00, 0x53, 0x14}));
}

// ---------------------------------------------------------------------------------------------
// Malformed input.

TEST(codec_malformed, truncation_at_every_position_fails_cleanly) {
  auto full = encode_with([](encoder& e) {
    e.write_descriptor(0x70);
    auto m = e.begin_map();
    e.write_symbol("k");
    auto l = e.begin_list();
    e.write_string(std::string(300, 'q'));
    e.write_ulong(1ull << 40);
    e.write_uuid({});
    const std::string_view syms[] = {"x", "y"};
    e.write_symbol_array(syms);
    e.end_list(l, 4);
    e.end_map(m, 2);
  });
  {
    decoder in(full);
    ASSERT_TRUE(in.skip_value());
    EXPECT_TRUE(in.at_end());
  }
  for (std::size_t n = 0; n < full.size(); ++n) {
    byte_buffer cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    decoder in(cut);
    auto r = in.skip_value();
    EXPECT_FALSE(r) << n;
    EXPECT_EQ(in.position(), 0u);
    decoder in2(cut);
    if (in2.read_descriptor()) {
      EXPECT_FALSE(in2.read_map()) << n;
    }
  }
}

TEST(codec_malformed, invalid_constructors) {
  for (int c : {0x01, 0x30, 0x46, 0x57, 0x62, 0x75, 0x85, 0x90, 0xa2, 0xb2, 0xc2, 0xe1, 0xff}) {
    const byte_buffer b{static_cast<std::uint8_t>(c), 0, 0, 0, 0, 0, 0, 0, 0, 0};
    EXPECT_EQ(decoder(b).skip_value().error(), codec_errc::invalid_constructor) << c;
    EXPECT_EQ(decoder(b).read_uint().error(), codec_errc::invalid_constructor) << c;
    EXPECT_EQ(decoder(b).read_list().error(), codec_errc::invalid_constructor) << c;
  }
  // Array with an invalid element constructor.
  const byte_buffer arr{0xe0, 0x03, 0x01, 0xff, 0x00};
  EXPECT_FALSE(decoder(arr).read_array());
}

TEST(codec_malformed, counts_larger_than_sizes) {
  const byte_buffer list8{0xc0, 0x02, 0x05, 0x40};  // 5 elements in 1 byte
  EXPECT_EQ(decoder(list8).read_list().error(), codec_errc::invalid_value);
  EXPECT_EQ(decoder(list8).skip_value().error(), codec_errc::invalid_value);
  const byte_buffer list8_zero_size{0xc0, 0x00, 0x00};
  EXPECT_EQ(decoder(list8_zero_size).read_list().error(), codec_errc::invalid_value);
  const byte_buffer list32{0xd0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x40};
  EXPECT_EQ(decoder(list32).read_list().error(), codec_errc::invalid_value);
  const byte_buffer list32_huge_size{0xd0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0x40};
  EXPECT_EQ(decoder(list32_huge_size).read_list().error(), codec_errc::truncated);
  const byte_buffer map_odd{0xc1, 0x03, 0x01, 0x40, 0x40};
  EXPECT_EQ(decoder(map_odd).read_map().error(), codec_errc::invalid_value);
  const byte_buffer arr{0xe0, 0x04, 0x10, 0x70, 0, 0};  // 16 uints in 2 bytes
  EXPECT_EQ(decoder(arr).read_array().error(), codec_errc::invalid_value);
  const byte_buffer arr_sym{0xf0, 0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xa3, 0x00};
  EXPECT_EQ(decoder(arr_sym).read_array().error(), codec_errc::invalid_value);
  const byte_buffer str{0xb1, 0x7f, 0xff, 0xff, 0xff, 'a'};
  EXPECT_EQ(decoder(str).read_string().error(), codec_errc::truncated);
  const byte_buffer sym_array_short{0xe0, 0x05, 0x02, 0xa3, 0x01, 'a', 0x05};
  std::vector<std::string_view> syms;
  EXPECT_FALSE(decoder(sym_array_short).read_symbols(syms));
  EXPECT_TRUE(syms.empty());
}

TEST(codec_malformed, depth_bomb) {
  // 40 nested list8s: read_list must stop at the depth limit.
  byte_buffer nested{0x40};
  for (int i = 0; i < 40; ++i) {
    byte_buffer outer{0xc0, static_cast<std::uint8_t>(nested.size() + 1), 0x01};
    outer.insert(outer.end(), nested.begin(), nested.end());
    nested.swap(outer);
  }
  decoder in(nested);
  std::error_code ec;
  decoder cur = in;
  for (int i = 0; i < 40; ++i) {
    auto l = cur.read_list();
    if (!l) {
      ec = l.error();
      break;
    }
    cur = l->elements;
  }
  EXPECT_EQ(ec, codec_errc::too_deep);

  // A chain of descriptors: 0x00 0x00 0x00 ... must not blow the stack in skip_value.
  byte_buffer chain(100000, 0x00);
  chain.push_back(0x40);
  EXPECT_EQ(decoder(chain).skip_value().error(), codec_errc::too_deep);
  // Moderately described values still work.
  const byte_buffer ok{0x00, 0x00, 0x53, 0x01, 0x53, 0x02, 0x40};
  auto r = decoder(ok).skip_value();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size(), ok.size());
}

TEST(codec_errors, category_and_messages) {
  std::error_code ec = codec_errc::too_deep;
  EXPECT_EQ(&ec.category(), &codec_category());
  EXPECT_STREQ(ec.category().name(), "amqp.codec");
  EXPECT_FALSE(ec.message().empty());
}

}  // namespace
