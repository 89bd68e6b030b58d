// ioMessage codecs: ioFog binary v4, ioFog JSON, FlatBuffers. See iomessage.hpp for the
// tolerance rules and iofog-control-plane.md §3 for the layout.
#include "fogmesh/agent/iomessage.hpp"

#include <flatbuffers/flatbuffers.h>

#include <array>
#include <boost/json.hpp>
#include <charconv>
#include <limits>
#include <random>

#include "fogmesh/agent/message_id.hpp"
#include "fogmesh/common/json_text.hpp"
#include "iomessage_generated.h"

namespace fogmesh::agent {

namespace {

class iomessage_category_impl : public std::error_category {
 public:
  const char* name() const noexcept override { return "fogmesh.iomessage"; }
  std::string message(int ev) const override {
    switch (static_cast<iomessage_errc>(ev)) {
      case iomessage_errc::truncated:
        return "ioMessage is truncated";
      case iomessage_errc::trailing_bytes:
        return "ioMessage has trailing bytes";
      case iomessage_errc::field_too_long:
        return "ioMessage field too long";
      case iomessage_errc::bad_json:
        return "ioMessage JSON is invalid";
      case iomessage_errc::bad_base64:
        return "ioMessage base64 data is invalid";
      case iomessage_errc::bad_flatbuffer:
        return "ioMessage FlatBuffer is invalid";
      case iomessage_errc::bad_string:
        return "ioMessage string is not UTF-8";
    }
    return "unknown ioMessage error";
  }
};

iomessage_decode_result fail(iomessage_errc code, std::string message) {
  iomessage_decode_result r;
  r.error = iomessage_error{code, std::move(message)};
  return r;
}

// The binary header: for each field, where its length lives and how wide that slot is.
enum class kind { string, number, bytes };
struct field_slot {
  const char* name;
  size_t offset;  // of the length slot in the header
  size_t width;   // bytes of the length slot
  kind type;
  size_t max_number_width;  // for numbers: the C++ type's size
};
// Values follow the header in exactly this order.
constexpr std::array<field_slot, 19> binary_fields = {{
    {"id", 2, 1, kind::string, 0},
    {"tag", 3, 2, kind::string, 0},
    {"groupid", 5, 1, kind::string, 0},
    {"sequencenumber", 6, 1, kind::number, 4},
    {"sequencetotal", 7, 1, kind::number, 4},
    {"priority", 8, 1, kind::number, 1},
    {"timestamp", 9, 1, kind::number, 8},
    {"publisher", 10, 1, kind::string, 0},
    {"authid", 11, 2, kind::string, 0},
    {"authgroup", 13, 2, kind::string, 0},
    {"chainposition", 15, 1, kind::number, 8},
    {"hash", 16, 2, kind::string, 0},
    {"previoushash", 18, 2, kind::string, 0},
    {"nonce", 20, 2, kind::string, 0},
    {"difficultytarget", 22, 1, kind::number, 4},
    {"infotype", 23, 1, kind::string, 0},
    {"infoformat", 24, 1, kind::string, 0},
    {"contextdata", 25, 4, kind::bytes, 0},
    {"contentdata", 29, 4, kind::bytes, 0},
}};

void put_be(std::vector<uint8_t>& out, uint64_t value, size_t width) {
  for (size_t i = width; i-- > 0;) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}
uint64_t get_be(const uint8_t* p, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v = (v << 8) | p[i];
  return v;
}

// Minimal-width big-endian, zero as length 0 (as the Java agent writes it). Negative numbers
// use the type's full width so they read back as two's complement.
size_t number_width(int64_t value, size_t max_width) {
  if (value == 0) return 0;
  if (value < 0) return max_width;
  // A positive value of a signed type never sets the top bit at full width, so the minimal
  // width reads back as the same (unsigned) value.
  size_t w = 0;
  for (uint64_t v = static_cast<uint64_t>(value); v != 0; v >>= 8) ++w;
  return w;
}

int64_t get_field_number(const io_message& m, size_t i) {
  switch (i) {
    case 3:
      return m.sequence_number;
    case 4:
      return m.sequence_total;
    case 5:
      return m.priority;
    case 6:
      return m.timestamp;
    case 10:
      return m.chain_position;
    case 14:
      return m.difficulty_target;
    default:
      return 0;
  }
}

const std::string& get_field_string(const io_message& m, size_t i) {
  switch (i) {
    case 0:
      return m.id;
    case 1:
      return m.tag;
    case 2:
      return m.group_id;
    case 7:
      return m.publisher;
    case 8:
      return m.auth_id;
    case 9:
      return m.auth_group;
    case 11:
      return m.hash;
    case 12:
      return m.previous_hash;
    case 13:
      return m.nonce;
    case 15:
      return m.info_type;
    default:
      return m.info_format;  // 16
  }
}

std::string* field_string(io_message& m, size_t i) {
  return const_cast<std::string*>(&get_field_string(m, i));
}

void set_field_number(io_message& m, size_t i, int64_t v) {
  switch (i) {
    case 3:
      m.sequence_number = static_cast<int32_t>(v);
      break;
    case 4:
      m.sequence_total = static_cast<int32_t>(v);
      break;
    case 5:
      m.priority = static_cast<int8_t>(v);
      break;
    case 6:
      m.timestamp = v;
      break;
    case 10:
      m.chain_position = v;
      break;
    case 14:
      m.difficulty_target = static_cast<int32_t>(v);
      break;
    default:
      break;
  }
}

// Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF): a string that is not must be
// rejected here, or it would turn into invalid JSON on the way to /v2/messages/next.
bool valid_utf8(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    static constexpr uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

}  // namespace

const std::error_category& iomessage_category() noexcept {
  static const iomessage_category_impl category;
  return category;
}

// --- binary ---

result<std::vector<uint8_t>> encode_binary(const io_message& m) {
  std::vector<uint8_t> out(iomessage_header_size, 0);
  out[0] = static_cast<uint8_t>(m.version >> 8);
  out[1] = static_cast<uint8_t>(m.version);
  for (size_t i = 0; i < binary_fields.size(); ++i) {
    const auto& f = binary_fields[i];
    uint64_t length = 0;
    if (f.type == kind::string) {
      const std::string& s = get_field_string(m, i);
      length = s.size();  // bytes of UTF-8, not UTF-16 units (the Java writer's bug)
      if (length >= (uint64_t{1} << (8 * f.width)))
        return unexpected(iomessage_errc::field_too_long);
      out.insert(out.end(), s.begin(), s.end());
    } else if (f.type == kind::number) {
      int64_t v = get_field_number(m, i);
      length = number_width(v, f.max_number_width);
      put_be(out, static_cast<uint64_t>(v), length);
    } else {
      const auto& data = i == 17 ? m.context_data : m.content_data;
      length = data.size();
      if (length > std::numeric_limits<uint32_t>::max()) {
        return unexpected(iomessage_errc::field_too_long);
      }
      out.insert(out.end(), data.begin(), data.end());
    }
    for (size_t b = 0; b < f.width; ++b) {
      out[f.offset + b] = static_cast<uint8_t>(length >> (8 * (f.width - 1 - b)));
    }
  }
  return out;
}

iomessage_decode_result decode_binary(std::span<const uint8_t> bytes) {
  if (bytes.size() < iomessage_header_size) {
    return fail(iomessage_errc::truncated, "ioMessage is " + std::to_string(bytes.size()) +
                                               " bytes, shorter than its 33-byte header");
  }
  iomessage_decode_result r;
  io_message& m = r.message;
  m.version = static_cast<uint16_t>(get_be(bytes.data(), 2));
  size_t pos = iomessage_header_size;
  for (size_t i = 0; i < binary_fields.size(); ++i) {
    const auto& f = binary_fields[i];
    uint64_t length = get_be(bytes.data() + f.offset, f.width);
    if (length > bytes.size() - pos) {
      return fail(iomessage_errc::truncated, std::string("field '") + f.name + "' needs " +
                                                 std::to_string(length) + " bytes at offset " +
                                                 std::to_string(pos) + " but only " +
                                                 std::to_string(bytes.size() - pos) + " remain");
    }
    const uint8_t* value = bytes.data() + pos;
    if (f.type == kind::string) {
      if (!valid_utf8(value, length)) {
        return fail(iomessage_errc::bad_string, std::string("field '") + f.name + "' at offset " +
                                                    std::to_string(pos) + " is not valid UTF-8");
      }
      field_string(m, i)->assign(reinterpret_cast<const char*>(value), length);
    } else if (f.type == kind::number) {
      if (length > 8) {
        return fail(iomessage_errc::field_too_long, std::string("number field '") + f.name +
                                                        "' has length " + std::to_string(length) +
                                                        " (at most 8)");
      }
      uint64_t raw = get_be(value, length);
      int64_t v;
      // Full type width (or wider) is two's complement as Java writes it; shorter is the
      // Python SDK's minimal unsigned form.
      if (length >= f.max_number_width && length > 0) {
        uint64_t sign_bit = uint64_t{1} << (8 * length - 1);
        v = (raw & sign_bit) != 0 && length < 8
                ? static_cast<int64_t>(raw) - static_cast<int64_t>(sign_bit << 1)
                : static_cast<int64_t>(raw);
      } else {
        v = static_cast<int64_t>(raw);
      }
      int64_t lo = -(int64_t{1} << (8 * f.max_number_width - 1));
      int64_t hi = f.max_number_width == 8 ? std::numeric_limits<int64_t>::max()
                                           : (int64_t{1} << (8 * f.max_number_width - 1)) - 1;
      if (f.max_number_width < 8 && (v < lo || v > hi)) {
        return fail(iomessage_errc::field_too_long, std::string("number field '") + f.name +
                                                        "' value " + std::to_string(v) +
                                                        " is out of range");
      }
      set_field_number(m, i, v);
    } else {
      auto& data = i == 17 ? m.context_data : m.content_data;
      data.assign(value, value + length);
    }
    pos += length;
  }
  if (pos != bytes.size()) {
    return fail(iomessage_errc::trailing_bytes, std::to_string(bytes.size() - pos) +
                                                    " bytes after the last field (at offset " +
                                                    std::to_string(pos) + ")");
  }
  return r;
}

// --- base64 ---

namespace {

constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Sextet of each character: both alphabets (standard "+/" and URL-safe "-_"); 64 = '=' or
// whitespace (the slow path's business), 255 = never valid.
constexpr std::array<uint8_t, 256> base64_values = [] {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = 255;
  for (int i = 0; i < 64; ++i)
    t[static_cast<uint8_t>(base64_alphabet[i])] = static_cast<uint8_t>(i);
  t['-'] = 62;
  t['_'] = 63;
  for (char c : {'=', '\n', '\r', ' ', '\t'}) t[static_cast<uint8_t>(c)] = 64;
  return t;
}();

void base64_encode_to(std::span<const uint8_t> data, char* out) {
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t n = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out[0] = base64_alphabet[(n >> 18) & 63];
    out[1] = base64_alphabet[(n >> 12) & 63];
    out[2] = base64_alphabet[(n >> 6) & 63];
    out[3] = base64_alphabet[n & 63];
    out += 4;
  }
  if (i + 1 == data.size()) {
    uint32_t n = uint32_t{data[i]} << 16;
    out[0] = base64_alphabet[(n >> 18) & 63];
    out[1] = base64_alphabet[(n >> 12) & 63];
    out[2] = '=';
    out[3] = '=';
  } else if (i + 2 == data.size()) {
    uint32_t n = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out[0] = base64_alphabet[(n >> 18) & 63];
    out[1] = base64_alphabet[(n >> 12) & 63];
    out[2] = base64_alphabet[(n >> 6) & 63];
    out[3] = '=';
  }
}

constexpr size_t base64_size(size_t bytes) {
  return (bytes + 2) / 3 * 4;
}

}  // namespace

std::string base64_encode(std::span<const uint8_t> data) {
  std::string out(base64_size(data.size()), '\0');
  base64_encode_to(data, out.data());
  return out;
}

bool base64_decode(std::string_view text, std::vector<uint8_t>& out) {
  out.resize(text.size() / 4 * 3 + 3);
  uint8_t* o = out.data();
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const auto* end = p + text.size();
  // Fast path: whole groups of four data characters (the usual padded or unpadded text).
  while (end - p >= 4) {
    uint32_t a = base64_values[p[0]], b = base64_values[p[1]], c = base64_values[p[2]],
             d = base64_values[p[3]];
    if ((a | b | c | d) >= 64) break;  // padding, whitespace or junk: the careful loop below
    uint32_t n = (a << 18) | (b << 12) | (c << 6) | d;
    o[0] = static_cast<uint8_t>(n >> 16);
    o[1] = static_cast<uint8_t>(n >> 8);
    o[2] = static_cast<uint8_t>(n);
    o += 3;
    p += 4;
  }
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (; p < end; ++p) {
    uint8_t v = base64_values[*p];
    if (v == 255) return false;
    if (v == 64) {
      if (*p == '=') padding = true;  // else MIME line breaks and blanks: skipped
      continue;
    }
    if (padding) return false;  // data after '='
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      // Tolerant input (blanks, line breaks) may need more room than the estimate.
      if (o == out.data() + out.size()) {
        size_t at = out.size();
        out.resize(at + 3);
        o = out.data() + at;
      }
      *o++ = static_cast<uint8_t>(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  out.resize(static_cast<size_t>(o - out.data()));
  // 6 leftover bits can't come from any byte sequence.
  return bits < 6;
}

// --- JSON ---

namespace {

void append_json_number(std::string& out, int64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

}  // namespace

// Written by hand (not through boost::json::object): the AMQP path encodes one per message.
// Same keys, order and escaping as boost::json::serialize of the object.
std::string encode_json(const io_message& m) {
  std::string out;
  out.reserve(400 + m.tag.size() + m.hash.size() + m.previous_hash.size() + m.nonce.size() +
              base64_size(m.context_data.size()) + base64_size(m.content_data.size()));
  auto str = [&out](const char* key, const std::string& value) {
    out += key;
    append_json_string(out, value);
  };
  auto num = [&out](const char* key, int64_t value) {
    out += key;
    append_json_number(out, value);
  };
  auto bytes = [&out](const char* key, const std::vector<uint8_t>& value) {
    out += key;
    out += '"';
    size_t at = out.size();
    out.resize(at + base64_size(value.size()));
    base64_encode_to(value, out.data() + at);
    out += '"';
  };
  str("{\"id\":", m.id);
  str(",\"tag\":", m.tag);
  str(",\"groupid\":", m.group_id);
  num(",\"sequencenumber\":", m.sequence_number);
  num(",\"sequencetotal\":", m.sequence_total);
  num(",\"priority\":", m.priority);
  num(",\"timestamp\":", m.timestamp);
  str(",\"publisher\":", m.publisher);
  str(",\"authid\":", m.auth_id);
  str(",\"authgroup\":", m.auth_group);
  num(",\"version\":", m.version);
  num(",\"chainposition\":", m.chain_position);
  str(",\"hash\":", m.hash);
  str(",\"previoushash\":", m.previous_hash);
  str(",\"nonce\":", m.nonce);
  num(",\"difficultytarget\":", m.difficulty_target);
  str(",\"infotype\":", m.info_type);
  str(",\"infoformat\":", m.info_format);
  bytes(",\"contextdata\":", m.context_data);
  bytes(",\"contentdata\":", m.content_data);
  out += '}';
  return out;
}

namespace {

// Reads an integer that may be a JSON number (integral or a float with no fraction) or a
// numeric string; null/missing leave the default.
std::optional<iomessage_error> read_int(const boost::json::object& o, const char* key, int64_t lo,
                                        int64_t hi, int64_t& out) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::nullopt;
  const auto& v = it->value();
  int64_t n = 0;
  bool ok = true;
  if (v.is_int64()) {
    n = v.get_int64();
  } else if (v.is_uint64()) {
    ok = v.get_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    n = static_cast<int64_t>(v.get_uint64());
  } else if (v.is_double()) {
    double d = v.get_double();
    ok = d == static_cast<double>(static_cast<int64_t>(d));
    n = static_cast<int64_t>(d);
  } else if (v.is_string()) {
    auto s = v.get_string();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    ok = ec == std::errc() && p == s.data() + s.size();
  } else if (v.is_bool()) {
    n = v.get_bool() ? 1 : 0;
  } else {
    ok = false;
  }
  if (!ok) {
    return iomessage_error{iomessage_errc::bad_json,
                           std::string("field '") + key + "' must be an integer"};
  }
  if (n < lo || n > hi) {
    return iomessage_error{iomessage_errc::bad_json, std::string("field '") + key + "' value " +
                                                         std::to_string(n) + " is out of range"};
  }
  out = n;
  return std::nullopt;
}

std::optional<iomessage_error> read_string(const boost::json::object& o, const char* key,
                                           std::string& out) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::nullopt;
  if (!it->value().is_string()) {
    return iomessage_error{iomessage_errc::bad_json,
                           std::string("field '") + key + "' must be a string"};
  }
  out = std::string(it->value().get_string());
  return std::nullopt;
}

std::optional<iomessage_error> read_base64(const boost::json::object& o, const char* key,
                                           std::vector<uint8_t>& out) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::nullopt;
  if (!it->value().is_string()) {
    return iomessage_error{iomessage_errc::bad_json,
                           std::string("field '") + key + "' must be a string"};
  }
  auto text = it->value().get_string();
  if (!base64_decode(std::string_view(text.data(), text.size()), out)) {
    return iomessage_error{iomessage_errc::bad_base64,
                           std::string("field '") + key + "' is not valid base64"};
  }
  return std::nullopt;
}

}  // namespace

iomessage_decode_result decode_json(std::string_view text) {
  // The parsed tree lives in a buffer on the stack (growing onto the heap only for large
  // messages): the AMQP path decodes one message per delivery, and a malloc per JSON value
  // showed in its profile.
  unsigned char arena[8192];
  boost::json::monotonic_resource resource(arena, sizeof arena);
  boost::system::error_code ec;
  auto value = boost::json::parse(text, ec, &resource);
  if (ec) return fail(iomessage_errc::bad_json, "not JSON: " + ec.message());
  if (!value.is_object()) return fail(iomessage_errc::bad_json, "ioMessage must be a JSON object");
  const auto& o = value.get_object();
  iomessage_decode_result r;
  io_message& m = r.message;
  auto check = [&r](std::optional<iomessage_error> e) {
    if (e && !r.error) r.error = std::move(e);
  };
  constexpr int64_t i32_min = std::numeric_limits<int32_t>::min();
  constexpr int64_t i32_max = std::numeric_limits<int32_t>::max();
  int64_t n = m.version;
  check(read_int(o, "version", 0, 65535, n));
  m.version = static_cast<uint16_t>(n);
  check(read_string(o, "id", m.id));
  check(read_string(o, "tag", m.tag));
  check(read_string(o, "groupid", m.group_id));
  n = 0;
  check(read_int(o, "sequencenumber", i32_min, i32_max, n));
  m.sequence_number = static_cast<int32_t>(n);
  n = 0;
  check(read_int(o, "sequencetotal", i32_min, i32_max, n));
  m.sequence_total = static_cast<int32_t>(n);
  n = 0;
  check(read_int(o, "priority", -128, 127, n));
  m.priority = static_cast<int8_t>(n);
  n = 0;
  check(read_int(o, "timestamp", std::numeric_limits<int64_t>::min(),
                 std::numeric_limits<int64_t>::max(), n));
  m.timestamp = n;
  check(read_string(o, "publisher", m.publisher));
  check(read_string(o, "authid", m.auth_id));
  check(read_string(o, "authgroup", m.auth_group));
  n = 0;
  check(read_int(o, "chainposition", std::numeric_limits<int64_t>::min(),
                 std::numeric_limits<int64_t>::max(), n));
  m.chain_position = n;
  check(read_string(o, "hash", m.hash));
  check(read_string(o, "previoushash", m.previous_hash));
  check(read_string(o, "nonce", m.nonce));
  n = 0;
  check(read_int(o, "difficultytarget", i32_min, i32_max, n));
  m.difficulty_target = static_cast<int32_t>(n);
  check(read_string(o, "infotype", m.info_type));
  check(read_string(o, "infoformat", m.info_format));
  check(read_base64(o, "contextdata", m.context_data));
  check(read_base64(o, "contentdata", m.content_data));
  return r;
}

// --- FlatBuffers ---

std::vector<uint8_t> encode_flatbuffer(const io_message& m) {
  flatbuffers::FlatBufferBuilder b(256 + m.content_data.size() + m.context_data.size());
  auto str = [&b](const std::string& s) { return b.CreateString(s); };
  auto id = str(m.id), tag = str(m.tag), group = str(m.group_id), pub = str(m.publisher),
       auth_id = str(m.auth_id), auth_group = str(m.auth_group), hash = str(m.hash),
       prev = str(m.previous_hash), nonce = str(m.nonce), info_type = str(m.info_type),
       info_format = str(m.info_format);
  auto context = b.CreateVector(m.context_data);
  auto content = b.CreateVector(m.content_data);
  auto root = iomessage::fb::CreateIoMessage(
      b, m.version, id, tag, group, m.sequence_number, m.sequence_total, m.priority, m.timestamp,
      pub, auth_id, auth_group, m.chain_position, hash, prev, nonce, m.difficulty_target, info_type,
      info_format, context, content);
  iomessage::fb::FinishIoMessageBuffer(b, root);
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

iomessage_decode_result decode_flatbuffer(std::span<const uint8_t> bytes) {
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  if (!iomessage::fb::VerifyIoMessageBuffer(verifier)) {
    return fail(iomessage_errc::bad_flatbuffer,
                "not an ioMessage FlatBuffer (identifier IOM4) or fails verification");
  }
  const auto* fb = iomessage::fb::GetIoMessage(bytes.data());
  iomessage_decode_result r;
  io_message& m = r.message;
  auto str = [](const flatbuffers::String* s) { return s ? s->str() : std::string(); };
  auto vec = [](const flatbuffers::Vector<uint8_t>* v) {
    return v ? std::vector<uint8_t>(v->begin(), v->end()) : std::vector<uint8_t>();
  };
  m.version = fb->version();
  m.id = str(fb->id());
  m.tag = str(fb->tag());
  m.group_id = str(fb->group_id());
  m.sequence_number = fb->sequence_number();
  m.sequence_total = fb->sequence_total();
  m.priority = fb->priority();
  m.timestamp = fb->timestamp();
  m.publisher = str(fb->publisher());
  m.auth_id = str(fb->auth_id());
  m.auth_group = str(fb->auth_group());
  m.chain_position = fb->chain_position();
  m.hash = str(fb->hash());
  m.previous_hash = str(fb->previous_hash());
  m.nonce = str(fb->nonce());
  m.difficulty_target = fb->difficulty_target();
  m.info_type = str(fb->info_type());
  m.info_format = str(fb->info_format());
  m.context_data = vec(fb->context_data());
  m.content_data = vec(fb->content_data());
  return r;
}

std::string new_message_id() {
  thread_local std::mt19937_64 generator = [] {
    std::random_device os_entropy;
    std::array<std::random_device::result_type, 8> seed{};
    for (auto& word : seed) word = os_entropy();
    std::seed_seq sequence(seed.begin(), seed.end());
    return std::mt19937_64(sequence);
  }();
  static constexpr char digits[] = "0123456789abcdef";
  std::string id(32, '0');
  for (size_t half = 0; half < 2; ++half) {
    uint64_t bits = generator();
    for (size_t i = 0; i < 16; ++i) id[half * 16 + i] = digits[(bits >> (4 * i)) & 15];
  }
  return id;
}

}  // namespace fogmesh::agent
