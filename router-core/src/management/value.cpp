#include "management/value.hpp"

#include <cstdio>

#include "fogmesh/common/json_text.hpp"

namespace fogmesh::router::management {

namespace {

void append_json(std::string& out, const value& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          out += "null";
        } else if constexpr (std::is_same_v<T, bool>) {
          out += x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          out += std::to_string(x);
        } else if constexpr (std::is_same_v<T, double>) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.17g", x);
          out += buf;
        } else if constexpr (std::is_same_v<T, std::string>) {
          append_json_string(out, x);
        } else if constexpr (std::is_same_v<T, value_list>) {
          out += '[';
          for (std::size_t i = 0; i < x.size(); ++i) {
            if (i) out += ',';
            append_json(out, x[i]);
          }
          out += ']';
        } else {
          out += '{';
          for (std::size_t i = 0; i < x.size(); ++i) {
            if (i) out += ',';
            append_json_string(out, x[i].first);
            out += ':';
            append_json(out, x[i].second);
          }
          out += '}';
        }
      },
      v.v);
}

}  // namespace

std::string value::to_json() const {
  std::string out;
  append_json(out, *this);
  return out;
}

std::string value::to_text() const {
  if (const auto* s = string()) return *s;
  if (is_null()) return "";
  return to_json();
}

const value* find(const value_map& m, std::string_view key) {
  for (const auto& [k, v] : m) {
    if (k == key) return &v;
  }
  return nullptr;
}

void encode(amqp::encoder& out, const value& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          out.write_null();
        } else if constexpr (std::is_same_v<T, bool>) {
          out.write_bool(x);
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          out.write_long(x);
        } else if constexpr (std::is_same_v<T, double>) {
          out.write_double(x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          out.write_string(x);
        } else if constexpr (std::is_same_v<T, value_list>) {
          const std::size_t marker = out.begin_list();
          for (const auto& item : x) encode(out, item);
          out.end_list(marker, static_cast<std::uint32_t>(x.size()));
        } else {
          const std::size_t marker = out.begin_map();
          for (const auto& [k, item] : x) {
            out.write_string(k);
            encode(out, item);
          }
          out.end_map(marker, static_cast<std::uint32_t>(x.size() * 2));
        }
      },
      v.v);
}

result<value> decode(amqp::decoder& in) {
  auto code = in.peek_code();
  if (!code) return unexpected(code.error());
  if (*code == amqp::code::described) {
    auto d = in.read_descriptor();
    if (!d) return unexpected(d.error());
    return decode(in);
  }
  using namespace amqp::code;
  switch (*code) {
    case null: {
      auto r = in.read_null();
      if (!r) return unexpected(r.error());
      return value{};
    }
    case boolean: case bool_true: case bool_false: {
      auto r = in.read_bool();
      if (!r) return unexpected(r.error());
      return value{*r};
    }
    case ubyte: { auto r = in.read_ubyte(); if (!r) return unexpected(r.error()); return value{std::int64_t{*r}}; }
    case ushort: { auto r = in.read_ushort(); if (!r) return unexpected(r.error()); return value{std::int64_t{*r}}; }
    case uint: case smalluint: case uint0: {
      auto r = in.read_uint(); if (!r) return unexpected(r.error()); return value{std::int64_t{*r}};
    }
    case ulong: case smallulong: case ulong0: {
      auto r = in.read_ulong(); if (!r) return unexpected(r.error()); return value{static_cast<std::int64_t>(*r)};
    }
    case byte: { auto r = in.read_byte(); if (!r) return unexpected(r.error()); return value{std::int64_t{*r}}; }
    case short_: { auto r = in.read_short(); if (!r) return unexpected(r.error()); return value{std::int64_t{*r}}; }
    case int_: case smallint: {
      auto r = in.read_int(); if (!r) return unexpected(r.error()); return value{std::int64_t{*r}};
    }
    case long_: case smalllong: {
      auto r = in.read_long(); if (!r) return unexpected(r.error()); return value{*r};
    }
    case float_: { auto r = in.read_float(); if (!r) return unexpected(r.error()); return value{double{*r}}; }
    case double_: { auto r = in.read_double(); if (!r) return unexpected(r.error()); return value{*r}; }
    case timestamp: { auto r = in.read_timestamp(); if (!r) return unexpected(r.error()); return value{*r}; }
    case str8: case str32: {
      auto r = in.read_string(); if (!r) return unexpected(r.error()); return value{*r};
    }
    case sym8: case sym32: {
      auto r = in.read_symbol(); if (!r) return unexpected(r.error()); return value{*r};
    }
    case vbin8: case vbin32: {
      auto r = in.read_binary();
      if (!r) return unexpected(r.error());
      return value{std::string(reinterpret_cast<const char*>(r->data()), r->size())};
    }
    case list0: case list8: case list32: {
      auto l = in.read_list();
      if (!l) return unexpected(l.error());
      value_list items;
      for (std::uint32_t i = 0; i < l->count; ++i) {
        auto item = decode(l->elements);
        if (!item) return unexpected(item.error());
        items.push_back(std::move(*item));
      }
      return value{std::move(items)};
    }
    case map8: case map32: {
      auto m = in.read_map();
      if (!m) return unexpected(m.error());
      value_map items;
      for (std::uint32_t i = 0; i + 1 < m->count; i += 2) {
        auto k = decode(m->elements);
        if (!k) return unexpected(k.error());
        auto item = decode(m->elements);
        if (!item) return unexpected(item.error());
        items.emplace_back(k->to_text(), std::move(*item));
      }
      return value{std::move(items)};
    }
    default: {
      // uuid, char, decimals, arrays: carried as null (management never needs them).
      auto skipped = in.skip_value();
      if (!skipped) return unexpected(skipped.error());
      return value{};
    }
  }
}

}  // namespace fogmesh::router::management
