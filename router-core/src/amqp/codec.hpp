// AMQP 1.0 type system codec (OASIS AMQP 1.0 part 1). The decoder is a cursor over bytes that
// stay where they were received: strings, symbols and binaries come back as views into the
// input, nothing is allocated. The encoder appends to a caller-owned byte vector, which the
// engine reuses per connection so steady-state encoding does not allocate either.
//
// Thread: any; objects are not shared. Never throws on bad input: every read returns result<T>.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include "fogmesh/common/result.hpp"

namespace fogmesh::router::amqp {

using bytes_view = std::span<const std::uint8_t>;
using byte_buffer = std::vector<std::uint8_t>;

enum class codec_errc {
  truncated = 1,        // value runs past the end of the input
  invalid_constructor,  // unknown format code
  unexpected_type,      // valid value, but not of the type the caller asked for
  invalid_descriptor,   // described type with an unknown or malformed descriptor
  invalid_value,        // e.g. list count larger than its size allows, bad bool byte
  missing_field,        // mandatory field of a composite absent or null
  too_deep,             // nesting beyond the decoder's limit (defends against stack abuse)
};
const std::error_category& codec_category() noexcept;
std::error_code make_error_code(codec_errc e) noexcept;

// Format codes, part 1 §1.6.
namespace code {
inline constexpr std::uint8_t described = 0x00;
inline constexpr std::uint8_t null = 0x40;
inline constexpr std::uint8_t boolean = 0x56, bool_true = 0x41, bool_false = 0x42;
inline constexpr std::uint8_t ubyte = 0x50, ushort = 0x60;
inline constexpr std::uint8_t uint = 0x70, smalluint = 0x52, uint0 = 0x43;
inline constexpr std::uint8_t ulong = 0x80, smallulong = 0x53, ulong0 = 0x44;
inline constexpr std::uint8_t byte = 0x51, short_ = 0x61;
inline constexpr std::uint8_t int_ = 0x71, smallint = 0x54;
inline constexpr std::uint8_t long_ = 0x81, smalllong = 0x55;
inline constexpr std::uint8_t float_ = 0x72, double_ = 0x82;
inline constexpr std::uint8_t decimal32 = 0x74, decimal64 = 0x84, decimal128 = 0x94;
inline constexpr std::uint8_t char_ = 0x73, timestamp = 0x83, uuid = 0x98;
inline constexpr std::uint8_t vbin8 = 0xa0, vbin32 = 0xb0;
inline constexpr std::uint8_t str8 = 0xa1, str32 = 0xb1;
inline constexpr std::uint8_t sym8 = 0xa3, sym32 = 0xb3;
inline constexpr std::uint8_t list0 = 0x45, list8 = 0xc0, list32 = 0xd0;
inline constexpr std::uint8_t map8 = 0xc1, map32 = 0xd1;
inline constexpr std::uint8_t array8 = 0xe0, array32 = 0xf0;
}  // namespace code

// Nesting limit of the decoder: deeper compounds/descriptors fail with too_deep.
inline constexpr int max_decode_depth = 32;

// A descriptor of a described type: either a numeric code (domain<<32 | id) or a symbol.
struct descriptor {
  std::uint64_t code = 0;
  std::string_view symbol;  // non-empty when the descriptor was a symbol
  bool is_symbol() const noexcept { return !symbol.empty(); }
};

// Cursor-based reader. Copyable (a copy is an independent cursor over the same bytes).
class decoder {
 public:
  decoder() = default;
  explicit decoder(bytes_view data, int depth = 0) : data_(data), depth_(depth) {}

  bool at_end() const noexcept { return pos_ >= data_.size(); }
  std::size_t position() const noexcept { return pos_; }
  bytes_view remaining() const noexcept { return data_.subspan(pos_); }
  bytes_view data() const noexcept { return data_; }

  // Format code of the next value without consuming it (0x00 for a described value).
  result<std::uint8_t> peek_code() const;
  // True when the next value is null (0x40). False at end of input.
  bool next_is_null() const noexcept;
  // True when the next value is described (0x00). False at end of input.
  bool next_is_described() const noexcept;
  int depth() const noexcept { return depth_; }
  // Moves the cursor n bytes on (n <= remaining().size()), for callers that parsed the bytes
  // themselves on a hot path.
  void advance(std::size_t n) noexcept { pos_ += n; }

  result<void> read_null();
  result<bool> read_bool();
  result<std::uint8_t> read_ubyte();
  result<std::uint16_t> read_ushort();
  result<std::uint32_t> read_uint();  // accepts uint, smalluint, uint0
  result<std::uint64_t> read_ulong();  // accepts ulong, smallulong, ulong0
  result<std::int8_t> read_byte();
  result<std::int16_t> read_short();
  result<std::int32_t> read_int();
  result<std::int64_t> read_long();
  result<float> read_float();
  result<double> read_double();
  result<std::uint32_t> read_char();
  result<std::int64_t> read_timestamp();  // milliseconds since the Unix epoch
  result<std::array<std::uint8_t, 16>> read_uuid();
  result<bytes_view> read_binary();
  result<std::string_view> read_string();
  result<std::string_view> read_symbol();

  // A list or map: count of elements (a map counts keys and values) and a decoder over exactly
  // their bytes. The outer cursor moves past the whole compound. (Defined after the class:
  // a member of the enclosing class's own type needs that class complete.)
  struct compound;
  result<compound> read_list();  // list0, list8, list32
  result<compound> read_map();   // map8, map32

  // An array: one element constructor shared by `count` elements. For described elements,
  // element_descriptor is set and element_code is the code of the underlying values.
  struct array {
    std::uint32_t count = 0;
    std::uint8_t element_code = 0;
    std::optional<descriptor> element_descriptor;
    bytes_view element_bytes;  // the packed element values (without their shared constructor)
  };
  result<array> read_array();

  // Reads an array of symbols or a single symbol (AMQP "multiple" fields) into views.
  result<void> read_symbols(std::vector<std::string_view>& out);

  // Consumes 0x00 and the descriptor; the described value follows.
  result<descriptor> read_descriptor();

  // Skips the next value of any type (including described values) and returns its bytes,
  // constructor included.
  result<bytes_view> skip_value();

 private:
  result<bytes_view> take(std::size_t n);
  bytes_view data_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

struct decoder::compound {
  std::uint32_t count = 0;
  decoder elements;
};

// Appends encoded values to a byte_buffer. Integers use the smallest legal encoding.
class encoder {
 public:
  explicit encoder(byte_buffer& out) : out_(&out) {}

  byte_buffer& buffer() noexcept { return *out_; }

  void write_null();
  void write_bool(bool v);
  void write_ubyte(std::uint8_t v);
  void write_ushort(std::uint16_t v);
  void write_uint(std::uint32_t v);
  void write_ulong(std::uint64_t v);
  void write_byte(std::int8_t v);
  void write_short(std::int16_t v);
  void write_int(std::int32_t v);
  void write_long(std::int64_t v);
  void write_float(float v);
  void write_double(double v);
  void write_char(std::uint32_t v);
  void write_timestamp(std::int64_t ms);
  void write_uuid(const std::array<std::uint8_t, 16>& v);
  void write_binary(bytes_view v);
  void write_string(std::string_view v);
  void write_symbol(std::string_view v);
  // An array of symbols (sym8 or sym32 elements as needed); an empty span writes null.
  void write_symbol_array(std::span<const std::string_view> symbols);
  void write_symbol_array(std::span<const std::string> symbols);

  // Writes 0x00 + smallulong descriptor code.
  void write_descriptor(std::uint64_t code);
  void write_descriptor(std::string_view symbol);

  // Compounds: begin returns a marker, end back-patches size and count. end_list/end_map pick
  // list0/list8/map8 when the content is small enough, moving the content down as needed.
  std::size_t begin_list();
  void end_list(std::size_t marker, std::uint32_t count);
  std::size_t begin_map();
  void end_map(std::size_t marker, std::uint32_t count);  // count = keys + values

  // Appends bytes that already are one encoded value (e.g. a map kept from a decoded frame).
  void write_raw(bytes_view encoded);

 private:
  void put(std::uint8_t b) { out_->push_back(b); }
  void put_be16(std::uint16_t v);
  void put_be32(std::uint32_t v);
  void put_be64(std::uint64_t v);
  byte_buffer* out_;
};

}  // namespace fogmesh::router::amqp

template <>
struct std::is_error_code_enum<fogmesh::router::amqp::codec_errc> : std::true_type {};
