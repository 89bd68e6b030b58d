#include "amqp/performatives.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace fogmesh::router::amqp {

namespace {

#define FM_TRY(expr)                                         \
  do {                                                       \
    if (auto fm_try_r_ = (expr); !fm_try_r_) {               \
      return ::fogmesh::unexpected_error{fm_try_r_.error()}; \
    }                                                        \
  } while (0)

inline unexpected_error err(codec_errc e) {
  return fogmesh::unexpected(e);
}

// Symbolic descriptors (part 2 §2.7, part 3, part 5) and the numeric codes they stand for.
struct symbolic_descriptor {
  std::string_view name;
  std::uint64_t code;
};
constexpr symbolic_descriptor symbolic_descriptors[] = {
    {"amqp:open:list", descriptor_code::open},
    {"amqp:begin:list", descriptor_code::begin},
    {"amqp:attach:list", descriptor_code::attach},
    {"amqp:flow:list", descriptor_code::flow},
    {"amqp:transfer:list", descriptor_code::transfer},
    {"amqp:disposition:list", descriptor_code::disposition},
    {"amqp:detach:list", descriptor_code::detach},
    {"amqp:end:list", descriptor_code::end},
    {"amqp:close:list", descriptor_code::close},
    {"amqp:error:list", descriptor_code::error},
    {"amqp:received:list", descriptor_code::received},
    {"amqp:accepted:list", descriptor_code::accepted},
    {"amqp:rejected:list", descriptor_code::rejected},
    {"amqp:released:list", descriptor_code::released},
    {"amqp:modified:list", descriptor_code::modified},
    {"amqp:source:list", descriptor_code::source},
    {"amqp:target:list", descriptor_code::target},
    {"amqp:delete-on-close:list", descriptor_code::delete_on_close},
    {"amqp:delete-on-no-links:list", descriptor_code::delete_on_no_links},
    {"amqp:delete-on-no-messages:list", descriptor_code::delete_on_no_messages},
    {"amqp:delete-on-no-links-or-messages:list", descriptor_code::delete_on_no_links_or_messages},
    {"amqp:sasl-mechanisms:list", descriptor_code::sasl_mechanisms},
    {"amqp:sasl-init:list", descriptor_code::sasl_init},
    {"amqp:sasl-challenge:list", descriptor_code::sasl_challenge},
    {"amqp:sasl-response:list", descriptor_code::sasl_response},
    {"amqp:sasl-outcome:list", descriptor_code::sasl_outcome},
    {"amqp:header:list", descriptor_code::header},
    {"amqp:delivery-annotations:map", descriptor_code::delivery_annotations},
    {"amqp:message-annotations:map", descriptor_code::message_annotations},
    {"amqp:properties:list", descriptor_code::properties},
    {"amqp:application-properties:map", descriptor_code::application_properties},
    {"amqp:data:binary", descriptor_code::data},
    {"amqp:amqp-sequence:list", descriptor_code::amqp_sequence},
    {"amqp:amqp-value:*", descriptor_code::amqp_value},
    {"amqp:footer:map", descriptor_code::footer},
};

// Per-field cursor over a composite's list. A field beyond the list's count or encoded as null
// is "absent", and the caller applies the spec default.
class fields {
 public:
  explicit fields(const decoder::compound& c) : left_(c.count), in_(c.elements) {}

  // Moves to the next field. False when it is absent or null (a null is consumed).
  bool next() {
    if (left_ == 0) return false;
    --left_;
    if (in_.next_is_null()) {
      (void)in_.read_null();
      return false;
    }
    return true;
  }
  decoder& in() { return in_; }

 private:
  std::uint32_t left_;
  decoder in_;
};

template <class T>
inline result<void> assign(result<T>&& r, T& out) {
  if (!r) return unexpected_error{r.error()};
  out = *r;
  return {};
}

template <class T>
inline result<void> assign(result<T>&& r, std::optional<T>& out) {
  if (!r) return unexpected_error{r.error()};
  out = *r;
  return {};
}

inline result<void> missing(bool mandatory) {
  if (mandatory) return err(codec_errc::missing_field);
  return {};
}

result<void> get_uint(fields& f, std::uint32_t& out, bool mandatory = false) {
  if (!f.next()) return missing(mandatory);
  return assign(f.in().read_uint(), out);
}
result<void> get_uint(fields& f, std::optional<std::uint32_t>& out) {
  if (!f.next()) return {};
  return assign(f.in().read_uint(), out);
}
result<void> get_ulong(fields& f, std::uint64_t& out, bool mandatory = false) {
  if (!f.next()) return missing(mandatory);
  return assign(f.in().read_ulong(), out);
}
result<void> get_ulong(fields& f, std::optional<std::uint64_t>& out) {
  if (!f.next()) return {};
  return assign(f.in().read_ulong(), out);
}
result<void> get_ushort(fields& f, std::uint16_t& out) {
  if (!f.next()) return {};
  return assign(f.in().read_ushort(), out);
}
result<void> get_ushort(fields& f, std::optional<std::uint16_t>& out) {
  if (!f.next()) return {};
  return assign(f.in().read_ushort(), out);
}
result<void> get_bool(fields& f, bool& out, bool mandatory = false) {
  if (!f.next()) return missing(mandatory);
  return assign(f.in().read_bool(), out);
}
result<void> get_role(fields& f, role& out) {
  bool v = false;
  FM_TRY(get_bool(f, v, true));
  out = static_cast<role>(v);
  return {};
}

result<void> get_rcv_settle_mode(fields& f, std::optional<receiver_settle_mode>& out) {
  if (!f.next()) return {};
  auto v = f.in().read_ubyte();
  if (!v) return unexpected_error{v.error()};
  if (*v > 1) return err(codec_errc::invalid_value);
  out = static_cast<receiver_settle_mode>(*v);
  return {};
}

result<void> get_symbol(fields& f, std::string& out, bool mandatory = false) {
  if (!f.next()) return missing(mandatory);
  auto v = f.in().read_symbol();
  if (!v) return unexpected_error{v.error()};
  out.assign(*v);
  return {};
}
result<void> get_string(fields& f, std::string& out, bool mandatory = false) {
  if (!f.next()) return missing(mandatory);
  auto v = f.in().read_string();
  if (!v) return unexpected_error{v.error()};
  out.assign(*v);
  return {};
}

result<void> get_symbols(fields& f, std::vector<std::string>& out, bool mandatory = false) {
  if (!f.next()) return missing(mandatory);
  std::vector<std::string_view> views;
  FM_TRY(f.in().read_symbols(views));
  out.assign(views.begin(), views.end());
  return {};
}

// A value kept encoded (maps such as properties/filter, or any described value).
result<bytes_view> raw_value(fields& f, bool must_be_map) {
  if (must_be_map) {
    auto c = f.in().peek_code();
    if (!c) return unexpected_error{c.error()};
    if (*c != code::map8 && *c != code::map32) return err(codec_errc::unexpected_type);
  }
  return f.in().skip_value();
}
result<void> get_raw(fields& f, byte_buffer& out, bool must_be_map = true) {
  if (!f.next()) return {};
  auto v = raw_value(f, must_be_map);
  if (!v) return unexpected_error{v.error()};
  out.assign(v->begin(), v->end());
  return {};
}
result<void> get_raw_view(fields& f, bytes_view& out) {
  if (!f.next()) return {};
  return assign(raw_value(f, true), out);
}

result<void> get_binary(fields& f, byte_buffer& out, bool mandatory = false) {
  if (!f.next()) return missing(mandatory);
  auto v = f.in().read_binary();
  if (!v) return unexpected_error{v.error()};
  out.assign(v->begin(), v->end());
  return {};
}

result<void> get_error(fields& f, std::optional<error>& out) {
  if (!f.next()) return {};
  auto e = decode_error(f.in());
  if (!e) return unexpected_error{e.error()};
  out = std::move(*e);
  return {};
}

// Reads a described list, returning its resolved descriptor code and the list.
struct described_list {
  std::uint64_t code = 0;
  decoder::compound list;
};
result<described_list> read_described_list(decoder& in) {
  auto d = in.read_descriptor();
  if (!d) return unexpected_error{d.error()};
  described_list out;
  out.code = d->code;
  if (d->is_symbol()) {
    auto code = resolve_descriptor(*d);
    if (!code) return err(codec_errc::invalid_descriptor);
    out.code = *code;
  }
  auto l = in.read_list();
  if (!l) return unexpected_error{l.error()};
  out.list = std::move(*l);
  return out;
}

result<terminus> decode_terminus(decoder& in, bool is_source) {
  decoder copy = in;
  auto dl = read_described_list(copy);
  if (!dl) return unexpected_error{dl.error()};
  if (dl->code != (is_source ? descriptor_code::source : descriptor_code::target)) {
    return err(codec_errc::invalid_descriptor);
  }
  fields f(dl->list);
  terminus t;
  if (f.next()) {
    // address-string is a string, but some peers send a symbol.
    auto c = f.in().peek_code();
    if (!c) return unexpected_error{c.error()};
    auto a = (*c == code::sym8 || *c == code::sym32) ? f.in().read_symbol() : f.in().read_string();
    if (!a) return unexpected_error{a.error()};
    t.address.emplace(*a);
  }
  FM_TRY(get_uint(f, t.durable));
  FM_TRY(get_symbol(f, t.expiry_policy));
  FM_TRY(get_uint(f, t.timeout));
  FM_TRY(get_bool(f, t.dynamic));
  FM_TRY(get_raw(f, t.dynamic_node_properties));
  if (is_source) {
    FM_TRY(get_symbol(f, t.distribution_mode));
    FM_TRY(get_raw(f, t.filter));
    FM_TRY(get_raw(f, t.default_outcome, false));
    FM_TRY(get_symbols(f, t.outcomes));
  }
  FM_TRY(get_symbols(f, t.capabilities));
  in = copy;
  return t;
}

result<void> get_terminus(fields& f, std::optional<terminus>& out, bool is_source) {
  if (!f.next()) return {};
  auto t = decode_terminus(f.in(), is_source);
  if (!t) return unexpected_error{t.error()};
  out = std::move(*t);
  return {};
}

result<void> decode_open(fields& f, open& v) {
  FM_TRY(get_string(f, v.container_id, true));
  FM_TRY(get_string(f, v.hostname));
  FM_TRY(get_uint(f, v.max_frame_size));
  FM_TRY(get_ushort(f, v.channel_max));
  FM_TRY(get_uint(f, v.idle_timeout_ms));
  FM_TRY(get_symbols(f, v.outgoing_locales));
  FM_TRY(get_symbols(f, v.incoming_locales));
  FM_TRY(get_symbols(f, v.offered_capabilities));
  FM_TRY(get_symbols(f, v.desired_capabilities));
  FM_TRY(get_raw(f, v.properties));
  return {};
}

result<void> decode_begin(fields& f, begin& v) {
  FM_TRY(get_ushort(f, v.remote_channel));
  FM_TRY(get_uint(f, v.next_outgoing_id, true));
  FM_TRY(get_uint(f, v.incoming_window, true));
  FM_TRY(get_uint(f, v.outgoing_window, true));
  FM_TRY(get_uint(f, v.handle_max));
  FM_TRY(get_symbols(f, v.offered_capabilities));
  FM_TRY(get_symbols(f, v.desired_capabilities));
  FM_TRY(get_raw(f, v.properties));
  return {};
}

result<void> decode_attach(fields& f, attach& v) {
  FM_TRY(get_string(f, v.name, true));
  FM_TRY(get_uint(f, v.handle, true));
  FM_TRY(get_role(f, v.role));
  if (f.next()) {
    auto m = f.in().read_ubyte();
    if (!m) return unexpected_error{m.error()};
    if (*m > 2) return err(codec_errc::invalid_value);
    v.snd_settle_mode = static_cast<sender_settle_mode>(*m);
  }
  std::optional<receiver_settle_mode> rcv;
  FM_TRY(get_rcv_settle_mode(f, rcv));
  if (rcv) v.rcv_settle_mode = *rcv;
  FM_TRY(get_terminus(f, v.source, true));
  FM_TRY(get_terminus(f, v.target, false));
  FM_TRY(get_raw(f, v.unsettled));
  FM_TRY(get_bool(f, v.incomplete_unsettled));
  FM_TRY(get_uint(f, v.initial_delivery_count));
  FM_TRY(get_ulong(f, v.max_message_size));
  FM_TRY(get_symbols(f, v.offered_capabilities));
  FM_TRY(get_symbols(f, v.desired_capabilities));
  FM_TRY(get_raw(f, v.properties));
  return {};
}

result<void> decode_detach(fields& f, detach& v) {
  FM_TRY(get_uint(f, v.handle, true));
  FM_TRY(get_bool(f, v.closed));
  FM_TRY(get_error(f, v.err));
  return {};
}

// ---------------------------------------------------------------------------------------------
// Hot path: transfer, flow and disposition arrive for every message, so their fields are read
// with a raw cursor and plain error codes (codec_errc{} = success) instead of result<>, whose
// default-constructed error_code costs an out-of-line call per field.

#define HOT_TRY(expr)                                                       \
  do {                                                                      \
    if (const codec_errc hot_try_e_ = (expr); hot_try_e_ != codec_errc{}) { \
      return hot_try_e_;                                                    \
    }                                                                       \
  } while (0)

inline std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

struct hot_fields {
  const std::uint8_t* p;
  const std::uint8_t* end;
  std::uint32_t left;
  int depth;

  hot_fields(const std::uint8_t* data, std::size_t size, std::uint32_t count, int d) noexcept
      : p(data), end(data + size), left(count), depth(d) {}

  // Moves to the next field. False when it is absent or null (a null is consumed).
  bool next() noexcept {
    if (left == 0) return false;
    --left;
    if (p != end && *p == code::null) {
      ++p;
      return false;
    }
    return true;
  }
  std::size_t avail() const noexcept { return static_cast<std::size_t>(end - p); }
  bytes_view rest() const noexcept { return {p, avail()}; }
};

// The error for a value of the wrong type at the cursor: garbage or merely unwanted.
codec_errc mismatch(const hot_fields& f) {
  decoder d(f.rest());
  auto r = d.skip_value();
  if (!r && r.error() == codec_errc::invalid_constructor) return codec_errc::invalid_constructor;
  return codec_errc::unexpected_type;
}

inline codec_errc to_errc(std::error_code ec) noexcept {
  return ec ? static_cast<codec_errc>(ec.value()) : codec_errc{};
}

inline codec_errc hot_uint(hot_fields& f, std::uint32_t& out) {
  if (f.p == f.end) return codec_errc::truncated;
  switch (f.p[0]) {
    case code::uint0:
      out = 0;
      f.p += 1;
      return {};
    case code::smalluint:
      if (f.avail() < 2) return codec_errc::truncated;
      out = f.p[1];
      f.p += 2;
      return {};
    case code::uint:
      if (f.avail() < 5) return codec_errc::truncated;
      out = load_be32(f.p + 1);
      f.p += 5;
      return {};
    default:
      return mismatch(f);
  }
}

inline codec_errc hot_uint(hot_fields& f, std::optional<std::uint32_t>& out) {
  if (!f.next()) return {};
  std::uint32_t v = 0;
  HOT_TRY(hot_uint(f, v));
  out = v;
  return {};
}

inline codec_errc hot_required_uint(hot_fields& f, std::uint32_t& out) {
  if (!f.next()) return codec_errc::missing_field;
  return hot_uint(f, out);
}

inline codec_errc hot_bool_value(hot_fields& f, bool& out) {
  if (f.p == f.end) return codec_errc::truncated;
  switch (f.p[0]) {
    case code::bool_true:
      out = true;
      f.p += 1;
      return {};
    case code::bool_false:
      out = false;
      f.p += 1;
      return {};
    case code::boolean:
      if (f.avail() < 2) return codec_errc::truncated;
      if (f.p[1] > 1) return codec_errc::invalid_value;
      out = f.p[1] == 1;
      f.p += 2;
      return {};
    default:
      return mismatch(f);
  }
}

inline codec_errc hot_bool(hot_fields& f, bool& out, bool mandatory = false) {
  if (!f.next()) return mandatory ? codec_errc::missing_field : codec_errc{};
  return hot_bool_value(f, out);
}

inline codec_errc hot_bool(hot_fields& f, std::optional<bool>& out) {
  if (!f.next()) return {};
  bool v = false;
  HOT_TRY(hot_bool_value(f, v));
  out = v;
  return {};
}

inline codec_errc hot_binary(hot_fields& f, std::optional<bytes_view>& out) {
  if (!f.next()) return {};
  if (f.p == f.end) return codec_errc::truncated;
  std::size_t header, len;
  if (f.p[0] == code::vbin8) {
    if (f.avail() < 2) return codec_errc::truncated;
    header = 2;
    len = f.p[1];
  } else if (f.p[0] == code::vbin32) {
    if (f.avail() < 5) return codec_errc::truncated;
    header = 5;
    len = load_be32(f.p + 1);
  } else {
    return mismatch(f);
  }
  if (f.avail() - header < len) return codec_errc::truncated;
  out = bytes_view(f.p + header, len);
  f.p += header + len;
  return {};
}

inline codec_errc hot_rcv_settle_mode(hot_fields& f, std::optional<receiver_settle_mode>& out) {
  if (!f.next()) return {};
  if (f.p == f.end) return codec_errc::truncated;
  if (f.p[0] != code::ubyte) return mismatch(f);
  if (f.avail() < 2) return codec_errc::truncated;
  if (f.p[1] > 1) return codec_errc::invalid_value;
  out = static_cast<receiver_settle_mode>(f.p[1]);
  f.p += 2;
  return {};
}

// Rare fields of the hot performatives go through the general decoder.
codec_errc hot_state(hot_fields& f, delivery_state& out) {
  if (!f.next()) return {};
  // accepted and released with an empty list are the common outcomes: no general decoder.
  if (f.avail() >= 4 && f.p[0] == code::described && f.p[1] == code::smallulong &&
      f.p[3] == code::list0 &&
      (f.p[2] == descriptor_code::accepted || f.p[2] == descriptor_code::released)) {
    out.type = f.p[2] == descriptor_code::accepted ? delivery_state::kind::accepted
                                                   : delivery_state::kind::released;
    f.p += 4;
    return {};
  }
  decoder d(f.rest(), f.depth);
  auto s = decode_delivery_state(d);
  if (!s) return to_errc(s.error());
  out = std::move(*s);
  f.p += d.position();
  return {};
}

codec_errc hot_map_view(hot_fields& f, bytes_view& out) {
  if (!f.next()) return {};
  if (f.p == f.end) return codec_errc::truncated;
  if (f.p[0] != code::map8 && f.p[0] != code::map32) return mismatch(f);
  decoder d(f.rest(), f.depth);
  auto v = d.skip_value();
  if (!v) return to_errc(v.error());
  out = *v;
  f.p += v->size();
  return {};
}

codec_errc decode_transfer_hot(hot_fields& f, transfer& v) {
  HOT_TRY(hot_required_uint(f, v.handle));
  HOT_TRY(hot_uint(f, v.delivery_id));
  HOT_TRY(hot_binary(f, v.delivery_tag));
  HOT_TRY(hot_uint(f, v.message_format));
  HOT_TRY(hot_bool(f, v.settled));
  HOT_TRY(hot_bool(f, v.more));
  HOT_TRY(hot_rcv_settle_mode(f, v.rcv_settle_mode));
  HOT_TRY(hot_state(f, v.state));
  HOT_TRY(hot_bool(f, v.resume));
  HOT_TRY(hot_bool(f, v.aborted));
  HOT_TRY(hot_bool(f, v.batchable));
  return {};
}

codec_errc decode_flow_hot(hot_fields& f, flow& v) {
  HOT_TRY(hot_uint(f, v.next_incoming_id));
  HOT_TRY(hot_required_uint(f, v.incoming_window));
  HOT_TRY(hot_required_uint(f, v.next_outgoing_id));
  HOT_TRY(hot_required_uint(f, v.outgoing_window));
  HOT_TRY(hot_uint(f, v.handle));
  HOT_TRY(hot_uint(f, v.delivery_count));
  HOT_TRY(hot_uint(f, v.link_credit));
  HOT_TRY(hot_uint(f, v.available));
  HOT_TRY(hot_bool(f, v.drain));
  HOT_TRY(hot_bool(f, v.echo));
  HOT_TRY(hot_map_view(f, v.properties));
  return {};
}

codec_errc decode_disposition_hot(hot_fields& f, disposition& v) {
  bool receiver = false;
  HOT_TRY(hot_bool(f, receiver, true));
  v.role = static_cast<role>(receiver);
  HOT_TRY(hot_required_uint(f, v.first));
  HOT_TRY(hot_uint(f, v.last));
  HOT_TRY(hot_bool(f, v.settled));
  HOT_TRY(hot_state(f, v.state));
  HOT_TRY(hot_bool(f, v.batchable));
  return {};
}

// Parses "0x00 0x53 <code> <list0|list8|list32>" (how every peer encodes performatives) without
// the general machinery. False when the bytes take another form; the general path then decides.
struct hot_prelude {
  std::uint8_t code = 0;
  std::size_t header = 0;  // descriptor + list header bytes
  std::size_t size = 0;    // list content bytes
  std::uint32_t count = 0;
};
inline bool parse_hot_prelude(bytes_view b, hot_prelude& out) noexcept {
  const std::uint8_t* p = b.data();
  const std::size_t n = b.size();
  if (n < 4 || p[0] != code::described || p[1] != code::smallulong) return false;
  out.code = p[2];
  switch (p[3]) {
    case code::list0:
      out.header = 4;
      out.size = 0;
      out.count = 0;
      return true;
    case code::list8:
      if (n < 6 || p[4] < 1 || p[5] > p[4] - 1u || n - 6 < p[4] - 1u) return false;
      out.header = 6;
      out.size = p[4] - 1u;
      out.count = p[5];
      return true;
    case code::list32: {
      if (n < 12) return false;
      const std::uint32_t size = load_be32(p + 4), count = load_be32(p + 8);
      if (size < 4 || count > size - 4 || n - 12 < size - 4) return false;
      out.header = 12;
      out.size = size - 4;
      out.count = count;
      return true;
    }
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding helpers: fields are written in order, and the list is cut after the last field that
// differs from its default so trailing defaults cost nothing on the wire.

class list_writer {
 public:
  list_writer(encoder& e, std::uint64_t descriptor) : e_(e) {
    e_.write_descriptor(descriptor);
    marker_ = e_.begin_list();
    keep_ = e_.buffer().size();
  }
  void finish() {
    e_.buffer().resize(keep_);
    e_.end_list(marker_, count_);
  }

  void null() {
    e_.write_null();
    ++n_;
  }
  void uint(std::uint32_t v) {
    e_.write_uint(v);
    kept();
  }
  void uint(std::optional<std::uint32_t> v) {
    if (v) {
      uint(*v);
    } else {
      null();
    }
  }
  void uint_or_default(std::uint32_t v, std::uint32_t def) {
    if (v == def) {
      null();
    } else {
      uint(v);
    }
  }
  void ulong(std::optional<std::uint64_t> v) {
    if (!v) return null();
    e_.write_ulong(*v);
    kept();
  }
  void ushort(std::optional<std::uint16_t> v) {
    if (!v) return null();
    e_.write_ushort(*v);
    kept();
  }
  void ubyte_or_default(std::uint8_t v, std::uint8_t def) {
    if (v == def) return null();
    e_.write_ubyte(v);
    kept();
  }
  void boolean(bool v) {
    e_.write_bool(v);
    kept();
  }
  // Fields whose default is false.
  void flag(bool v) {
    if (v) {
      boolean(true);
    } else {
      null();
    }
  }
  void boolean(std::optional<bool> v) {
    if (v) {
      boolean(*v);
    } else {
      null();
    }
  }
  void string(std::string_view v, bool mandatory = false) {
    if (v.empty() && !mandatory) return null();
    e_.write_string(v);
    kept();
  }
  void symbol(std::string_view v, bool mandatory = false) {
    if (v.empty() && !mandatory) return null();
    e_.write_symbol(v);
    kept();
  }
  void symbols(const std::vector<std::string>& v) {
    if (v.empty()) return null();
    e_.write_symbol_array(std::span<const std::string>(v));
    kept();
  }
  void raw(bytes_view v) {
    if (v.empty()) return null();
    e_.write_raw(v);
    kept();
  }
  void raw_kept(bytes_view v) {
    e_.write_raw(v);
    kept();
  }
  void binary(bytes_view v) {
    e_.write_binary(v);
    kept();
  }
  void error_field(const std::optional<error>& v) {
    if (!v) return null();
    encode(e_, *v);
    kept();
  }
  void state(const delivery_state& v) {
    if (v.type == delivery_state::kind::none) return null();
    encode(e_, v);
    kept();
  }
  void terminus_field(const std::optional<terminus>& v, bool is_source) {
    if (!v) return null();
    encode(e_, *v, is_source);
    kept();
  }

 private:
  void kept() {
    ++n_;
    count_ = n_;
    keep_ = e_.buffer().size();
  }
  encoder& e_;
  std::size_t marker_ = 0;
  std::size_t keep_ = 0;
  std::uint32_t n_ = 0;
  std::uint32_t count_ = 0;
};

}  // namespace

std::optional<std::uint64_t> resolve_descriptor(const descriptor& d) noexcept {
  if (!d.is_symbol()) return d.code;
  for (const auto& s : symbolic_descriptors) {
    if (s.name == d.symbol) return s.code;
  }
  return std::nullopt;
}

result<error> decode_error(decoder& in) {
  decoder copy = in;
  auto dl = read_described_list(copy);
  if (!dl) return unexpected_error{dl.error()};
  if (dl->code != descriptor_code::error) return err(codec_errc::invalid_descriptor);
  fields f(dl->list);
  error e;
  FM_TRY(get_symbol(f, e.condition, true));
  FM_TRY(get_string(f, e.description));
  FM_TRY(get_raw(f, e.info));
  in = copy;
  return e;
}

result<delivery_state> decode_delivery_state(decoder& in) {
  delivery_state s;
  if (in.next_is_null()) {
    (void)in.read_null();
    return s;
  }
  decoder copy = in;
  auto dl = read_described_list(copy);
  if (!dl) return unexpected_error{dl.error()};
  fields f(dl->list);
  switch (dl->code) {
    case descriptor_code::received:
      s.type = delivery_state::kind::received;
      FM_TRY(get_uint(f, s.section_number, true));
      FM_TRY(get_ulong(f, s.section_offset, true));
      break;
    case descriptor_code::accepted:
      s.type = delivery_state::kind::accepted;
      break;
    case descriptor_code::rejected:
      s.type = delivery_state::kind::rejected;
      FM_TRY(get_error(f, s.rejected_error));
      break;
    case descriptor_code::released:
      s.type = delivery_state::kind::released;
      break;
    case descriptor_code::modified:
      s.type = delivery_state::kind::modified;
      FM_TRY(get_bool(f, s.delivery_failed));
      FM_TRY(get_bool(f, s.undeliverable_here));
      FM_TRY(get_raw_view(f, s.message_annotations));
      break;
    default:
      return err(codec_errc::invalid_descriptor);
  }
  in = copy;
  return s;
}

codec_errc detail::decode_performative_into(decoder& in, performative& out) {
  hot_prelude pre;
  if (in.depth() + 1 <= max_decode_depth && parse_hot_prelude(in.remaining(), pre)) {
    hot_fields f(in.remaining().data() + pre.header, pre.size, pre.count, in.depth() + 1);
    codec_errc e = codec_errc::invalid_descriptor;
    bool hot = true;
    switch (pre.code) {
      case descriptor_code::transfer:
        e = decode_transfer_hot(f, out.emplace<transfer>());
        break;
      case descriptor_code::disposition:
        e = decode_disposition_hot(f, out.emplace<disposition>());
        break;
      case descriptor_code::flow:
        e = decode_flow_hot(f, out.emplace<flow>());
        break;
      default:
        hot = false;
        break;
    }
    if (hot) {
      if (e == codec_errc{}) in.advance(pre.header + pre.size);
      return e;
    }
  }
  decoder copy = in;
  auto dl = read_described_list(copy);
  if (!dl) return to_errc(dl.error());
  codec_errc e{};
  if (dl->code == descriptor_code::transfer || dl->code == descriptor_code::disposition ||
      dl->code == descriptor_code::flow) {
    const bytes_view b = dl->list.elements.remaining();
    hot_fields hf(b.data(), b.size(), dl->list.count, dl->list.elements.depth());
    if (dl->code == descriptor_code::transfer) {
      e = decode_transfer_hot(hf, out.emplace<transfer>());
    } else if (dl->code == descriptor_code::disposition) {
      e = decode_disposition_hot(hf, out.emplace<disposition>());
    } else {
      e = decode_flow_hot(hf, out.emplace<flow>());
    }
    if (e == codec_errc{}) in = copy;
    return e;
  }
  fields f(dl->list);
  result<void> r;
  switch (dl->code) {
    case descriptor_code::open:
      r = decode_open(f, out.emplace<open>());
      break;
    case descriptor_code::begin:
      r = decode_begin(f, out.emplace<begin>());
      break;
    case descriptor_code::attach:
      r = decode_attach(f, out.emplace<attach>());
      break;
    case descriptor_code::detach:
      r = decode_detach(f, out.emplace<detach>());
      break;
    case descriptor_code::end:
      r = get_error(f, out.emplace<end>().err);
      break;
    case descriptor_code::close:
      r = get_error(f, out.emplace<close>().err);
      break;
    default:
      return codec_errc::invalid_descriptor;
  }
  if (!r) return to_errc(r.error());
  in = copy;
  return e;
}

result<void> decode_performative(decoder& in, performative& out) {
  if (const codec_errc e = detail::decode_performative_into(in, out); e != codec_errc{}) {
    return fogmesh::unexpected(e);
  }
  return {};
}

result<performative> decode_performative(decoder& in) {
  result<performative> out{performative{std::in_place_type<end>}};
  if (const codec_errc e = detail::decode_performative_into(in, *out); e != codec_errc{}) {
    out = fogmesh::unexpected(e);
  }
  return out;
}

result<sasl_frame> decode_sasl_frame(decoder& in) {
  decoder copy = in;
  auto dl = read_described_list(copy);
  if (!dl) return unexpected_error{dl.error()};
  fields f(dl->list);
  result<sasl_frame> out = err(codec_errc::invalid_descriptor);
  switch (dl->code) {
    case descriptor_code::sasl_mechanisms: {
      sasl_mechanisms v;
      FM_TRY(get_symbols(f, v.mechanisms, true));
      out = sasl_frame{std::move(v)};
      break;
    }
    case descriptor_code::sasl_init: {
      sasl_init v;
      FM_TRY(get_symbol(f, v.mechanism, true));
      if (f.next()) {
        auto b = f.in().read_binary();
        if (!b) return unexpected_error{b.error()};
        v.initial_response.emplace(b->begin(), b->end());
      }
      FM_TRY(get_string(f, v.hostname));
      out = sasl_frame{std::move(v)};
      break;
    }
    case descriptor_code::sasl_challenge: {
      sasl_challenge v;
      FM_TRY(get_binary(f, v.challenge, true));
      out = sasl_frame{std::move(v)};
      break;
    }
    case descriptor_code::sasl_response: {
      sasl_response v;
      FM_TRY(get_binary(f, v.response, true));
      out = sasl_frame{std::move(v)};
      break;
    }
    case descriptor_code::sasl_outcome: {
      sasl_outcome v;
      if (!f.next()) return err(codec_errc::missing_field);
      auto c = f.in().read_ubyte();
      if (!c) return unexpected_error{c.error()};
      if (*c > 4) return err(codec_errc::invalid_value);
      v.code = static_cast<sasl_outcome::code_t>(*c);
      FM_TRY(get_binary(f, v.additional_data));
      out = sasl_frame{std::move(v)};
      break;
    }
    default:
      break;
  }
  if (out) in = copy;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Encoders

void encode(encoder& out, const open& v) {
  list_writer w(out, descriptor_code::open);
  w.string(v.container_id, true);
  w.string(v.hostname);
  w.uint_or_default(v.max_frame_size, 0xffffffff);
  w.ushort(v.channel_max == 0xffff ? std::nullopt : std::optional<std::uint16_t>(v.channel_max));
  w.uint(v.idle_timeout_ms);
  w.symbols(v.outgoing_locales);
  w.symbols(v.incoming_locales);
  w.symbols(v.offered_capabilities);
  w.symbols(v.desired_capabilities);
  w.raw(v.properties);
  w.finish();
}

void encode(encoder& out, const begin& v) {
  list_writer w(out, descriptor_code::begin);
  w.ushort(v.remote_channel);
  w.uint(v.next_outgoing_id);
  w.uint(v.incoming_window);
  w.uint(v.outgoing_window);
  w.uint_or_default(v.handle_max, 0xffffffff);
  w.symbols(v.offered_capabilities);
  w.symbols(v.desired_capabilities);
  w.raw(v.properties);
  w.finish();
}

void encode(encoder& out, const attach& v) {
  list_writer w(out, descriptor_code::attach);
  w.string(v.name, true);
  w.uint(v.handle);
  w.boolean(v.role == role::receiver);
  w.ubyte_or_default(static_cast<std::uint8_t>(v.snd_settle_mode),
                     static_cast<std::uint8_t>(sender_settle_mode::mixed));
  w.ubyte_or_default(static_cast<std::uint8_t>(v.rcv_settle_mode),
                     static_cast<std::uint8_t>(receiver_settle_mode::first));
  w.terminus_field(v.source, true);
  w.terminus_field(v.target, false);
  w.raw(v.unsettled);
  w.flag(v.incomplete_unsettled);
  w.uint(v.initial_delivery_count);
  w.ulong(v.max_message_size);
  w.symbols(v.offered_capabilities);
  w.symbols(v.desired_capabilities);
  w.raw(v.properties);
  w.finish();
}

namespace {

// Hot-path encoding: one resize for the worst case, raw stores, one shrink. Used when every field
// is small (no delivery state, short tag, no properties) so the list is known to fit a list8.
struct hot_writer {
  std::uint8_t* p;
  std::uint8_t* content;
  std::uint8_t* kept;
  std::uint32_t n = 0;
  std::uint32_t count = 0;

  explicit hot_writer(std::uint8_t* base) : p(base + 6), content(base + 6), kept(base + 6) {}
  void keep() {
    ++n;
    count = n;
    kept = p;
  }
  void null() {
    *p++ = code::null;
    ++n;
  }
  void uint(std::uint32_t v) {
    if (v == 0) {
      *p++ = code::uint0;
    } else if (v <= 0xff) {
      *p++ = code::smalluint;
      *p++ = static_cast<std::uint8_t>(v);
    } else {
      *p++ = code::uint;
      *p++ = static_cast<std::uint8_t>(v >> 24);
      *p++ = static_cast<std::uint8_t>(v >> 16);
      *p++ = static_cast<std::uint8_t>(v >> 8);
      *p++ = static_cast<std::uint8_t>(v);
    }
    keep();
  }
  void uint(std::optional<std::uint32_t> v) {
    if (v) {
      uint(*v);
    } else {
      null();
    }
  }
  void flag(bool v) {
    if (v) {
      *p++ = code::bool_true;
      keep();
    } else {
      null();
    }
  }
  // Writes descriptor + list8 header in front of the content and trims the buffer.
  void finish(byte_buffer& out, std::size_t start, std::uint8_t descriptor) {
    std::uint8_t* base = content - 6;
    base[0] = code::described;
    base[1] = code::smallulong;
    base[2] = descriptor;
    const auto size = static_cast<std::size_t>(kept - content);
    if (count == 0) {
      base[3] = code::list0;
      out.resize(start + 4);
    } else {
      base[3] = code::list8;
      base[4] = static_cast<std::uint8_t>(size + 1);
      base[5] = static_cast<std::uint8_t>(count);
      out.resize(start + 6 + size);
    }
  }
};

// Longest tag the hot transfer encoder takes: keeps the whole list under list8's 255 bytes.
constexpr std::size_t hot_max_tag = 200;

}  // namespace

namespace {
void encode_flow_general(encoder& out, const flow& v) {
  list_writer w(out, descriptor_code::flow);
  w.uint(v.next_incoming_id);
  w.uint(v.incoming_window);
  w.uint(v.next_outgoing_id);
  w.uint(v.outgoing_window);
  w.uint(v.handle);
  w.uint(v.delivery_count);
  w.uint(v.link_credit);
  w.uint(v.available);
  w.flag(v.drain);
  w.flag(v.echo);
  w.raw(v.properties);
  w.finish();
}
}  // namespace

void encode(encoder& out, const flow& v) {
  if (!v.properties.empty()) {
    encode_flow_general(out, v);
    return;
  }
  byte_buffer& b = out.buffer();
  const std::size_t start = b.size();
  b.resize(start + 64);
  hot_writer w(b.data() + start);
  w.uint(v.next_incoming_id);
  w.uint(v.incoming_window);
  w.uint(v.next_outgoing_id);
  w.uint(v.outgoing_window);
  w.uint(v.handle);
  w.uint(v.delivery_count);
  w.uint(v.link_credit);
  w.uint(v.available);
  w.flag(v.drain);
  w.flag(v.echo);
  w.finish(b, start, descriptor_code::flow);
}

namespace {
void encode_transfer_general(encoder& out, const transfer& v) {
  list_writer w(out, descriptor_code::transfer);
  w.uint(v.handle);
  w.uint(v.delivery_id);
  if (v.delivery_tag) {
    w.binary(*v.delivery_tag);
  } else {
    w.null();
  }
  w.uint(v.message_format);
  w.boolean(v.settled);
  w.flag(v.more);
  if (v.rcv_settle_mode) {
    w.ubyte_or_default(static_cast<std::uint8_t>(*v.rcv_settle_mode), 0xff);
  } else {
    w.null();
  }
  w.state(v.state);
  w.flag(v.resume);
  w.flag(v.aborted);
  w.flag(v.batchable);
  w.finish();
}
}  // namespace

void encode(encoder& out, const transfer& v) {
  const std::size_t tag_len = v.delivery_tag ? v.delivery_tag->size() : 0;
  if (v.state.type != delivery_state::kind::none || tag_len > hot_max_tag) {
    encode_transfer_general(out, v);
    return;
  }
  byte_buffer& b = out.buffer();
  const std::size_t start = b.size();
  b.resize(start + 64 + tag_len);
  hot_writer w(b.data() + start);
  w.uint(v.handle);
  w.uint(v.delivery_id);
  if (v.delivery_tag) {
    *w.p++ = code::vbin8;
    *w.p++ = static_cast<std::uint8_t>(tag_len);
    if (tag_len != 0) std::memcpy(w.p, v.delivery_tag->data(), tag_len);
    w.p += tag_len;
    w.keep();
  } else {
    w.null();
  }
  w.uint(v.message_format);
  if (v.settled) {
    *w.p++ = *v.settled ? code::bool_true : code::bool_false;
    w.keep();
  } else {
    w.null();
  }
  w.flag(v.more);
  if (v.rcv_settle_mode) {
    *w.p++ = code::ubyte;
    *w.p++ = static_cast<std::uint8_t>(*v.rcv_settle_mode);
    w.keep();
  } else {
    w.null();
  }
  w.null();  // state: none
  w.flag(v.resume);
  w.flag(v.aborted);
  w.flag(v.batchable);
  w.finish(b, start, descriptor_code::transfer);
}

void encode(encoder& out, const disposition& v) {
  list_writer w(out, descriptor_code::disposition);
  w.boolean(v.role == role::receiver);
  w.uint(v.first);
  w.uint(v.last);
  w.flag(v.settled);
  w.state(v.state);
  w.flag(v.batchable);
  w.finish();
}

void encode(encoder& out, const detach& v) {
  list_writer w(out, descriptor_code::detach);
  w.uint(v.handle);
  w.flag(v.closed);
  w.error_field(v.err);
  w.finish();
}

void encode(encoder& out, const end& v) {
  list_writer w(out, descriptor_code::end);
  w.error_field(v.err);
  w.finish();
}

void encode(encoder& out, const close& v) {
  list_writer w(out, descriptor_code::close);
  w.error_field(v.err);
  w.finish();
}

void encode(encoder& out, const sasl_mechanisms& v) {
  list_writer w(out, descriptor_code::sasl_mechanisms);
  if (v.mechanisms.empty()) {
    // Mandatory, so an empty array rather than null.
    constexpr std::array<std::uint8_t, 4> empty_array{code::array8, 2, 0, code::sym8};
    w.raw_kept(empty_array);
  } else {
    w.symbols(v.mechanisms);
  }
  w.finish();
}

void encode(encoder& out, const sasl_init& v) {
  list_writer w(out, descriptor_code::sasl_init);
  w.symbol(v.mechanism, true);
  if (v.initial_response) {
    w.binary(*v.initial_response);
  } else {
    w.null();
  }
  w.string(v.hostname);
  w.finish();
}

void encode(encoder& out, const sasl_challenge& v) {
  list_writer w(out, descriptor_code::sasl_challenge);
  w.binary(v.challenge);
  w.finish();
}

void encode(encoder& out, const sasl_response& v) {
  list_writer w(out, descriptor_code::sasl_response);
  w.binary(v.response);
  w.finish();
}

void encode(encoder& out, const sasl_outcome& v) {
  list_writer w(out, descriptor_code::sasl_outcome);
  w.ubyte_or_default(static_cast<std::uint8_t>(v.code), 0xff);
  if (v.additional_data.empty()) {
    w.null();
  } else {
    w.binary(v.additional_data);
  }
  w.finish();
}

void encode(encoder& out, const delivery_state& v) {
  switch (v.type) {
    case delivery_state::kind::none:
      out.write_null();
      return;
    case delivery_state::kind::received: {
      list_writer w(out, descriptor_code::received);
      w.uint(v.section_number);
      w.ulong(v.section_offset);
      w.finish();
      return;
    }
    case delivery_state::kind::accepted:
    case delivery_state::kind::released: {
      list_writer w(out, v.type == delivery_state::kind::accepted ? descriptor_code::accepted
                                                                  : descriptor_code::released);
      w.finish();
      return;
    }
    case delivery_state::kind::rejected: {
      list_writer w(out, descriptor_code::rejected);
      w.error_field(v.rejected_error);
      w.finish();
      return;
    }
    case delivery_state::kind::modified: {
      list_writer w(out, descriptor_code::modified);
      w.flag(v.delivery_failed);
      w.flag(v.undeliverable_here);
      w.raw(v.message_annotations);
      w.finish();
      return;
    }
  }
}

void encode(encoder& out, const error& v) {
  list_writer w(out, descriptor_code::error);
  w.symbol(v.condition, true);
  w.string(v.description);
  w.raw(v.info);
  w.finish();
}

void encode(encoder& out, const terminus& v, bool is_source) {
  list_writer w(out, is_source ? descriptor_code::source : descriptor_code::target);
  if (v.address) {
    w.string(*v.address, true);
  } else {
    w.null();
  }
  w.uint_or_default(v.durable, 0);
  if (v.expiry_policy == "session-end") {
    w.null();
  } else {
    w.symbol(v.expiry_policy, true);
  }
  w.uint_or_default(v.timeout, 0);
  w.flag(v.dynamic);
  w.raw(v.dynamic_node_properties);
  if (is_source) {
    w.symbol(v.distribution_mode);
    w.raw(v.filter);
    w.raw(v.default_outcome);
    w.symbols(v.outcomes);
  }
  w.symbols(v.capabilities);
  w.finish();
}

}  // namespace fogmesh::router::amqp
