#include "fogmesh/proxy/message_stream.hpp"

#include <algorithm>

#include "amqp/codec.hpp"

namespace fogmesh::proxy {

namespace amqp = fogmesh::router::amqp;

namespace {

class stream_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "fogmesh.proxy.message"; }
  std::string message(int ev) const override {
    switch (static_cast<stream_errc>(ev)) {
      case stream_errc::not_a_section: return "message section is not a described value";
      case stream_errc::unknown_section: return "unknown message section descriptor";
      case stream_errc::malformed_section: return "malformed message section";
      case stream_errc::section_too_large: return "message section too large";
      case stream_errc::truncated_message: return "message ends in the middle of a section";
      case stream_errc::unsupported_body: return "message body type cannot be mapped to HTTP";
      case stream_errc::bad_properties: return "malformed properties section";
      case stream_errc::bad_application_properties: return "malformed application-properties";
      case stream_errc::missing_method: return "request message without subject (HTTP method)";
      case stream_errc::bad_status: return "response subject is not an HTTP status code";
      case stream_errc::body_length_mismatch: return "body length differs from the announced length";
    }
    return "unknown message stream error";
  }
};

// Descriptor code of a message section, or 0 when `d` names none.
std::uint64_t section_code(const amqp::descriptor& d) noexcept {
  if (!d.is_symbol()) {
    return d.code >= section::header && d.code <= section::footer ? d.code : 0;
  }
  static constexpr std::pair<std::string_view, std::uint64_t> names[] = {
      {"amqp:header:list", section::header},
      {"amqp:delivery-annotations:map", section::delivery_annotations},
      {"amqp:message-annotations:map", section::message_annotations},
      {"amqp:properties:list", section::properties},
      {"amqp:application-properties:map", section::application_properties},
      {"amqp:data:binary", section::data},
      {"amqp:amqp-sequence:list", section::amqp_sequence},
      {"amqp:amqp-value:*", section::amqp_value},
      {"amqp:footer:map", section::footer},
  };
  for (const auto& [name, code] : names) {
    if (d.symbol == name) return code;
  }
  return 0;
}

struct analysis {
  enum class kind { need_more, whole, streamed } type = kind::need_more;
  std::uint64_t descriptor = 0;
  std::size_t size = 0;  // whole: section size; streamed: prefix size
  std::uint8_t value_code = 0;
  std::uint64_t length = 0;  // streamed payload length
};

bool is_truncation(std::error_code ec) { return ec == amqp::codec_errc::truncated; }

result<analysis> analyze(bytes_view view) {
  analysis a;
  if (view.empty()) return a;
  if (view[0] != amqp::code::described) return unexpected(stream_errc::not_a_section);
  amqp::decoder d(view);
  auto desc = d.read_descriptor();
  if (!desc) {
    if (is_truncation(desc.error())) return a;
    return unexpected(stream_errc::malformed_section);
  }
  a.descriptor = section_code(*desc);
  if (a.descriptor == 0) return unexpected(stream_errc::unknown_section);
  if (d.at_end()) return a;
  const std::uint8_t code = d.remaining()[0];
  const bool streamable = code == amqp::code::vbin8 || code == amqp::code::vbin32 ||
                          (a.descriptor == section::amqp_value &&
                           (code == amqp::code::str8 || code == amqp::code::str32));
  if (a.descriptor == section::data && !streamable) {
    return unexpected(stream_errc::malformed_section);
  }
  if ((a.descriptor == section::data || a.descriptor == section::amqp_value) && streamable) {
    const bool wide = code == amqp::code::vbin32 || code == amqp::code::str32;
    const std::size_t size_bytes = wide ? 4 : 1;
    const auto rest = d.remaining();
    if (rest.size() < 1 + size_bytes) return a;
    std::uint64_t length = 0;
    for (std::size_t i = 0; i < size_bytes; ++i) length = (length << 8) | rest[1 + i];
    a.type = analysis::kind::streamed;
    a.value_code = code;
    a.length = length;
    a.size = d.position() + 1 + size_bytes;
    return a;
  }
  auto value = d.skip_value();
  if (!value) {
    if (is_truncation(value.error())) return a;
    return unexpected(stream_errc::malformed_section);
  }
  a.type = analysis::kind::whole;
  a.size = d.position();
  return a;
}

}  // namespace

const std::error_category& stream_category() noexcept {
  static const stream_category_impl instance;
  return instance;
}
std::error_code make_error_code(stream_errc e) noexcept {
  return {static_cast<int>(e), stream_category()};
}

result<void> message_reader::fail(std::error_code ec) {
  error_ = ec;
  pending_.clear();
  return unexpected(ec);
}

result<void> message_reader::feed(bytes_view piece, bool complete, handler& h) {
  if (error_) return unexpected(error_);
  bytes_seen_ += piece.size();
  std::size_t pos = 0;
  for (;;) {
    if (in_payload_) {
      if (payload_left_ > 0) {
        if (pos == piece.size()) break;
        const auto n = static_cast<std::size_t>(
            std::min<std::uint64_t>(payload_left_, piece.size() - pos));
        auto r = h.on_body_data(piece.subspan(pos, n));
        pos += n;
        payload_left_ -= n;
        if (!r) return fail(r.error());
      }
      if (payload_left_ == 0) in_payload_ = false;
      continue;
    }
    if (pos == piece.size()) break;

    // Zero-copy when the section (or a streamed section's prefix) lies in this piece; else the
    // bytes collect in pending_, bounded by the section limit. Bytes appended to pending_
    // beyond the section are handed back to the piece (pos moves by what the section used).
    bytes_view view;
    std::size_t old_size = 0;
    const bool buffered = !pending_.empty();
    if (buffered) {
      old_size = pending_.size();
      const std::size_t cap = max_section_bytes_ + 16;
      const std::size_t take = std::min(piece.size() - pos, cap > old_size ? cap - old_size : 0);
      pending_.insert(pending_.end(), piece.begin() + static_cast<std::ptrdiff_t>(pos),
                      piece.begin() + static_cast<std::ptrdiff_t>(pos + take));
      view = pending_;
    } else {
      view = piece.subspan(pos);
    }
    auto a = analyze(view);
    if (!a) return fail(a.error());
    if (a->type == analysis::kind::need_more) {
      if (view.size() > max_section_bytes_) return fail(make_error_code(stream_errc::section_too_large));
      if (!buffered) pending_.assign(view.begin(), view.end());
      pos = piece.size();
      break;
    }
    if (a->type == analysis::kind::whole && a->size > max_section_bytes_) {
      return fail(make_error_code(stream_errc::section_too_large));
    }
    pos += buffered ? a->size - old_size : a->size;
    result<void> r;
    if (a->type == analysis::kind::whole) {
      r = h.on_section(a->descriptor, view.first(a->size));
    } else {
      r = h.on_body_begin(a->descriptor, a->value_code, a->length);
      in_payload_ = true;
      payload_left_ = a->length;
    }
    pending_.clear();
    if (!r) return fail(r.error());
  }
  if (complete && (in_payload_ || !pending_.empty())) {
    return fail(make_error_code(stream_errc::truncated_message));
  }
  return {};
}

void append_data_section_prefix(byte_buffer& out, std::uint32_t length) {
  out.insert(out.end(), {0x00, 0x53, 0x75, 0xb0, static_cast<std::uint8_t>(length >> 24),
                         static_cast<std::uint8_t>(length >> 16),
                         static_cast<std::uint8_t>(length >> 8),
                         static_cast<std::uint8_t>(length)});
}

void append_value_binary_prefix(byte_buffer& out, std::uint32_t length) {
  out.insert(out.end(), {0x00, 0x53, 0x77, 0xb0, static_cast<std::uint8_t>(length >> 24),
                         static_cast<std::uint8_t>(length >> 16),
                         static_cast<std::uint8_t>(length >> 8),
                         static_cast<std::uint8_t>(length)});
}

void append_value_null(byte_buffer& out) { out.insert(out.end(), {0x00, 0x53, 0x77, 0x40}); }

std::string message_id::to_string() const {
  switch (type) {
    case kind::none: return "(none)";
    case kind::ulong: return std::to_string(number);
    case kind::string: return bytes;
    case kind::binary: return "binary(" + std::to_string(bytes.size()) + ")";
    case kind::uuid: {
      static constexpr char hex[] = "0123456789abcdef";
      std::string s;
      for (std::size_t i = 0; i < uuid.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
        s.push_back(hex[uuid[i] >> 4]);
        s.push_back(hex[uuid[i] & 15]);
      }
      return s;
    }
  }
  return {};
}

namespace {

result<message_id> read_id(amqp::decoder& d) {
  auto code = d.peek_code();
  if (!code) return unexpected(stream_errc::bad_properties);
  message_id id;
  switch (*code) {
    case amqp::code::null:
      (void)d.read_null();
      return id;
    case amqp::code::ulong: case amqp::code::smallulong: case amqp::code::ulong0: {
      auto v = d.read_ulong();
      if (!v) break;
      return message_id::from_ulong(*v);
    }
    case amqp::code::uint: case amqp::code::smalluint: case amqp::code::uint0: {
      auto v = d.read_uint();
      if (!v) break;
      return message_id::from_ulong(*v);
    }
    case amqp::code::int_: case amqp::code::smallint: {
      auto v = d.read_int();
      if (!v || *v < 0) break;
      return message_id::from_ulong(static_cast<std::uint64_t>(*v));
    }
    case amqp::code::long_: case amqp::code::smalllong: {
      auto v = d.read_long();
      if (!v || *v < 0) break;
      return message_id::from_ulong(static_cast<std::uint64_t>(*v));
    }
    case amqp::code::uuid: {
      auto v = d.read_uuid();
      if (!v) break;
      id.type = message_id::kind::uuid;
      id.uuid = *v;
      return id;
    }
    case amqp::code::vbin8: case amqp::code::vbin32: {
      auto v = d.read_binary();
      if (!v) break;
      id.type = message_id::kind::binary;
      id.bytes.assign(reinterpret_cast<const char*>(v->data()), v->size());
      return id;
    }
    case amqp::code::str8: case amqp::code::str32: {
      auto v = d.read_string();
      if (!v) break;
      return message_id::from_string(*v);
    }
    case amqp::code::sym8: case amqp::code::sym32: {
      auto v = d.read_symbol();
      if (!v) break;
      return message_id::from_string(*v);
    }
    default:
      break;
  }
  return unexpected(stream_errc::bad_properties);
}

// An address or text field: string, or symbol from lenient peers; null = absent.
result<std::optional<std::string_view>> read_text(amqp::decoder& d) {
  if (d.next_is_null()) {
    (void)d.read_null();
    return std::optional<std::string_view>{};
  }
  auto code = d.peek_code();
  if (!code) return unexpected(stream_errc::bad_properties);
  if (*code == amqp::code::sym8 || *code == amqp::code::sym32) {
    auto s = d.read_symbol();
    if (!s) return unexpected(stream_errc::bad_properties);
    return std::optional<std::string_view>{*s};
  }
  auto s = d.read_string();
  if (!s) return unexpected(stream_errc::bad_properties);
  return std::optional<std::string_view>{*s};
}

void write_id(amqp::encoder& e, const message_id* id) {
  if (id == nullptr) {
    e.write_null();
    return;
  }
  switch (id->type) {
    case message_id::kind::none: e.write_null(); break;
    case message_id::kind::ulong: e.write_ulong(id->number); break;
    case message_id::kind::uuid: e.write_uuid(id->uuid); break;
    case message_id::kind::binary:
      e.write_binary({reinterpret_cast<const std::uint8_t*>(id->bytes.data()), id->bytes.size()});
      break;
    case message_id::kind::string: e.write_string(id->bytes); break;
  }
}

}  // namespace

result<message_properties> decode_properties(bytes_view section_bytes) {
  amqp::decoder d(section_bytes);
  auto desc = d.read_descriptor();
  if (!desc || section_code(*desc) != section::properties) {
    return unexpected(stream_errc::bad_properties);
  }
  auto list = d.read_list();
  if (!list) return unexpected(stream_errc::bad_properties);
  message_properties p;
  amqp::decoder& f = list->elements;
  for (std::uint32_t i = 0; i < list->count; ++i) {
    switch (i) {
      case 0: case 5: {
        auto id = read_id(f);
        if (!id) return unexpected(id.error());
        (i == 0 ? p.message_id_value : p.correlation_id) = std::move(*id);
        break;
      }
      case 2: case 3: case 4: case 6: case 10: {
        auto t = read_text(f);
        if (!t) return unexpected(t.error());
        if (i == 2) p.to = *t;
        if (i == 3) p.subject = *t;
        if (i == 4) p.reply_to = *t;
        if (i == 6) p.content_type = *t;
        if (i == 10) p.group_id = *t;
        break;
      }
      default:
        if (!f.skip_value()) return unexpected(stream_errc::bad_properties);
    }
  }
  return p;
}

void append_properties(byte_buffer& out, const properties_fields& p) {
  amqp::encoder e(out);
  e.write_descriptor(section::properties);
  const std::size_t marker = e.begin_list();
  // Fields up to the last one that is set; the rest are omitted (shorter list, same meaning).
  std::uint32_t count = 0;
  if (p.message_id_value) count = 1;
  if (p.to) count = 3;
  if (p.subject) count = 4;
  if (p.reply_to) count = 5;
  if (p.correlation_id) count = 6;
  if (p.content_type) count = 7;
  if (p.group_id) count = 11;
  auto text = [&](const std::optional<std::string_view>& v) {
    if (v) e.write_string(*v);
    else e.write_null();
  };
  for (std::uint32_t i = 0; i < count; ++i) {
    switch (i) {
      case 0: write_id(e, p.message_id_value); break;
      case 2: text(p.to); break;
      case 3: text(p.subject); break;
      case 4: text(p.reply_to); break;
      case 5: write_id(e, p.correlation_id); break;
      case 6:
        if (p.content_type) e.write_symbol(*p.content_type);
        else e.write_null();
        break;
      case 10: text(p.group_id); break;
      default: e.write_null(); break;
    }
  }
  e.end_list(marker, count);
}

}  // namespace fogmesh::proxy
