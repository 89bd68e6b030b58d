#include "amqp/performatives.hpp"

#include <algorithm>
#include <array>
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
result<void> get_bool(fields& f, std::optional<bool>& out) {
  if (!f.next()) return {};
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

result<void> get_state(fields& f, delivery_state& out) {
  if (!f.next()) return {};
  auto s = decode_delivery_state(f.in());
  if (!s) return unexpected_error{s.error()};
  out = std::move(*s);
  return {};
}

result<performative> decode_open(fields& f) {
  open v;
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
  return performative{std::move(v)};
}

result<performative> decode_begin(fields& f) {
  begin v;
  FM_TRY(get_ushort(f, v.remote_channel));
  FM_TRY(get_uint(f, v.next_outgoing_id, true));
  FM_TRY(get_uint(f, v.incoming_window, true));
  FM_TRY(get_uint(f, v.outgoing_window, true));
  FM_TRY(get_uint(f, v.handle_max));
  FM_TRY(get_symbols(f, v.offered_capabilities));
  FM_TRY(get_symbols(f, v.desired_capabilities));
  FM_TRY(get_raw(f, v.properties));
  return performative{std::move(v)};
}

result<performative> decode_attach(fields& f) {
  attach v;
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
  return performative{std::move(v)};
}

result<performative> decode_flow(fields& f) {
  flow v;
  FM_TRY(get_uint(f, v.next_incoming_id));
  FM_TRY(get_uint(f, v.incoming_window, true));
  FM_TRY(get_uint(f, v.next_outgoing_id, true));
  FM_TRY(get_uint(f, v.outgoing_window, true));
  FM_TRY(get_uint(f, v.handle));
  FM_TRY(get_uint(f, v.delivery_count));
  FM_TRY(get_uint(f, v.link_credit));
  FM_TRY(get_uint(f, v.available));
  FM_TRY(get_bool(f, v.drain));
  FM_TRY(get_bool(f, v.echo));
  FM_TRY(get_raw_view(f, v.properties));
  return performative{std::in_place_type<flow>, v};
}

result<void> decode_transfer_fields(fields& f, transfer& v) {
  FM_TRY(get_uint(f, v.handle, true));
  FM_TRY(get_uint(f, v.delivery_id));
  if (f.next()) FM_TRY(assign(f.in().read_binary(), v.delivery_tag));
  FM_TRY(get_uint(f, v.message_format));
  FM_TRY(get_bool(f, v.settled));
  FM_TRY(get_bool(f, v.more));
  FM_TRY(get_rcv_settle_mode(f, v.rcv_settle_mode));
  FM_TRY(get_state(f, v.state));
  FM_TRY(get_bool(f, v.resume));
  FM_TRY(get_bool(f, v.aborted));
  FM_TRY(get_bool(f, v.batchable));
  return {};
}

result<performative> decode_disposition(fields& f) {
  result<performative> out{performative{std::in_place_type<disposition>}};
  auto& v = std::get<disposition>(*out);
  FM_TRY(get_role(f, v.role));
  FM_TRY(get_uint(f, v.first, true));
  FM_TRY(get_uint(f, v.last));
  FM_TRY(get_bool(f, v.settled));
  FM_TRY(get_state(f, v.state));
  FM_TRY(get_bool(f, v.batchable));
  return out;
}

result<performative> decode_detach(fields& f) {
  detach v;
  FM_TRY(get_uint(f, v.handle, true));
  FM_TRY(get_bool(f, v.closed));
  FM_TRY(get_error(f, v.err));
  return performative{std::move(v)};
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

result<performative> decode_performative(decoder& in) {
  decoder copy = in;
  auto dl = read_described_list(copy);
  if (!dl) return unexpected_error{dl.error()};
  fields f(dl->list);
  result<performative> out = err(codec_errc::invalid_descriptor);
  switch (dl->code) {
    case descriptor_code::open:
      out = decode_open(f);
      break;
    case descriptor_code::begin:
      out = decode_begin(f);
      break;
    case descriptor_code::attach:
      out = decode_attach(f);
      break;
    case descriptor_code::flow:
      out = decode_flow(f);
      break;
    case descriptor_code::transfer: {
      out = performative{std::in_place_type<transfer>};
      if (auto r = decode_transfer_fields(f, std::get<transfer>(*out)); !r) {
        return unexpected_error{r.error()};
      }
      break;
    }
    case descriptor_code::disposition:
      out = decode_disposition(f);
      break;
    case descriptor_code::detach:
      out = decode_detach(f);
      break;
    case descriptor_code::end: {
      end v;
      FM_TRY(get_error(f, v.err));
      out = performative{std::move(v)};
      break;
    }
    case descriptor_code::close: {
      close v;
      FM_TRY(get_error(f, v.err));
      out = performative{std::move(v)};
      break;
    }
    default:
      break;
  }
  if (out) in = copy;
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

void encode(encoder& out, const flow& v) {
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

void encode(encoder& out, const transfer& v) {
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
