#include "http.hpp"

#include <cctype>
#include <cmath>

#include "validate.hpp"

namespace fogmesh::controller {

namespace json = boost::json;

const std::string* http_request::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

const std::string* http_request::query_param(std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return &v;
  }
  return nullptr;
}

http_response json_response(int status, const json::value& v) {
  return raw_json_response(status, json::serialize(v));
}

http_response raw_json_response(int status, std::string json_text) {
  http_response r;
  r.status = status;
  r.body = std::move(json_text);
  return r;
}

http_response empty_response(int status) {
  http_response r;
  r.status = status;
  return r;
}

http_response error_response(int status, std::string_view name, std::string_view message) {
  json::object o;
  o["name"] = name;
  o["message"] = message;
  return json_response(status, o);
}

json::object parse_body(const http_request& req) {
  auto first = req.body.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  if (ec) throw validation_error("Invalid JSON body: " + ec.message());
  if (!v.is_object()) throw validation_error("Request body must be a JSON object");
  return std::move(v.as_object());
}

void throw_type_error(std::string_view field, std::string_view type) {
  throw validation_error("Field '" + std::string(field) + "' is not of a type(s) " +
                         std::string(type));
}
void throw_missing(std::string_view field) {
  throw validation_error("Required field '" + std::string(field) + "' is missing");
}
void throw_format(std::string_view field) {
  throw validation_error("Invalid format for field '" + std::string(field) + "'");
}

bool body_reader::has(std::string_view key) const {
  auto it = obj_.find(key);
  return it != obj_.end() && !it->value().is_null();
}

const json::value* body_reader::find(std::string_view key, bool required) const {
  auto it = obj_.find(key);
  if (it == obj_.end() || it->value().is_null()) {
    if (required) throw_missing(key);
    return nullptr;
  }
  return &it->value();
}

std::optional<std::string> body_reader::str(std::string_view key, bool required, size_t min_length,
                                            size_t max_length) {
  const auto* v = find(key, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) throw_type_error(key, "string");
  std::string s(v->as_string());
  if (s.size() < min_length) {
    throw validation_error("Field " + std::string(key) + " does not meet minimum length of " +
                           std::to_string(min_length));
  }
  if (max_length != 0 && s.size() > max_length) {
    throw validation_error("Field " + std::string(key) + " does not meet maximum length of " +
                           std::to_string(max_length));
  }
  return s;
}

std::optional<int64_t> body_reader::integer(std::string_view key, bool required,
                                            std::optional<int64_t> min,
                                            std::optional<int64_t> max) {
  const auto* v = find(key, required);
  if (v == nullptr) return std::nullopt;
  int64_t n = 0;
  if (v->is_int64()) {
    n = v->as_int64();
  } else if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    n = static_cast<int64_t>(v->as_uint64());
  } else if (v->is_double() && std::abs(v->as_double()) < 9e15 &&
             v->as_double() == std::trunc(v->as_double())) {
    n = static_cast<int64_t>(v->as_double());  // 10.0 is an integer to JSON Schema
  } else {
    throw_type_error(key, "integer");
  }
  if (min && n < *min) {
    throw validation_error("Field " + std::string(key) + " must be greater than or equal to " +
                           std::to_string(*min));
  }
  if (max && n > *max) {
    throw validation_error("Field " + std::string(key) + " must be less than or equal to " +
                           std::to_string(*max));
  }
  return n;
}

std::optional<double> body_reader::number(std::string_view key, bool required) {
  const auto* v = find(key, required);
  if (v == nullptr) return std::nullopt;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  throw_type_error(key, "number");
}

std::optional<bool> body_reader::boolean(std::string_view key, bool required) {
  const auto* v = find(key, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_bool()) throw_type_error(key, "boolean");
  return v->as_bool();
}

const json::array* body_reader::array(std::string_view key, bool required) {
  const auto* v = find(key, required);
  if (v == nullptr) return nullptr;
  if (!v->is_array()) throw_type_error(key, "array");
  return &v->as_array();
}

const json::object* body_reader::obj(std::string_view key, bool required) {
  const auto* v = find(key, required);
  if (v == nullptr) return nullptr;
  if (!v->is_object()) throw_type_error(key, "object");
  return &v->as_object();
}

std::optional<std::vector<std::string>> body_reader::string_array(std::string_view key,
                                                                  bool required) {
  const auto* a = array(key, required);
  if (a == nullptr) return std::nullopt;
  std::vector<std::string> out;
  out.reserve(a->size());
  for (size_t i = 0; i < a->size(); ++i) {
    if (!(*a)[i].is_string())
      throw_type_error(std::string(key) + "[" + std::to_string(i) + "]", "string");
    out.emplace_back((*a)[i].as_string());
  }
  return out;
}

std::optional<std::string> body_reader::enumeration(std::string_view key,
                                                    std::initializer_list<const char*> allowed,
                                                    bool required) {
  auto s = str(key, required);
  if (!s) return s;
  for (const char* a : allowed) {
    if (*s == a) return s;
  }
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : ",") + std::string(a);
  throw validation_error("Field " + std::string(key) + " is not one of enum values: " + list);
}

// Hand-written rather than std::regex: GCC 12's <regex> trips -Wmaybe-uninitialized at -O1.
bool is_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('.', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view label = name.substr(start, end - start);
    if (label.empty() || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    start = end + 1;
  }
  return true;
}

bool is_email(std::string_view email) {
  if (email.size() > 254) return false;
  auto at = email.find('@');
  if (at == std::string_view::npos || at == 0) return false;
  std::string_view local = email.substr(0, at);
  std::string_view domain = email.substr(at + 1);
  static constexpr std::string_view forbidden = "<>()[]\\,;:@\" \t\r\n";
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return false;
  }
  for (char c : local) {
    if (forbidden.find(c) != std::string_view::npos) return false;
  }
  auto last_dot = domain.rfind('.');
  if (last_dot == std::string_view::npos || last_dot == 0) return false;
  std::string_view tld = domain.substr(last_dot + 1);
  if (tld.size() < 2) return false;
  for (char c : tld) {
    if (!std::isalpha(static_cast<unsigned char>(c))) return false;
  }
  size_t start = 0;
  while (start < last_dot) {
    size_t end = domain.find('.', start);
    if (end == start) return false;
    for (size_t i = start; i < end; ++i) {
      char c = domain[i];
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    start = end + 1;
  }
  return true;
}

}  // namespace fogmesh::controller
