#include "fogmesh/proxy/http_mapping.hpp"

#include <algorithm>
#include <charconv>
#include <type_traits>

#include "amqp/codec.hpp"

namespace fogmesh::proxy {

namespace amqp = fogmesh::router::amqp;
using http::iequals;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  http::to_lower_in_place(out);
  return out;
}

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                        std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// Groups header values by lower-cased name, first appearance order; content-type excluded (it
// travels as properties.content-type). Joining follows Node's IncomingMessage.headers, which is
// what skupper-proxy puts on the wire.
void append_header_map(byte_buffer& out, const http::message_head& head) {
  struct entry {
    std::string name;
    std::vector<std::string_view> values;
  };
  std::vector<entry> entries;
  entries.reserve(head.headers.size());
  for (const auto& f : head.headers) {
    if (iequals(f.name, "content-type")) continue;
    auto it = std::find_if(entries.begin(), entries.end(),
                           [&](const entry& e) { return iequals(e.name, f.name); });
    if (it == entries.end()) {
      entries.push_back({lower(f.name), {f.value}});
    } else {
      it->values.push_back(f.value);
    }
  }
  amqp::encoder e(out);
  e.write_descriptor(section::application_properties);
  const std::size_t marker = e.begin_map();
  for (const auto& en : entries) {
    e.write_string(en.name);
    if (en.values.size() == 1) {
      e.write_string(en.values.front());
    } else if (en.name == "set-cookie") {
      const std::size_t list = e.begin_list();
      for (auto v : en.values) e.write_string(v);
      e.end_list(list, static_cast<std::uint32_t>(en.values.size()));
    } else {
      const std::string_view separator = en.name == "cookie" ? "; " : ", ";
      std::string joined;
      for (auto v : en.values) {
        if (!joined.empty()) joined.append(separator);
        joined.append(v);
      }
      e.write_string(joined);
    }
  }
  e.end_map(marker, static_cast<std::uint32_t>(entries.size() * 2));
}

std::optional<std::string_view> content_type_of(const http::message_head& head) {
  if (const auto* f = head.find("content-type")) return f->value;
  return std::nullopt;
}

template <class T>
bool append_number(const result<T>& v, std::string& out) {
  if (!v) return false;
  if constexpr (std::is_signed_v<T>) {
    out.append(std::to_string(static_cast<long long>(*v)));
  } else {
    out.append(std::to_string(static_cast<unsigned long long>(*v)));
  }
  return true;
}

// Appends the text form of a scalar application-property value; false for other types.
bool append_scalar_text(amqp::decoder& d, std::string& out) {
  auto code = d.peek_code();
  if (!code) return false;
  switch (*code) {
    case amqp::code::str8: case amqp::code::str32: {
      auto s = d.read_string();
      if (!s) return false;
      out.append(*s);
      return true;
    }
    case amqp::code::sym8: case amqp::code::sym32: {
      auto s = d.read_symbol();
      if (!s) return false;
      out.append(*s);
      return true;
    }
    case amqp::code::bool_true: case amqp::code::bool_false: case amqp::code::boolean: {
      auto b = d.read_bool();
      if (!b) return false;
      out.append(*b ? "true" : "false");
      return true;
    }
    case amqp::code::ubyte: return append_number(d.read_ubyte(), out);
    case amqp::code::ushort: return append_number(d.read_ushort(), out);
    case amqp::code::uint: case amqp::code::smalluint: case amqp::code::uint0:
      return append_number(d.read_uint(), out);
    case amqp::code::ulong: case amqp::code::smallulong: case amqp::code::ulong0:
      return append_number(d.read_ulong(), out);
    case amqp::code::byte: return append_number(d.read_byte(), out);
    case amqp::code::short_: return append_number(d.read_short(), out);
    case amqp::code::int_: case amqp::code::smallint: return append_number(d.read_int(), out);
    case amqp::code::long_: case amqp::code::smalllong: return append_number(d.read_long(), out);
    case amqp::code::double_: {
      auto v = d.read_double();
      if (!v) return false;
      // JavaScript numbers that are integers print without a fraction.
      if (*v == static_cast<double>(static_cast<long long>(*v))) {
        out.append(std::to_string(static_cast<long long>(*v)));
      } else {
        out.append(std::to_string(*v));
      }
      return true;
    }
    default:
      return false;
  }
}

// Decodes application-properties into (lower-cased name, value) pairs. A list value becomes
// one header line per element (Set-Cookie); values of other types are skipped.
result<void> decode_headers(bytes_view section_bytes,
                            std::vector<std::pair<std::string, std::string>>& headers) {
  amqp::decoder d(section_bytes);
  if (!d.read_descriptor()) return unexpected(stream_errc::bad_application_properties);
  auto map = d.read_map();
  if (!map || map->count % 2 != 0) return unexpected(stream_errc::bad_application_properties);
  amqp::decoder& m = map->elements;
  for (std::uint32_t i = 0; i < map->count / 2; ++i) {
    std::string name;
    if (!append_scalar_text(m, name)) return unexpected(stream_errc::bad_application_properties);
    http::to_lower_in_place(name);
    auto code = m.peek_code();
    if (!code) return unexpected(stream_errc::bad_application_properties);
    if (*code == amqp::code::list0 || *code == amqp::code::list8 || *code == amqp::code::list32) {
      auto list = m.read_list();
      if (!list) return unexpected(stream_errc::bad_application_properties);
      for (std::uint32_t j = 0; j < list->count; ++j) {
        std::string value;
        if (append_scalar_text(list->elements, value)) {
          headers.emplace_back(name, std::move(value));
        } else if (!list->elements.skip_value()) {
          return unexpected(stream_errc::bad_application_properties);
        }
      }
      continue;
    }
    std::string value;
    if (append_scalar_text(m, value)) {
      headers.emplace_back(std::move(name), std::move(value));
    } else if (!m.skip_value()) {
      return unexpected(stream_errc::bad_application_properties);
    }
  }
  return {};
}

}  // namespace

std::string request_to(const http::message_head& head) {
  std::string_view host = head.host;
  std::string_view target = head.target;
  // Absolute form (a client talking to us as a forward proxy): "http://host:port/path?q".
  if (const auto scheme = target.find("://"); scheme != std::string_view::npos && target[0] != '/') {
    const auto authority_start = scheme + 3;
    const auto path_start = target.find('/', authority_start);
    if (host.empty()) host = target.substr(authority_start, path_start - authority_start);
    target = path_start == std::string_view::npos ? std::string_view("/") : target.substr(path_start);
  }
  // Strip the port, minding IPv6 literals ("[::1]:8080").
  if (!host.empty() && host.front() == '[') {
    if (const auto close = host.find(']'); close != std::string_view::npos) {
      host = host.substr(0, close + 1);
    }
  } else if (const auto colon = host.find(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  std::string to(host);
  to.append(target);
  return to;
}

void append_request_head(byte_buffer& out, const http::message_head& head,
                         const request_context& ctx) {
  const std::string to = request_to(head);
  properties_fields p;
  p.to = to;
  p.subject = head.method;
  p.reply_to = ctx.reply_to;
  p.correlation_id = &ctx.correlation_id;
  p.content_type = content_type_of(head);
  p.group_id = ctx.group_id;
  append_properties(out, p);
  append_header_map(out, head);
}

void append_response_head(byte_buffer& out, const http::message_head& head,
                          const response_context& ctx) {
  const std::string status = std::to_string(head.status);
  properties_fields p;
  p.to = ctx.to;
  p.subject = status;
  p.correlation_id = &ctx.correlation_id;
  p.content_type = content_type_of(head);
  p.group_id = ctx.group_id;
  append_properties(out, p);
  append_header_map(out, head);
}

// --- body_encoder ----------------------------------------------------------------------------

body_encoder::body_encoder(std::optional<std::uint64_t> known_length,
                           body_encoding_options options)
    : known_length_(known_length), options_(options) {
  if (known_length_ && *known_length_ <= UINT32_MAX) {
    mode_ = mode::value;
  } else if (!known_length_ && options_.max_buffered_bytes > 0) {
    mode_ = mode::buffering;
  } else {
    mode_ = mode::data_sections;  // unknown length without buffering, or beyond 4 GiB
  }
}

void body_encoder::append(bytes_view data, byte_buffer& out) {
  if (data.empty()) return;
  switch (mode_) {
    case mode::value: {
      if (!prefix_written_) {
        append_value_binary_prefix(out, static_cast<std::uint32_t>(*known_length_));
        prefix_written_ = true;
      }
      // Never write past the announced length: the message stays well-formed and finish()
      // reports the mismatch.
      const std::uint64_t room = *known_length_ > bytes_in_ ? *known_length_ - bytes_in_ : 0;
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(room, data.size()));
      out.insert(out.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
      bytes_in_ += data.size();
      return;
    }
    case mode::buffering:
      bytes_in_ += data.size();
      if (buffered_.size() + data.size() <= options_.max_buffered_bytes) {
        buffered_.insert(buffered_.end(), data.begin(), data.end());
        return;
      }
      // Too large to wait for: what was held goes out as the first data section.
      if (!buffered_.empty()) {
        append_data_section_prefix(out, static_cast<std::uint32_t>(buffered_.size()));
        out.insert(out.end(), buffered_.begin(), buffered_.end());
        buffered_.clear();
        buffered_.shrink_to_fit();
      }
      mode_ = mode::data_sections;
      prefix_written_ = true;
      append_data_section_prefix(out, static_cast<std::uint32_t>(data.size()));
      out.insert(out.end(), data.begin(), data.end());
      return;
    case mode::data_sections:
      bytes_in_ += data.size();
      prefix_written_ = true;
      append_data_section_prefix(out, static_cast<std::uint32_t>(data.size()));
      out.insert(out.end(), data.begin(), data.end());
      return;
  }
}

result<void> body_encoder::finish(byte_buffer& out) {
  switch (mode_) {
    case mode::value:
      if (!prefix_written_) {
        if (*known_length_ == 0) {
          append_value_null(out);
          return {};
        }
        append_value_binary_prefix(out, static_cast<std::uint32_t>(*known_length_));
        prefix_written_ = true;
      }
      if (bytes_in_ != *known_length_) {
        // Pad to keep the section well-formed; the caller aborts the delivery anyway.
        if (bytes_in_ < *known_length_) out.resize(out.size() + (*known_length_ - bytes_in_));
        return unexpected(stream_errc::body_length_mismatch);
      }
      return {};
    case mode::buffering:
      if (buffered_.empty()) {
        append_value_null(out);
      } else {
        append_value_binary_prefix(out, static_cast<std::uint32_t>(buffered_.size()));
        out.insert(out.end(), buffered_.begin(), buffered_.end());
        buffered_.clear();
      }
      return {};
    case mode::data_sections:
      if (!prefix_written_) append_value_null(out);  // a message needs one body section
      if (known_length_ && bytes_in_ != *known_length_) {
        return unexpected(stream_errc::body_length_mismatch);
      }
      return {};
  }
  return {};
}

// --- message_to_http -------------------------------------------------------------------------

message_to_http::message_to_http(kind k, http_output_options options)
    : kind_(k), options_(std::move(options)) {
  keep_alive_ = kind_ == kind::request || options_.client_keep_alive;
}

result<void> message_to_http::feed(bytes_view piece, bool complete, std::string& out) {
  out_ = &out;
  auto r = reader_.feed(piece, complete, *this);
  if (!r) return r;
  if (complete && !done_) {
    if (!head_written_) {
      auto h = write_head(body_mode::none, 0);
      if (!h) return h;
    }
    if (body_ == body_mode::chunked) out.append(http::last_chunk);
    done_ = true;
  }
  return {};
}

result<void> message_to_http::on_section(std::uint64_t descriptor, bytes_view bytes) {
  switch (descriptor) {
    case section::properties: {
      auto p = decode_properties(bytes);
      if (!p) return unexpected(p.error());
      has_properties_ = true;
      correlation_id_ = p->correlation_id;
      reply_to_ = p->reply_to.value_or("");
      subject_ = p->subject.value_or("");
      to_ = p->to.value_or("");
      has_content_type_ = p->content_type.has_value();
      content_type_ = p->content_type.value_or("");
      if (properties_hook_) {
        auto r = properties_hook_(*this);
        if (!r) return r;
        keep_alive_ = kind_ == kind::request || options_.client_keep_alive;
      }
      return {};
    }
    case section::application_properties:
      return decode_headers(bytes, headers_);
    case section::amqp_value: {
      // Streamed binaries/strings arrive through on_body_begin; a whole value here is only
      // acceptable when it is null (an empty body).
      amqp::decoder d(bytes);
      (void)d.read_descriptor();
      if (!d.next_is_null() || head_written_) return unexpected(stream_errc::unsupported_body);
      return write_head(body_mode::none, 0);
    }
    case section::amqp_sequence:
      return unexpected(stream_errc::unsupported_body);
    default:
      return {};  // header, annotations, footer: nothing to map
  }
}

result<void> message_to_http::on_body_begin(std::uint64_t descriptor, std::uint8_t,
                                            std::uint64_t length) {
  if (descriptor == section::amqp_value) {
    if (head_written_) return unexpected(stream_errc::unsupported_body);
    body_is_value_ = true;
    return write_head(body_mode::length, length);
  }
  // A data section: one chunk per section (or raw bytes when delimited by close).
  if (body_is_value_) return unexpected(stream_errc::unsupported_body);
  if (!head_written_) {
    const bool can_chunk = kind_ == kind::request || options_.client_version_minor >= 1;
    auto r = write_head(can_chunk ? body_mode::chunked : body_mode::close_delimited, 0);
    if (!r) return r;
  }
  section_left_ = length;
  if (body_ == body_mode::chunked && length > 0) {
    http::append_chunk_header(*out_, static_cast<std::size_t>(length));
  }
  return {};
}

result<void> message_to_http::on_body_data(bytes_view data) {
  if (body_ == body_mode::discard || body_ == body_mode::none) return {};
  out_->append(reinterpret_cast<const char*>(data.data()), data.size());
  if (!body_is_value_) {
    section_left_ -= data.size();
    if (section_left_ == 0 && body_ == body_mode::chunked) out_->append(http::chunk_end);
  }
  return {};
}

result<void> message_to_http::write_head(body_mode mode, std::uint64_t length) {
  std::string& out = *out_;
  head_written_ = true;
  bool no_body_allowed = false;
  if (kind_ == kind::request) {
    if (subject_.empty() || !is_token(subject_)) return unexpected(stream_errc::missing_method);
    // skupper-proxy's egress rebuilds the path with url.parse("http://" + to).path.
    std::string_view target = to_;
    const auto slash = target.find('/');
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    for (unsigned char c : target) {
      if (c <= 0x20 || c == 0x7f) return unexpected(stream_errc::bad_properties);
    }
    http::append_request_line(out, subject_, target);
  } else {
    // skupper-proxy answers `subject || 203`.
    status_ = 203;
    if (!subject_.empty()) {
      int status = 0;
      const auto [ptr, ec] =
          std::from_chars(subject_.data(), subject_.data() + subject_.size(), status);
      if (ec != std::errc{} || ptr != subject_.data() + subject_.size() || status < 100 ||
          status > 599) {
        return unexpected(stream_errc::bad_status);
      }
      status_ = status;
    }
    no_body_allowed = options_.answered == http::request_kind::head || status_ < 200 ||
                      status_ == 204 || status_ == 304;
    http::append_status_line(out, status_);
  }

  bool wrote_host = false, had_length = false;
  for (const auto& [name, value] : headers_) {
    if (name.empty() || name.front() == ':' || !is_token(name) || http::is_hop_by_hop(name)) {
      continue;
    }
    if (name == "content-length") {
      had_length = true;
      // A HEAD/204/304 answer keeps the length of the body it does not carry.
      if (!no_body_allowed) continue;
    }
    if (name == "content-type" && has_content_type_) continue;
    if (name == "host") {
      if (options_.host_override && !options_.host_header.empty()) continue;
      if (wrote_host) continue;
      wrote_host = true;
    }
    http::append_header(out, name, value);
  }
  if (kind_ == kind::request && !wrote_host && !options_.host_header.empty()) {
    http::append_header(out, "host", options_.host_header);
  }
  if (has_content_type_) http::append_header(out, "content-type", content_type_);

  if (no_body_allowed) {
    mode = body_mode::discard;
  } else if (mode == body_mode::none) {
    // Empty body. A request without a body needs no length unless its method expects one.
    const bool needs_length = kind_ == kind::response || had_length || subject_ == "POST" ||
                              subject_ == "PUT" || subject_ == "PATCH";
    if (needs_length) http::append_header(out, "content-length", "0");
  }
  switch (mode) {
    case body_mode::length:
      http::append_header(out, "content-length", std::to_string(length));
      break;
    case body_mode::chunked:
      http::append_header(out, "transfer-encoding", "chunked");
      break;
    case body_mode::close_delimited:
      keep_alive_ = false;
      break;
    default:
      break;
  }
  if (kind_ == kind::response) {
    if (!keep_alive_) {
      http::append_header(out, "connection", "close");
    } else if (options_.client_version_minor == 0) {
      http::append_header(out, "connection", "keep-alive");
    }
  }
  out.append("\r\n");
  body_ = mode;
  return {};
}

}  // namespace fogmesh::proxy
