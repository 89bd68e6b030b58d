#include "amqp/codec.hpp"

#include <bit>
#include <cstring>
#include <string>

namespace fogmesh::router::amqp {

namespace {

class codec_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "amqp.codec"; }
  std::string message(int ev) const override {
    switch (static_cast<codec_errc>(ev)) {
      case codec_errc::truncated:
        return "value runs past the end of the input";
      case codec_errc::invalid_constructor:
        return "unknown format code";
      case codec_errc::unexpected_type:
        return "unexpected type";
      case codec_errc::invalid_descriptor:
        return "invalid descriptor";
      case codec_errc::invalid_value:
        return "invalid value";
      case codec_errc::missing_field:
        return "mandatory field missing";
      case codec_errc::too_deep:
        return "nesting too deep";
    }
    return "unknown codec error";
  }
};

// Real AMQP traffic nests a handful of levels; the limit only exists so hostile input cannot
// exhaust the stack.
constexpr int max_depth = max_decode_depth;

// How the bytes after a format code are laid out (part 1 §1.2: the high nibble is the
// subcategory, which fixes the width of the size prefix).
enum class layout : std::uint8_t {
  invalid,
  fixed0,
  fixed1,
  fixed2,
  fixed4,
  fixed8,
  fixed16,
  variable8,
  variable32,
  compound8,
  compound32,
  array8,
  array32,
  described
};

constexpr std::array<layout, 256> make_layouts() {
  std::array<layout, 256> t{};
  for (auto& l : t) l = layout::invalid;
  t[0x00] = layout::described;
  for (int c : {0x40, 0x41, 0x42, 0x43, 0x44, 0x45}) t[c] = layout::fixed0;
  for (int c : {0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56}) t[c] = layout::fixed1;
  for (int c : {0x60, 0x61}) t[c] = layout::fixed2;
  for (int c : {0x70, 0x71, 0x72, 0x73, 0x74}) t[c] = layout::fixed4;
  for (int c : {0x80, 0x81, 0x82, 0x83, 0x84}) t[c] = layout::fixed8;
  for (int c : {0x94, 0x98}) t[c] = layout::fixed16;
  for (int c : {0xa0, 0xa1, 0xa3}) t[c] = layout::variable8;
  for (int c : {0xb0, 0xb1, 0xb3}) t[c] = layout::variable32;
  for (int c : {0xc0, 0xc1}) t[c] = layout::compound8;
  for (int c : {0xd0, 0xd1}) t[c] = layout::compound32;
  t[0xe0] = layout::array8;
  t[0xf0] = layout::array32;
  return t;
}
constexpr std::array<layout, 256> layouts = make_layouts();

inline std::uint16_t load_be16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
inline std::uint64_t load_be64(const std::uint8_t* p) noexcept {
  return (std::uint64_t{load_be32(p)} << 32) | load_be32(p + 4);
}

inline unexpected_error err(codec_errc e) {
  return fogmesh::unexpected(e);
}

// Error for a value of the wrong type: distinguishes garbage from a legal but unwanted type.
inline unexpected_error wrong_type(std::uint8_t c) {
  return err(layouts[c] == layout::invalid ? codec_errc::invalid_constructor
                                           : codec_errc::unexpected_type);
}

// Size in bytes of the value whose constructor (a primitive format code, not 0x00) is at
// p[0], counting the constructor. `avail` bytes are readable from p. Compounds and arrays are
// checked for a count their size can hold.
result<std::size_t> primitive_extent(const std::uint8_t* p, std::size_t avail) {
  const std::uint8_t c = p[0];
  switch (layouts[c]) {
    case layout::fixed0:
      return std::size_t{1};
    case layout::fixed1:
      return std::size_t{2};
    case layout::fixed2:
      return std::size_t{3};
    case layout::fixed4:
      return std::size_t{5};
    case layout::fixed8:
      return std::size_t{9};
    case layout::fixed16:
      return std::size_t{17};
    case layout::variable8:
      if (avail < 2) return err(codec_errc::truncated);
      return std::size_t{2} + p[1];
    case layout::variable32:
      if (avail < 5) return err(codec_errc::truncated);
      return std::size_t{5} + load_be32(p + 1);
    case layout::compound8: {
      if (avail < 3) return err(codec_errc::truncated);
      const std::uint32_t size = p[1], count = p[2];
      if (size < 1 || count > size - 1) return err(codec_errc::invalid_value);
      return std::size_t{2} + size;
    }
    case layout::compound32: {
      if (avail < 9) return err(codec_errc::truncated);
      const std::uint32_t size = load_be32(p + 1), count = load_be32(p + 5);
      if (size < 4 || count > size - 4) return err(codec_errc::invalid_value);
      return std::size_t{5} + size;
    }
    case layout::array8: {
      if (avail < 3) return err(codec_errc::truncated);
      // size covers the count and at least the element constructor.
      if (p[1] < 2) return err(codec_errc::invalid_value);
      return std::size_t{2} + p[1];
    }
    case layout::array32: {
      if (avail < 9) return err(codec_errc::truncated);
      const std::uint32_t size = load_be32(p + 1);
      if (size < 5) return err(codec_errc::invalid_value);
      return std::size_t{5} + size;
    }
    case layout::described:
    case layout::invalid:
      break;
  }
  return err(codec_errc::invalid_constructor);
}

// Width of one array element (after the shared constructor) of the given primitive code, or 0
// for variable-width codes whose elements carry their own size prefix.
struct element_width {
  std::size_t fixed = 0;
  std::size_t prefix = 0;  // size-prefix width for variable/compound/array elements
  bool ok = true;
};
element_width array_element_width(std::uint8_t c) {
  switch (layouts[c]) {
    case layout::fixed0:
      return {0, 0, true};
    case layout::fixed1:
      return {1, 0, true};
    case layout::fixed2:
      return {2, 0, true};
    case layout::fixed4:
      return {4, 0, true};
    case layout::fixed8:
      return {8, 0, true};
    case layout::fixed16:
      return {16, 0, true};
    case layout::variable8:
    case layout::compound8:
    case layout::array8:
      return {0, 1, true};
    case layout::variable32:
    case layout::compound32:
    case layout::array32:
      return {0, 4, true};
    case layout::described:
    case layout::invalid:
      break;
  }
  return {0, 0, false};
}

}  // namespace

const std::error_category& codec_category() noexcept {
  static const codec_category_impl instance;
  return instance;
}

std::error_code make_error_code(codec_errc e) noexcept {
  return {static_cast<int>(e), codec_category()};
}

// ---------------------------------------------------------------------------------------------
// decoder

result<bytes_view> decoder::take(std::size_t n) {
  if (pos_ > data_.size() || data_.size() - pos_ < n) return err(codec_errc::truncated);
  bytes_view out = data_.subspan(pos_, n);
  pos_ += n;
  return out;
}

result<std::uint8_t> decoder::peek_code() const {
  if (pos_ >= data_.size()) return err(codec_errc::truncated);
  return data_[pos_];
}

bool decoder::next_is_null() const noexcept {
  return pos_ < data_.size() && data_[pos_] == code::null;
}

result<void> decoder::read_null() {
  if (pos_ >= data_.size()) return err(codec_errc::truncated);
  if (data_[pos_] != code::null) return wrong_type(data_[pos_]);
  ++pos_;
  return {};
}

result<bool> decoder::read_bool() {
  if (pos_ >= data_.size()) return err(codec_errc::truncated);
  const std::uint8_t c = data_[pos_];
  if (c == code::bool_true) {
    ++pos_;
    return true;
  }
  if (c == code::bool_false) {
    ++pos_;
    return false;
  }
  if (c != code::boolean) return wrong_type(c);
  if (data_.size() - pos_ < 2) return err(codec_errc::truncated);
  const std::uint8_t v = data_[pos_ + 1];
  if (v > 1) return err(codec_errc::invalid_value);
  pos_ += 2;
  return v == 1;
}

namespace {
// Reads a fixed-width value with exactly one accepted format code.
template <class T, std::size_t N>
inline result<T> read_fixed(bytes_view data, std::size_t& pos, std::uint8_t want) {
  if (pos >= data.size()) return err(codec_errc::truncated);
  const std::uint8_t c = data[pos];
  if (c != want) return wrong_type(c);
  if (data.size() - pos < N + 1) return err(codec_errc::truncated);
  const std::uint8_t* p = data.data() + pos + 1;
  pos += N + 1;
  if constexpr (N == 1) {
    return static_cast<T>(p[0]);
  } else if constexpr (N == 2) {
    return static_cast<T>(load_be16(p));
  } else if constexpr (N == 4) {
    return static_cast<T>(load_be32(p));
  } else {
    return static_cast<T>(load_be64(p));
  }
}
}  // namespace

result<std::uint8_t> decoder::read_ubyte() {
  return read_fixed<std::uint8_t, 1>(data_, pos_, code::ubyte);
}
result<std::uint16_t> decoder::read_ushort() {
  return read_fixed<std::uint16_t, 2>(data_, pos_, code::ushort);
}

result<std::uint32_t> decoder::read_uint() {
  if (pos_ >= data_.size()) return err(codec_errc::truncated);
  const std::uint8_t* p = data_.data() + pos_;
  const std::size_t avail = data_.size() - pos_;
  switch (p[0]) {
    case code::uint0:
      pos_ += 1;
      return std::uint32_t{0};
    case code::smalluint:
      if (avail < 2) return err(codec_errc::truncated);
      pos_ += 2;
      return std::uint32_t{p[1]};
    case code::uint:
      if (avail < 5) return err(codec_errc::truncated);
      pos_ += 5;
      return load_be32(p + 1);
    default:
      return wrong_type(p[0]);
  }
}

result<std::uint64_t> decoder::read_ulong() {
  if (pos_ >= data_.size()) return err(codec_errc::truncated);
  const std::uint8_t* p = data_.data() + pos_;
  const std::size_t avail = data_.size() - pos_;
  switch (p[0]) {
    case code::ulong0:
      pos_ += 1;
      return std::uint64_t{0};
    case code::smallulong:
      if (avail < 2) return err(codec_errc::truncated);
      pos_ += 2;
      return std::uint64_t{p[1]};
    case code::ulong:
      if (avail < 9) return err(codec_errc::truncated);
      pos_ += 9;
      return load_be64(p + 1);
    default:
      return wrong_type(p[0]);
  }
}

result<std::int8_t> decoder::read_byte() {
  return read_fixed<std::int8_t, 1>(data_, pos_, code::byte);
}
result<std::int16_t> decoder::read_short() {
  return read_fixed<std::int16_t, 2>(data_, pos_, code::short_);
}

result<std::int32_t> decoder::read_int() {
  if (pos_ >= data_.size()) return err(codec_errc::truncated);
  const std::uint8_t* p = data_.data() + pos_;
  const std::size_t avail = data_.size() - pos_;
  switch (p[0]) {
    case code::smallint:
      if (avail < 2) return err(codec_errc::truncated);
      pos_ += 2;
      return std::int32_t{static_cast<std::int8_t>(p[1])};
    case code::int_:
      if (avail < 5) return err(codec_errc::truncated);
      pos_ += 5;
      return static_cast<std::int32_t>(load_be32(p + 1));
    default:
      return wrong_type(p[0]);
  }
}

result<std::int64_t> decoder::read_long() {
  if (pos_ >= data_.size()) return err(codec_errc::truncated);
  const std::uint8_t* p = data_.data() + pos_;
  const std::size_t avail = data_.size() - pos_;
  switch (p[0]) {
    case code::smalllong:
      if (avail < 2) return err(codec_errc::truncated);
      pos_ += 2;
      return std::int64_t{static_cast<std::int8_t>(p[1])};
    case code::long_:
      if (avail < 9) return err(codec_errc::truncated);
      pos_ += 9;
      return static_cast<std::int64_t>(load_be64(p + 1));
    default:
      return wrong_type(p[0]);
  }
}

result<float> decoder::read_float() {
  auto bits = read_fixed<std::uint32_t, 4>(data_, pos_, code::float_);
  if (!bits) return unexpected_error{bits.error()};
  return std::bit_cast<float>(*bits);
}

result<double> decoder::read_double() {
  auto bits = read_fixed<std::uint64_t, 8>(data_, pos_, code::double_);
  if (!bits) return unexpected_error{bits.error()};
  return std::bit_cast<double>(*bits);
}

result<std::uint32_t> decoder::read_char() {
  return read_fixed<std::uint32_t, 4>(data_, pos_, code::char_);
}

result<std::int64_t> decoder::read_timestamp() {
  return read_fixed<std::int64_t, 8>(data_, pos_, code::timestamp);
}

result<std::array<std::uint8_t, 16>> decoder::read_uuid() {
  if (pos_ >= data_.size()) return err(codec_errc::truncated);
  if (data_[pos_] != code::uuid) return wrong_type(data_[pos_]);
  if (data_.size() - pos_ < 17) return err(codec_errc::truncated);
  std::array<std::uint8_t, 16> out;
  std::memcpy(out.data(), data_.data() + pos_ + 1, 16);
  pos_ += 17;
  return out;
}

namespace {
// Reads a variable-width value (binary/string/symbol) whose 8- and 32-bit codes are given.
inline result<bytes_view> read_variable(bytes_view data, std::size_t& pos, std::uint8_t c8,
                                        std::uint8_t c32) {
  if (pos >= data.size()) return err(codec_errc::truncated);
  const std::uint8_t* p = data.data() + pos;
  const std::size_t avail = data.size() - pos;
  std::size_t header, len;
  if (p[0] == c8) {
    if (avail < 2) return err(codec_errc::truncated);
    header = 2;
    len = p[1];
  } else if (p[0] == c32) {
    if (avail < 5) return err(codec_errc::truncated);
    header = 5;
    len = load_be32(p + 1);
  } else {
    return wrong_type(p[0]);
  }
  if (avail - header < len) return err(codec_errc::truncated);
  pos += header + len;
  return bytes_view(p + header, len);
}

inline std::string_view as_chars(bytes_view b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
}  // namespace

result<bytes_view> decoder::read_binary() {
  return read_variable(data_, pos_, code::vbin8, code::vbin32);
}

result<std::string_view> decoder::read_string() {
  auto b = read_variable(data_, pos_, code::str8, code::str32);
  if (!b) return unexpected_error{b.error()};
  return as_chars(*b);
}

result<std::string_view> decoder::read_symbol() {
  auto b = read_variable(data_, pos_, code::sym8, code::sym32);
  if (!b) return unexpected_error{b.error()};
  return as_chars(*b);
}

namespace {
inline result<decoder::compound> read_compound(bytes_view data, std::size_t& pos, int depth,
                                               std::uint8_t c8, std::uint8_t c32, std::uint8_t c0) {
  if (pos >= data.size()) return err(codec_errc::truncated);
  const std::uint8_t* p = data.data() + pos;
  const std::size_t avail = data.size() - pos;
  if (depth + 1 > max_depth) return err(codec_errc::too_deep);
  std::size_t header;
  std::uint32_t size, count;
  if (p[0] == c0 && c0 != 0) {
    pos += 1;
    return decoder::compound{0, decoder(bytes_view{}, depth + 1)};
  } else if (p[0] == c8) {
    if (avail < 3) return err(codec_errc::truncated);
    header = 3;
    size = p[1];
    count = p[2];
    if (size < 1 || count > size - 1) return err(codec_errc::invalid_value);
    size -= 1;
  } else if (p[0] == c32) {
    if (avail < 9) return err(codec_errc::truncated);
    header = 9;
    size = load_be32(p + 1);
    count = load_be32(p + 5);
    if (size < 4 || count > size - 4) return err(codec_errc::invalid_value);
    size -= 4;
  } else {
    return wrong_type(p[0]);
  }
  if (avail - header < size) return err(codec_errc::truncated);
  pos += header + size;
  return decoder::compound{count, decoder(bytes_view(p + header, size), depth + 1)};
}
}  // namespace

result<decoder::compound> decoder::read_list() {
  return read_compound(data_, pos_, depth_, code::list8, code::list32, code::list0);
}

result<decoder::compound> decoder::read_map() {
  const std::size_t start = pos_;
  auto m = read_compound(data_, pos_, depth_, code::map8, code::map32, 0);
  if (m && (m->count % 2) != 0) {
    // Every key needs a value; failed reads leave the cursor where it was.
    pos_ = start;
    return err(codec_errc::invalid_value);
  }
  return m;
}

result<descriptor> decoder::read_descriptor() {
  if (pos_ >= data_.size()) return err(codec_errc::truncated);
  if (data_[pos_] != code::described) return wrong_type(data_[pos_]);
  decoder d = *this;
  d.pos_ += 1;
  if (d.at_end()) return err(codec_errc::truncated);
  const std::uint8_t c = d.data_[d.pos_];
  descriptor out;
  if (c == code::smallulong || c == code::ulong || c == code::ulong0) {
    auto v = d.read_ulong();
    if (!v) return unexpected_error{v.error()};
    out.code = *v;
  } else if (c == code::sym8 || c == code::sym32) {
    auto s = d.read_symbol();
    if (!s) return unexpected_error{s.error()};
    if (s->empty()) return err(codec_errc::invalid_descriptor);
    out.symbol = *s;
  } else if (layouts[c] == layout::invalid) {
    return err(codec_errc::invalid_constructor);
  } else {
    return err(codec_errc::invalid_descriptor);
  }
  pos_ = d.pos_;
  return out;
}

result<decoder::array> decoder::read_array() {
  if (pos_ >= data_.size()) return err(codec_errc::truncated);
  const std::uint8_t* p = data_.data() + pos_;
  const std::size_t avail = data_.size() - pos_;
  if (p[0] != code::array8 && p[0] != code::array32) return wrong_type(p[0]);
  if (depth_ + 1 > max_depth) return err(codec_errc::too_deep);
  auto extent = primitive_extent(p, avail);
  if (!extent) return unexpected_error{extent.error()};
  if (*extent > avail) return err(codec_errc::truncated);
  const bool wide = p[0] == code::array32;
  array out;
  out.count = wide ? load_be32(p + 5) : p[2];
  decoder ctor(bytes_view(p + (wide ? 9 : 3), *extent - (wide ? 9 : 3)), depth_ + 1);
  if (ctor.next_is_described()) {
    auto d = ctor.read_descriptor();
    if (!d) return unexpected_error{d.error()};
    out.element_descriptor = *d;
  }
  auto c = ctor.peek_code();
  if (!c) return unexpected_error{c.error()};
  if (*c == code::described) return err(codec_errc::invalid_descriptor);
  const element_width w = array_element_width(*c);
  if (!w.ok) return err(codec_errc::invalid_constructor);
  out.element_code = *c;
  ctor.pos_ += 1;
  out.element_bytes = ctor.remaining();
  // Each element needs at least its fixed width or its size prefix; zero-width elements (null,
  // true, false, uint0, ulong0, list0) are bounded by the 32-bit count alone.
  const std::size_t min_each = w.fixed + w.prefix;
  if (min_each != 0 && out.count > out.element_bytes.size() / min_each) {
    return err(codec_errc::invalid_value);
  }
  pos_ += *extent;
  return out;
}

bool decoder::next_is_described() const noexcept {
  return pos_ < data_.size() && data_[pos_] == code::described;
}

result<void> decoder::read_symbols(std::vector<std::string_view>& out) {
  if (pos_ >= data_.size()) return err(codec_errc::truncated);
  const std::uint8_t c = data_[pos_];
  if (c == code::null) {
    ++pos_;
    return {};
  }
  if (c == code::sym8 || c == code::sym32) {
    auto s = read_symbol();
    if (!s) return unexpected_error{s.error()};
    out.push_back(*s);
    return {};
  }
  if (c != code::array8 && c != code::array32) return wrong_type(c);
  decoder copy = *this;
  auto a = copy.read_array();
  if (!a) return unexpected_error{a.error()};
  if (a->element_descriptor || (a->element_code != code::sym8 && a->element_code != code::sym32)) {
    return err(codec_errc::unexpected_type);
  }
  const bool wide = a->element_code == code::sym32;
  const std::uint8_t* p = a->element_bytes.data();
  std::size_t left = a->element_bytes.size();
  const std::size_t first = out.size();
  for (std::uint32_t i = 0; i < a->count; ++i) {
    std::size_t len;
    if (wide) {
      if (left < 4) break;
      len = load_be32(p);
      p += 4;
      left -= 4;
    } else {
      if (left < 1) break;
      len = p[0];
      p += 1;
      left -= 1;
    }
    if (len > left) {
      out.resize(first);
      return err(codec_errc::truncated);
    }
    out.emplace_back(reinterpret_cast<const char*>(p), len);
    p += len;
    left -= len;
    if (i + 1 < a->count && left == 0) {
      out.resize(first);
      return err(codec_errc::truncated);
    }
  }
  if (out.size() - first != a->count) {
    out.resize(first);
    return err(codec_errc::truncated);
  }
  pos_ = copy.pos_;
  return {};
}

result<bytes_view> decoder::skip_value() {
  const std::size_t start = pos_;
  std::size_t p = pos_;
  // A described value is a descriptor (itself any value) followed by the value; chains of
  // descriptors are walked iteratively but bounded like nesting.
  int described_levels = 0;
  for (;;) {
    if (p >= data_.size()) return err(codec_errc::truncated);
    if (data_[p] == code::described) {
      if (depth_ + ++described_levels > max_depth) return err(codec_errc::too_deep);
      decoder sub(data_.subspan(p + 1), depth_ + described_levels);
      auto d = sub.skip_value();  // the descriptor
      if (!d) return unexpected_error{d.error()};
      p += 1 + d->size();
      continue;
    }
    auto extent = primitive_extent(data_.data() + p, data_.size() - p);
    if (!extent) return unexpected_error{extent.error()};
    if (*extent > data_.size() - p) return err(codec_errc::truncated);
    p += *extent;
    break;
  }
  pos_ = p;
  return data_.subspan(start, p - start);
}

// ---------------------------------------------------------------------------------------------
// encoder

// Single push_backs rather than range inserts: with reserved capacity they inline to a store and
// a capacity check, where insert() is an out-of-line call per value.
void encoder::put_be16(std::uint16_t v) {
  put(static_cast<std::uint8_t>(v >> 8));
  put(static_cast<std::uint8_t>(v));
}

void encoder::put_be32(std::uint32_t v) {
  put(static_cast<std::uint8_t>(v >> 24));
  put(static_cast<std::uint8_t>(v >> 16));
  put(static_cast<std::uint8_t>(v >> 8));
  put(static_cast<std::uint8_t>(v));
}

void encoder::put_be64(std::uint64_t v) {
  put_be32(static_cast<std::uint32_t>(v >> 32));
  put_be32(static_cast<std::uint32_t>(v));
}

void encoder::write_null() {
  put(code::null);
}
void encoder::write_bool(bool v) {
  put(v ? code::bool_true : code::bool_false);
}

void encoder::write_ubyte(std::uint8_t v) {
  put(code::ubyte);
  put(v);
}

void encoder::write_ushort(std::uint16_t v) {
  put(code::ushort);
  put_be16(v);
}

void encoder::write_uint(std::uint32_t v) {
  if (v == 0) {
    put(code::uint0);
  } else if (v <= 0xff) {
    put(code::smalluint);
    put(static_cast<std::uint8_t>(v));
  } else {
    put(code::uint);
    put_be32(v);
  }
}

void encoder::write_ulong(std::uint64_t v) {
  if (v == 0) {
    put(code::ulong0);
  } else if (v <= 0xff) {
    put(code::smallulong);
    put(static_cast<std::uint8_t>(v));
  } else {
    put(code::ulong);
    put_be64(v);
  }
}

void encoder::write_byte(std::int8_t v) {
  put(code::byte);
  put(static_cast<std::uint8_t>(v));
}

void encoder::write_short(std::int16_t v) {
  put(code::short_);
  put_be16(static_cast<std::uint16_t>(v));
}

void encoder::write_int(std::int32_t v) {
  if (v >= -128 && v <= 127) {
    put(code::smallint);
    put(static_cast<std::uint8_t>(static_cast<std::int8_t>(v)));
  } else {
    put(code::int_);
    put_be32(static_cast<std::uint32_t>(v));
  }
}

void encoder::write_long(std::int64_t v) {
  if (v >= -128 && v <= 127) {
    put(code::smalllong);
    put(static_cast<std::uint8_t>(static_cast<std::int8_t>(v)));
  } else {
    put(code::long_);
    put_be64(static_cast<std::uint64_t>(v));
  }
}

void encoder::write_float(float v) {
  put(code::float_);
  put_be32(std::bit_cast<std::uint32_t>(v));
}

void encoder::write_double(double v) {
  put(code::double_);
  put_be64(std::bit_cast<std::uint64_t>(v));
}

void encoder::write_char(std::uint32_t v) {
  put(code::char_);
  put_be32(v);
}

void encoder::write_timestamp(std::int64_t ms) {
  put(code::timestamp);
  put_be64(static_cast<std::uint64_t>(ms));
}

void encoder::write_uuid(const std::array<std::uint8_t, 16>& v) {
  put(code::uuid);
  out_->insert(out_->end(), v.begin(), v.end());
}

namespace {
inline void put_variable(byte_buffer& out, std::uint8_t c8, std::uint8_t c32, const void* data,
                         std::size_t n) {
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  if (n <= 0xff) {
    out.push_back(c8);
    out.push_back(static_cast<std::uint8_t>(n));
  } else {
    const auto len = static_cast<std::uint32_t>(n);
    out.push_back(c32);
    out.push_back(static_cast<std::uint8_t>(len >> 24));
    out.push_back(static_cast<std::uint8_t>(len >> 16));
    out.push_back(static_cast<std::uint8_t>(len >> 8));
    out.push_back(static_cast<std::uint8_t>(len));
  }
  if (n <= 16) {
    for (std::size_t i = 0; i < n; ++i) out.push_back(bytes[i]);
  } else {
    out.insert(out.end(), bytes, bytes + n);
  }
}

inline void store_be32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

template <class Strings>
void write_symbols(byte_buffer& out, const Strings& symbols) {
  if (symbols.empty()) {
    out.push_back(code::null);
    return;
  }
  bool wide = false;
  std::size_t content = 0;
  for (const auto& s : symbols) {
    if (s.size() > 0xff) wide = true;
    content += s.size();
  }
  content += symbols.size() * (wide ? 4 : 1);
  const std::size_t count = symbols.size();
  // size counts the count field, the element constructor and the elements.
  if (count <= 0xff && content + 2 <= 0xff) {
    out.push_back(code::array8);
    out.push_back(static_cast<std::uint8_t>(content + 2));
    out.push_back(static_cast<std::uint8_t>(count));
  } else {
    out.push_back(code::array32);
    std::uint8_t h[8];
    store_be32(h, static_cast<std::uint32_t>(content + 5));
    store_be32(h + 4, static_cast<std::uint32_t>(count));
    out.insert(out.end(), h, h + 8);
  }
  out.push_back(wide ? code::sym32 : code::sym8);
  for (const auto& s : symbols) {
    if (wide) {
      std::uint8_t h[4];
      store_be32(h, static_cast<std::uint32_t>(s.size()));
      out.insert(out.end(), h, h + 4);
    } else {
      out.push_back(static_cast<std::uint8_t>(s.size()));
    }
    const auto* b = reinterpret_cast<const std::uint8_t*>(s.data());
    out.insert(out.end(), b, b + s.size());
  }
}
}  // namespace

void encoder::write_binary(bytes_view v) {
  put_variable(*out_, code::vbin8, code::vbin32, v.data(), v.size());
}

void encoder::write_string(std::string_view v) {
  put_variable(*out_, code::str8, code::str32, v.data(), v.size());
}

void encoder::write_symbol(std::string_view v) {
  put_variable(*out_, code::sym8, code::sym32, v.data(), v.size());
}

void encoder::write_symbol_array(std::span<const std::string_view> symbols) {
  write_symbols(*out_, symbols);
}

void encoder::write_symbol_array(std::span<const std::string> symbols) {
  write_symbols(*out_, symbols);
}

void encoder::write_descriptor(std::uint64_t code) {
  if (code <= 0xff) {
    put(code::described);
    put(code::smallulong);
    put(static_cast<std::uint8_t>(code));
  } else {
    put(code::described);
    put(code::ulong);
    put_be64(code);
  }
}

void encoder::write_descriptor(std::string_view symbol) {
  put(code::described);
  write_symbol(symbol);
}

namespace {
// Compounds are opened with room for the 32-bit form (code + size + count) and shrunk on close.
constexpr std::size_t compound32_header = 9;

void end_compound(byte_buffer& out, std::size_t marker, std::uint32_t count, std::uint8_t c8,
                  std::uint8_t c32, std::uint8_t c0) {
  const std::size_t content = out.size() - marker - compound32_header;
  std::uint8_t* p = out.data() + marker;
  if (content == 0 && count == 0 && c0 != 0) {
    p[0] = c0;
    out.resize(marker + 1);
  } else if (content + 1 <= 0xff && count <= 0xff) {
    p[0] = c8;
    p[1] = static_cast<std::uint8_t>(content + 1);
    p[2] = static_cast<std::uint8_t>(count);
    std::memmove(p + 3, p + compound32_header, content);
    out.resize(marker + 3 + content);
  } else {
    p[0] = c32;
    store_be32(p + 1, static_cast<std::uint32_t>(content + 4));
    store_be32(p + 5, count);
  }
}
}  // namespace

std::size_t encoder::begin_list() {
  const std::size_t marker = out_->size();
  for (std::size_t i = 0; i < compound32_header; ++i) put(0);
  return marker;
}

void encoder::end_list(std::size_t marker, std::uint32_t count) {
  end_compound(*out_, marker, count, code::list8, code::list32, code::list0);
}

std::size_t encoder::begin_map() {
  return begin_list();
}

void encoder::end_map(std::size_t marker, std::uint32_t count) {
  end_compound(*out_, marker, count, code::map8, code::map32, 0);
}

void encoder::write_raw(bytes_view encoded) {
  out_->insert(out_->end(), encoded.begin(), encoded.end());
}

}  // namespace fogmesh::router::amqp
