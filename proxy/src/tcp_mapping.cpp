#include "fogmesh/proxy/tcp_mapping.hpp"

#include "amqp/codec.hpp"

namespace fogmesh::proxy::tcp {

namespace amqp = fogmesh::router::amqp;

void append_stream_head(byte_buffer& out, const stream_head& head) {
  properties_fields p;
  p.to = head.to;
  if (!head.reply_to.empty()) p.reply_to = head.reply_to;
  p.correlation_id = &head.stream_id;
  p.content_type = content_type;
  append_properties(out, p);
  amqp::encoder e(out);
  e.write_descriptor(section::application_properties);
  const std::size_t marker = e.begin_map();
  e.write_string(stream_key);
  e.write_string(head.kind);
  e.end_map(marker, 2);
}

void append_stream_data(byte_buffer& out, bytes_view bytes) {
  append_data_section_prefix(out, static_cast<std::uint32_t>(bytes.size()));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

result<void> stream_reader::feed(bytes_view piece, bool last, std::string& out) {
  out_ = &out;
  auto r = reader_.feed(piece, last, *this);
  if (!r) return r;
  if (last && !head_seen_) return unexpected(stream_errc::unsupported_body);
  return {};
}

result<void> stream_reader::on_section(std::uint64_t descriptor, bytes_view bytes) {
  if (descriptor == section::properties) {
    auto p = decode_properties(bytes);
    if (!p) return unexpected(p.error());
    properties_seen_ = true;
    stream_id_ = p->correlation_id;
    reply_to_ = p->reply_to.value_or("");
    octet_stream_ = p->content_type == content_type;
    return {};
  }
  if (descriptor == section::application_properties) {
    amqp::decoder d(bytes);
    if (!d.read_descriptor()) return unexpected(stream_errc::bad_application_properties);
    auto map = d.read_map();
    if (!map) return unexpected(stream_errc::bad_application_properties);
    for (std::uint32_t i = 0; i + 1 < map->count; i += 2) {
      auto key = map->elements.read_string();
      if (!key) return unexpected(stream_errc::bad_application_properties);
      if (*key == stream_key) {
        auto value = map->elements.read_string();
        if (!value) return unexpected(stream_errc::bad_application_properties);
        kind_ = *value;
      } else if (!map->elements.skip_value()) {
        return unexpected(stream_errc::bad_application_properties);
      }
    }
    if (!properties_seen_ || !octet_stream_ || kind_.empty()) {
      return unexpected(stream_errc::unsupported_body);
    }
    head_seen_ = true;
    return {};
  }
  if (descriptor == section::amqp_value || descriptor == section::amqp_sequence) {
    return unexpected(stream_errc::unsupported_body);
  }
  return {};
}

result<void> stream_reader::on_body_begin(std::uint64_t descriptor, std::uint8_t,
                                          std::uint64_t) {
  if (descriptor != section::data || !head_seen_) return unexpected(stream_errc::unsupported_body);
  return {};
}

result<void> stream_reader::on_body_data(bytes_view data) {
  payload_bytes_ += data.size();
  out_->append(reinterpret_cast<const char*>(data.data()), data.size());
  return {};
}

void append_received_state(byte_buffer& out, std::uint64_t bytes) {
  amqp::encoder e(out);
  e.write_descriptor(0x23);
  const std::size_t marker = e.begin_list();
  e.write_uint(0);
  e.write_ulong(bytes);
  e.end_list(marker, 2);
}

result<std::uint64_t> decode_received_state(bytes_view state) {
  amqp::decoder d(state);
  auto desc = d.read_descriptor();
  if (!desc || desc->is_symbol() || desc->code != 0x23) {
    return unexpected(stream_errc::malformed_section);
  }
  auto list = d.read_list();
  if (!list || list->count < 2) return unexpected(stream_errc::malformed_section);
  if (!list->elements.read_uint()) return unexpected(stream_errc::malformed_section);
  auto offset = list->elements.read_ulong();
  if (!offset) return unexpected(stream_errc::malformed_section);
  return *offset;
}

}  // namespace fogmesh::proxy::tcp
