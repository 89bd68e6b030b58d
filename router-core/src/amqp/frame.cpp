#include "amqp/frame.hpp"

#include <algorithm>
#include <string>

namespace fogmesh::router::amqp {

namespace {

class frame_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "amqp.frame"; }
  std::string message(int ev) const override {
    switch (static_cast<frame_errc>(ev)) {
      case frame_errc::bad_protocol_header:
        return "not an AMQP protocol header";
      case frame_errc::frame_too_small:
        return "frame header invalid: size or data offset too small";
      case frame_errc::frame_too_large:
        return "frame larger than max-frame-size";
      case frame_errc::unknown_frame_type:
        return "unknown frame type";
    }
    return "unknown frame error";
  }
};

inline std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

}  // namespace

const std::error_category& frame_category() noexcept {
  static const frame_category_impl instance;
  return instance;
}

std::error_code make_error_code(frame_errc e) noexcept {
  return {static_cast<int>(e), frame_category()};
}

result<std::optional<protocol_id>> parse_protocol_header(bytes_view data) {
  // Reject as soon as the bytes we have cannot start a valid header, so a peer speaking
  // another protocol is turned away without waiting for 8 bytes.
  const std::size_t n = std::min<std::size_t>(data.size(), 8);
  for (std::size_t i = 0; i < n; ++i) {
    if (i == 4) {
      const std::uint8_t id = data[4];
      if (id != 0 && id != 2 && id != 3)
        return fogmesh::unexpected(frame_errc::bad_protocol_header);
      continue;
    }
    if (data[i] != amqp_protocol_header[i]) {
      return fogmesh::unexpected(frame_errc::bad_protocol_header);
    }
  }
  if (n < 8) return std::optional<protocol_id>{};
  return std::optional<protocol_id>{static_cast<protocol_id>(data[4])};
}

std::optional<std::uint32_t> peek_frame_size(bytes_view data) noexcept {
  if (data.size() < 4) return std::nullopt;
  return load_be32(data.data());
}

result<std::optional<frame_view>> parse_frame(bytes_view data, std::uint32_t max_frame_size) {
  if (data.size() < 4) return std::optional<frame_view>{};
  const std::uint32_t size = load_be32(data.data());
  if (size < frame_header_size) return fogmesh::unexpected(frame_errc::frame_too_small);
  if (size > max_frame_size) return fogmesh::unexpected(frame_errc::frame_too_large);
  if (data.size() < frame_header_size) return std::optional<frame_view>{};
  const std::uint32_t doff = data[4];
  if (doff < 2 || doff * 4 > size) return fogmesh::unexpected(frame_errc::frame_too_small);
  const std::uint8_t type = data[5];
  if (type != frame_type_amqp && type != frame_type_sasl) {
    return fogmesh::unexpected(frame_errc::unknown_frame_type);
  }
  if (data.size() < size) return std::optional<frame_view>{};
  frame_view f;
  f.size = size;
  f.type = type;
  f.channel = static_cast<std::uint16_t>((data[6] << 8) | data[7]);
  f.body = data.subspan(doff * 4, size - doff * 4);
  return std::optional<frame_view>{f};
}

result<amqp_frame> decode_amqp_frame(const frame_view& frame) {
  // One named result on every path so it is constructed in place (NRVO) and the performative
  // is decoded straight into it.
  result<amqp_frame> out{amqp_frame{performative{std::in_place_type<end>}, {}}};
  if (frame.type != frame_type_amqp) {
    out = fogmesh::unexpected(frame_errc::unknown_frame_type);
  } else if (frame.body.empty()) {
    // A heartbeat carries no performative; the engine checks for it first.
    out = fogmesh::unexpected(codec_errc::truncated);
  } else {
    decoder in(frame.body);
    if (const codec_errc e = detail::decode_performative_into(in, out->body); e != codec_errc{}) {
      out = fogmesh::unexpected(e);
    } else {
      out->payload = in.remaining();
    }
  }
  return out;
}

result<sasl_frame> decode_sasl_body(const frame_view& frame) {
  if (frame.type != frame_type_sasl) return fogmesh::unexpected(frame_errc::unknown_frame_type);
  if (frame.body.empty()) return fogmesh::unexpected(codec_errc::truncated);
  decoder in(frame.body);
  return decode_sasl_frame(in);
}

void write_frame_header(std::uint8_t* dst, std::uint32_t size, std::uint8_t type,
                        std::uint16_t channel) noexcept {
  dst[0] = static_cast<std::uint8_t>(size >> 24);
  dst[1] = static_cast<std::uint8_t>(size >> 16);
  dst[2] = static_cast<std::uint8_t>(size >> 8);
  dst[3] = static_cast<std::uint8_t>(size);
  dst[4] = 2;
  dst[5] = type;
  dst[6] = static_cast<std::uint8_t>(channel >> 8);
  dst[7] = static_cast<std::uint8_t>(channel);
}

void append_heartbeat(byte_buffer& out) {
  const std::size_t start = out.size();
  out.resize(start + frame_header_size);
  write_frame_header(out.data() + start, frame_header_size, frame_type_amqp, 0);
}

}  // namespace fogmesh::router::amqp
