// A small JSON reader/writer for the config loader.
//
// Why not nlohmann-json or Boost.JSON: config errors must name the line of each attribute, the
// config dialect allows `#` comments in JSON files (qdrouterd strips them), and the fuzzer needs
// a hard nesting limit. Neither library reports per-key line numbers, so we would need a second
// pass anyway; a ~300-line recursive-descent reader keeps the dependency list unchanged.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fogmesh::router::config_detail {

struct json_member;

struct json_value {
  enum class kind { null, boolean, number, string, array, object };
  kind type = kind::null;
  std::string text;                  // string contents, number literal, "true"/"false"
  std::vector<json_value> items;     // array
  std::vector<json_member> members;  // object, in document order (duplicates kept)
  int line = 0;                      // line where the value starts
};

struct json_member {
  std::string key;
  int key_line = 0;
  json_value value;
};

// Thrown by parse_json; the caller turns it into a config_error (or, for a brace-syntax value,
// falls back to treating the text as a plain string).
struct json_error {
  std::string message;
  int line = 0;
};

// Nesting deeper than this is rejected: the reader recurses, and configs are shallow.
inline constexpr int json_max_depth = 64;

// Parses one JSON value starting at `pos` (after optional whitespace/comments). `line` is the
// line number at text[0]. On return `pos` is just past the value. `#` starts a comment to the
// end of the line when outside a string. Throws json_error.
json_value parse_json_value(std::string_view text, std::size_t& pos, int& line);

// Skips whitespace and `#` comments, counting newlines.
void skip_json_space(std::string_view text, std::size_t& pos, int& line);

// Compact serialisation (`{"a":1,"b":[true,"x"]}`); number literals are kept as written.
std::string to_json_text(const json_value& value);

}  // namespace fogmesh::router::config_detail
