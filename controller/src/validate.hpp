// Request-body readers that report the first problem the way upstream's JSON-Schema validation
// does ("Required field 'x' is missing", "Field 'x' is not of a type(s) integer", ...).
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "http.hpp"

namespace fogmesh::controller {

// Parses a request body that must be a JSON object. An empty body counts as {} (upstream's
// body-parser does the same), anything else that is not an object is a 400.
boost::json::object parse_body(const http_request& req);

class body_reader {
 public:
  explicit body_reader(const boost::json::object& obj) : obj_(obj) {}

  bool has(std::string_view key) const;  // present and not null
  const boost::json::object& object() const { return obj_; }

  // Each returns nullopt when the field is absent or null (unless required), and throws a
  // ValidationError for a wrong type or failed constraint.
  std::optional<std::string> str(std::string_view key, bool required = false, size_t min_length = 0,
                                 size_t max_length = 0);
  std::optional<int64_t> integer(std::string_view key, bool required = false,
                                 std::optional<int64_t> min = {}, std::optional<int64_t> max = {});
  std::optional<double> number(std::string_view key, bool required = false);
  std::optional<bool> boolean(std::string_view key, bool required = false);
  const boost::json::array* array(std::string_view key, bool required = false);
  const boost::json::object* obj(std::string_view key, bool required = false);
  std::optional<std::vector<std::string>> string_array(std::string_view key, bool required = false);
  // Value must be one of `allowed`.
  std::optional<std::string> enumeration(std::string_view key,
                                         std::initializer_list<const char*> allowed,
                                         bool required = false);

 private:
  const boost::json::value* find(std::string_view key, bool required) const;
  const boost::json::object& obj_;
};

[[noreturn]] void throw_type_error(std::string_view field, std::string_view type);
[[noreturn]] void throw_missing(std::string_view field);
[[noreturn]] void throw_format(std::string_view field);

// Upstream's DNS-label rule for application/microservice/route names.
bool is_dns_name(std::string_view name);
bool is_email(std::string_view email);

}  // namespace fogmesh::controller
