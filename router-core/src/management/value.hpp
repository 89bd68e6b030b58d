// The values management requests and replies carry (AMQP Management draft 9): maps of
// attribute name → scalar, lists of rows. A small tree, converted to and from AMQP encoding;
// the router's data path never uses it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "amqp/codec.hpp"

namespace fogmesh::router::management {

struct value;
using value_list = std::vector<value>;
using value_map = std::vector<std::pair<std::string, value>>;  // keys in insertion order

struct value {
  std::variant<std::monostate, bool, std::int64_t, double, std::string, value_list, value_map> v;

  value() = default;
  value(std::nullptr_t) {}
  value(bool b) : v(b) {}
  value(int i) : v(std::int64_t{i}) {}
  value(unsigned i) : v(std::int64_t{i}) {}
  value(std::int64_t i) : v(i) {}
  value(std::uint64_t i) : v(static_cast<std::int64_t>(i)) {}
  value(double d) : v(d) {}
  value(const char* s) : v(std::string(s)) {}
  value(std::string s) : v(std::move(s)) {}
  value(std::string_view s) : v(std::string(s)) {}
  value(value_list l) : v(std::move(l)) {}
  value(value_map m) : v(std::move(m)) {}

  bool is_null() const noexcept { return std::holds_alternative<std::monostate>(v); }
  const std::string* string() const noexcept { return std::get_if<std::string>(&v); }
  const value_map* map() const noexcept { return std::get_if<value_map>(&v); }
  const value_list* list() const noexcept { return std::get_if<value_list>(&v); }
  // Scalars as config text ("5672", "true", "name"); lists/maps as JSON.
  std::string to_text() const;
  std::string to_json() const;
};

const value* find(const value_map& m, std::string_view key);

// AMQP encoding: strings as str (not symbol), integers as long, maps with string keys.
void encode(amqp::encoder& out, const value& v);
// Decodes one AMQP value; symbols and strings both become strings, all integer widths int64,
// binary as a string of its bytes, described values as their underlying value.
result<value> decode(amqp::decoder& in);

}  // namespace fogmesh::router::management
