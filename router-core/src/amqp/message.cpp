#include "amqp/message.hpp"

#include <algorithm>

#include "amqp/performatives.hpp"

namespace fogmesh::router::amqp {

namespace {

inline unexpected_error err(codec_errc e) {
  return fogmesh::unexpected(e);
}

constexpr std::string_view router_prefix = "x-opt-qd.";

bool is_truncation(std::error_code ec) {
  return ec == codec_errc::truncated;
}

// header: durable, priority, ttl, first-acquirer, delivery-count (part 3 §3.2.1).
result<void> parse_header(decoder& body, message_scan& s) {
  auto l = body.read_list();
  if (!l) return unexpected_error{l.error()};
  decoder& f = l->elements;
  if (l->count > 0) {
    if (f.next_is_null()) {
      (void)f.read_null();
    } else {
      auto d = f.read_bool();
      if (!d) return unexpected_error{d.error()};
      s.durable = *d;
    }
  }
  if (l->count > 1 && !f.next_is_null()) {
    auto p = f.read_ubyte();
    if (!p) return unexpected_error{p.error()};
    s.priority = *p;
  }
  return {};
}

// An address field (address-string): string, though some clients send a symbol.
result<std::optional<std::string_view>> read_address(decoder& f) {
  auto c = f.peek_code();
  if (!c) return unexpected_error{c.error()};
  if (*c == code::null) {
    (void)f.read_null();
    return std::optional<std::string_view>{};
  }
  auto a = (*c == code::sym8 || *c == code::sym32) ? f.read_symbol() : f.read_string();
  if (!a) return unexpected_error{a.error()};
  return std::optional<std::string_view>{*a};
}

// properties: message-id, user-id, to, subject, reply-to, ... (part 3 §3.2.4).
result<void> parse_properties(decoder& body, message_scan& s) {
  auto l = body.read_list();
  if (!l) return unexpected_error{l.error()};
  decoder& f = l->elements;
  const std::uint32_t n = l->count;
  for (std::uint32_t i = 0; i < n && i < 5; ++i) {
    if (i == 2 || i == 4) {
      auto a = read_address(f);
      if (!a) return unexpected_error{a.error()};
      (i == 2 ? s.to : s.reply_to) = *a;
    } else {
      auto v = f.skip_value();
      if (!v) return unexpected_error{v.error()};
    }
  }
  return {};
}

// Reads a string or symbol value; nullopt (value skipped) when it is something else.
result<std::optional<std::string_view>> read_text_or_skip(decoder& in) {
  auto c = in.peek_code();
  if (!c) return unexpected_error{c.error()};
  if (*c == code::str8 || *c == code::str32 || *c == code::sym8 || *c == code::sym32) {
    auto s = (*c == code::str8 || *c == code::str32) ? in.read_string() : in.read_symbol();
    if (!s) return unexpected_error{s.error()};
    return std::optional<std::string_view>{*s};
  }
  auto v = in.skip_value();
  if (!v) return unexpected_error{v.error()};
  return std::optional<std::string_view>{};
}

// Opens an annotations section (descriptor + map). nullopt when the value is not a map.
result<std::optional<decoder::compound>> open_annotations(bytes_view section) {
  decoder in(section);
  auto d = in.read_descriptor();
  if (!d) return unexpected_error{d.error()};
  auto c = in.peek_code();
  if (!c) return unexpected_error{c.error()};
  if (*c != code::map8 && *c != code::map32) return std::optional<decoder::compound>{};
  auto m = in.read_map();
  if (!m) return unexpected_error{m.error()};
  return std::optional<decoder::compound>{std::move(*m)};
}

// Key of a map entry when it is a symbol; otherwise the key is skipped and nullopt returned.
result<std::optional<std::string_view>> read_symbol_key(decoder& in) {
  auto c = in.peek_code();
  if (!c) return unexpected_error{c.error()};
  if (*c == code::sym8 || *c == code::sym32) {
    auto s = in.read_symbol();
    if (!s) return unexpected_error{s.error()};
    return std::optional<std::string_view>{*s};
  }
  auto v = in.skip_value();
  if (!v) return unexpected_error{v.error()};
  return std::optional<std::string_view>{};
}

}  // namespace

result<message_scan> scan_message(bytes_view data, bool complete) {
  message_scan s;
  decoder in(data);
  std::uint64_t last = 0;
  while (!in.at_end()) {
    const std::size_t start = in.position();
    decoder probe = in;
    std::optional<std::uint64_t> code;
    const bytes_view rest = in.remaining();
    if (rest.size() >= 3 && rest[0] == code::described && rest[1] == code::smallulong) {
      // The usual form; skips the general descriptor parse and symbol lookup.
      code = rest[2];
      probe.advance(3);
    } else {
      auto d = probe.read_descriptor();
      if (!d) {
        if (is_truncation(d.error()) && !complete) return s;
        return unexpected_error{d.error()};
      }
      code = resolve_descriptor(*d);
    }
    if (!code || *code < descriptor_code::header || *code > descriptor_code::footer) {
      return err(codec_errc::invalid_descriptor);
    }
    if (*code >= descriptor_code::properties) s.after_annotations = start;
    if (*code > descriptor_code::properties) {
      // Properties would have come before this section: it is absent.
      s.after_properties = start;
      s.routing_complete = true;
      return s;
    }
    // The bare message's sections come in a fixed order, each at most once.
    if (*code <= last) return err(codec_errc::invalid_value);
    last = *code;
    decoder value = probe;
    if (auto v = value.skip_value(); !v) {
      if (is_truncation(v.error()) && !complete) return s;
      return unexpected_error{v.error()};
    }
    const std::size_t section_size = value.position() - start;
    const bytes_view section_bytes = data.subspan(start, section_size);
    in.advance(section_size);
    const bytes_view* section = &section_bytes;
    switch (*code) {
      case descriptor_code::header: {
        s.header = *section;
        auto r = parse_header(probe, s);
        if (!r) return unexpected_error{r.error()};
        break;
      }
      case descriptor_code::delivery_annotations:
        s.delivery_annotations = *section;
        break;
      case descriptor_code::message_annotations:
        s.message_annotations = *section;
        break;
      case descriptor_code::properties: {
        s.properties = *section;
        auto r = parse_properties(probe, s);
        if (!r) return unexpected_error{r.error()};
        s.after_properties = in.position();
        s.routing_complete = true;
        return s;
      }
      default:
        break;
    }
    s.after_annotations = in.position();
  }
  if (complete) {
    s.after_properties = data.size();
    s.routing_complete = true;
  }
  return s;
}

std::uint8_t message_priority(bytes_view data) {
  // Only the header carries a priority and it comes first, so a message without one (Proton
  // leaves it out when every field has its default) costs a three-byte look.
  if (data.size() < 3 || data[0] != code::described) return default_priority;
  if (data[1] == code::smallulong && data[2] != descriptor_code::header) return default_priority;
  auto scan = scan_message(data, false);
  if (!scan || scan->header.empty()) return default_priority;
  return std::min(scan->priority, max_priority);
}

result<router_annotations> read_router_annotations(bytes_view message_annotations_section) {
  router_annotations out;
  if (message_annotations_section.empty()) return out;
  auto opened = open_annotations(message_annotations_section);
  if (!opened) return unexpected_error{opened.error()};
  if (!*opened) return out;
  decoder& in = (*opened)->elements;
  const std::uint32_t pairs = (*opened)->count / 2;
  for (std::uint32_t i = 0; i < pairs; ++i) {
    auto key = read_symbol_key(in);
    if (!key) return unexpected_error{key.error()};
    const std::string_view k = key->value_or(std::string_view{});
    if (k == annotation_ingress || k == annotation_to) {
      auto v = read_text_or_skip(in);
      if (!v) return unexpected_error{v.error()};
      if (*v) (k == annotation_ingress ? out.ingress : out.to_override) = **v;
    } else if (k == annotation_trace) {
      auto c = in.peek_code();
      if (!c) return unexpected_error{c.error()};
      if (*c == code::list0 || *c == code::list8 || *c == code::list32) {
        auto l = in.read_list();
        if (!l) return unexpected_error{l.error()};
        out.trace.clear();
        for (std::uint32_t j = 0; j < l->count; ++j) {
          auto hop = read_text_or_skip(l->elements);
          if (!hop) return unexpected_error{hop.error()};
          if (*hop) out.trace.push_back(**hop);
        }
      } else {
        auto v = in.skip_value();
        if (!v) return unexpected_error{v.error()};
      }
    } else if (k == annotation_phase) {
      auto c = in.peek_code();
      if (!c) return unexpected_error{c.error()};
      if (*c == code::int_ || *c == code::smallint) {
        auto p = in.read_int();
        if (!p) return unexpected_error{p.error()};
        out.phase = *p;
      } else {
        auto v = in.skip_value();
        if (!v) return unexpected_error{v.error()};
      }
    } else {
      auto v = in.skip_value();
      if (!v) return unexpected_error{v.error()};
    }
  }
  return out;
}

bool has_router_annotations(bytes_view message_annotations_section) {
  if (message_annotations_section.empty()) return false;
  auto opened = open_annotations(message_annotations_section);
  if (!opened || !*opened) return false;
  decoder& in = (*opened)->elements;
  const std::uint32_t pairs = (*opened)->count / 2;
  for (std::uint32_t i = 0; i < pairs; ++i) {
    auto key = read_symbol_key(in);
    if (!key) return false;
    if (*key && (*key)->starts_with(router_prefix)) return true;
    if (!in.skip_value()) return false;
  }
  return false;
}

std::size_t append_message_annotations(byte_buffer& out, bytes_view original,
                                       const router_annotations& add) {
  const std::size_t start = out.size();
  encoder enc(out);
  enc.write_descriptor(descriptor_code::message_annotations);
  const std::size_t marker = enc.begin_map();
  const std::size_t content_start = out.size();
  std::uint32_t count = 0;

  if (!original.empty()) {
    auto opened = open_annotations(original);
    if (opened && *opened) {
      decoder& in = (*opened)->elements;
      const std::uint32_t pairs = (*opened)->count / 2;
      for (std::uint32_t i = 0; i < pairs; ++i) {
        decoder key_probe = in;
        auto key = read_symbol_key(key_probe);
        auto key_bytes = in.skip_value();
        auto value_bytes = key_bytes ? in.skip_value() : key_bytes;
        if (!key || !key_bytes || !value_bytes) {
          // A malformed original is dropped whole rather than copied in part.
          out.resize(content_start);
          count = 0;
          break;
        }
        if (*key && (*key)->starts_with(router_prefix)) continue;
        enc.write_raw(*key_bytes);
        enc.write_raw(*value_bytes);
        count += 2;
      }
    }
  }

  if (add.ingress) {
    enc.write_symbol(annotation_ingress);
    enc.write_string(*add.ingress);
    count += 2;
  }
  if (!add.trace.empty()) {
    enc.write_symbol(annotation_trace);
    const std::size_t list = enc.begin_list();
    for (auto hop : add.trace) enc.write_string(hop);
    enc.end_list(list, static_cast<std::uint32_t>(add.trace.size()));
    count += 2;
  }
  if (add.to_override) {
    enc.write_symbol(annotation_to);
    enc.write_string(*add.to_override);
    count += 2;
  }
  if (add.phase) {
    enc.write_symbol(annotation_phase);
    enc.write_int(*add.phase);
    count += 2;
  }
  if (count == 0) {
    out.resize(start);
    return 0;
  }
  enc.end_map(marker, count);
  return out.size() - start;
}

}  // namespace fogmesh::router::amqp
