// The two config syntaxes → generic entities with line numbers. No schema knowledge here except
// qdrouterd's one special case: a `pattern:` value may contain `#` (it is a wildcard, not a
// comment), so only its first whitespace-delimited token is taken.
#include <string>
#include <string_view>
#include <vector>

#include "config/config_json.hpp"
#include "fogmesh/router/config.hpp"

namespace fogmesh::router {
namespace {

using config_detail::json_error;
using config_detail::json_value;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

// A `#` starts a trailing comment only at the start or after whitespace, so values such as
// `amqp://host#frag` keep their `#`.
std::string_view strip_comment(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '#' && (i == 0 || is_space(s[i - 1]))) return trim(s.substr(0, i));
  }
  return trim(s);
}

bool is_pattern_key(std::string_view key) {
  if (key.size() != 7) return false;
  for (std::size_t i = 0; i < 7; ++i) {
    if ((key[i] | 0x20) != "pattern"[i]) return false;
  }
  return true;
}

bool blank_or_comment(std::string_view s) {
  s = trim(s);
  return s.empty() || s.front() == '#';
}

// Shortened, printable echo of user text for error messages.
std::string quote(std::string_view s) {
  std::string out = "'";
  for (const char c : s.substr(0, 60)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  if (s.size() > 60) out += "...";
  return out + "'";
}

class brace_parser {
 public:
  brace_parser(std::string_view text, const std::string& file) : text_(text), file_(file) {}

  std::vector<config_entity> run() {
    std::size_t pos = 0;
    int line_no = 0;
    while (pos <= text_.size()) {
      std::size_t end = text_.find('\n', pos);
      if (end == std::string_view::npos) end = text_.size();
      ++line_no;
      handle_line(text_.substr(pos, end - pos), line_no);
      pos = end + 1;
    }
    if (state_ != state::top) {
      fail(current_.line, current_.type,
           "entity '" + current_.type + "' opened here is missing its closing '}'");
    }
    return std::move(entities_);
  }

 private:
  enum class state { top, want_brace, in_entity };

  [[noreturn]] void fail(int line, const std::string& entity, const std::string& message) const {
    throw config_error(file_, line, entity, message);
  }

  void open_entity(std::string_view name, int line) {
    current_ = config_entity{};
    current_.type = std::string(name);
    current_.line = line;
  }

  void handle_line(std::string_view raw, int line) {
    const std::string_view t = trim(raw);
    if (t.empty() || t.front() == '#') return;
    switch (state_) {
      case state::want_brace:
        if (t.front() != '{' || !blank_or_comment(t.substr(1))) {
          fail(line, current_.type,
               "expected '{' after entity name '" + current_.type + "' (line " +
                   std::to_string(current_.line) + "), got " + quote(t));
        }
        state_ = state::in_entity;
        return;
      case state::top:
        return handle_top(t, line);
      case state::in_entity:
        return handle_attribute(t, line);
    }
  }

  void handle_top(std::string_view t, int line) {
    const std::string_view s = strip_comment(t);
    if (s.front() == '}') fail(line, "", "unexpected '}' outside an entity");
    std::size_t n = 0;
    while (n < s.size() && is_name_char(s[n])) ++n;
    const std::string_view name = s.substr(0, n);
    const std::string_view rest = trim(s.substr(n));
    if (name.empty()) {
      fail(line, "",
           "expected an entity name followed by '{' (e.g. 'listener {'), got " + quote(s));
    }
    if (rest.empty()) {
      open_entity(name, line);
      state_ = state::want_brace;
    } else if (rest == "{") {
      open_entity(name, line);
      state_ = state::in_entity;
    } else if (rest.front() == ':') {
      fail(line, "",
           "attribute '" + std::string(name) +
               "' outside an entity; attributes go inside 'entity { ... }'");
    } else if (rest.front() == '{') {
      fail(line, std::string(name),
           "text after '{' on the entity line; put each 'attribute: value' on its own line");
    } else {
      fail(line, "", "expected an entity name followed by '{', got " + quote(s));
    }
  }

  void handle_attribute(std::string_view t, int line) {
    if (t.front() == '}') {
      if (!blank_or_comment(t.substr(1))) {
        fail(line, current_.type, "unexpected text after '}': " + quote(t.substr(1)));
      }
      entities_.push_back(std::move(current_));
      current_ = config_entity{};
      state_ = state::top;
      return;
    }
    std::size_t n = 0;
    while (n < t.size() && is_name_char(t[n])) ++n;
    const std::string_view key = t.substr(0, n);
    const std::string_view rest = trim(t.substr(n));
    if (key.empty() || rest.empty() || rest.front() != ':') {
      const std::string_view s = strip_comment(t);
      if (!key.empty() && !s.empty() && s.back() == '{') {
        fail(line, current_.type,
             "missing '}' before new entity '" + std::string(key) + "' (entity '" + current_.type +
                 "' opened at line " + std::to_string(current_.line) + ")");
      }
      if (!key.empty() && rest.empty()) {
        fail(line, current_.type,
             "expected '" + std::string(key) + ": value'; if '" + std::string(key) +
                 "' starts a new entity, the '}' closing '" + current_.type + "' (line " +
                 std::to_string(current_.line) + ") is missing");
      }
      fail(line, current_.type, "expected 'attribute: value' or '}', got " + quote(s));
    }
    config_attribute attr;
    attr.name = std::string(key);
    attr.line = line;
    parse_value(trim(rest.substr(1)), attr);
    current_.attributes.push_back(std::move(attr));
  }

  void parse_value(std::string_view v, config_attribute& attr) {
    if (v.empty()) return;  // `key:` alone sets the empty string
    if (v.front() == '"' || v.front() == '\'') return parse_quoted(v, attr);
    if (is_pattern_key(attr.name)) {
      std::size_t n = 0;
      while (n < v.size() && !is_space(v[n])) ++n;
      if (!blank_or_comment(v.substr(n))) {
        fail(attr.line, current_.type,
             "unexpected text after pattern " + quote(v.substr(0, n)) +
                 " (a pattern has no spaces; '#' in it is a wildcard, not a comment)");
      }
      attr.value = std::string(v.substr(0, n));
      return;
    }
    if (v.front() == '{' || v.front() == '[') {
      // JSON dict/list on the rest of the line. Not valid JSON (e.g. IPv6 `[::]`) → plain text.
      try {
        std::size_t pos = 0;
        int json_line = attr.line;
        const json_value j = config_detail::parse_json_value(v, pos, json_line);
        if (blank_or_comment(v.substr(pos))) {
          attr.value = config_detail::to_json_text(j);
          attr.structured = true;
          return;
        }
      } catch (const json_error&) {
      }
    }
    attr.value = std::string(strip_comment(v));
  }

  void parse_quoted(std::string_view v, config_attribute& attr) {
    std::size_t pos = 0;
    if (v.front() == '"') {
      try {
        int json_line = attr.line;
        attr.value = config_detail::parse_json_value(v, pos, json_line).text;
      } catch (const json_error& e) {
        fail(attr.line, current_.type, "bad quoted value for '" + attr.name + "': " + e.message);
      }
    } else {
      const std::size_t close = v.find('\'', 1);
      if (close == std::string_view::npos) {
        fail(attr.line, current_.type, "unterminated quoted value for '" + attr.name + "'");
      }
      attr.value = std::string(v.substr(1, close - 1));
      pos = close + 1;
    }
    if (!blank_or_comment(v.substr(pos))) {
      fail(attr.line, current_.type,
           "unexpected text after the quoted value of '" + attr.name +
               "': " + quote(trim(v.substr(pos))));
    }
  }

  std::string_view text_;
  const std::string& file_;
  state state_ = state::top;
  config_entity current_;
  std::vector<config_entity> entities_;
};

std::vector<config_entity> parse_json_config(std::string_view text, const std::string& file) {
  std::vector<config_entity> out;
  std::size_t pos = 0;
  int line = 1;
  json_value root;
  try {
    root = config_detail::parse_json_value(text, pos, line);
    config_detail::skip_json_space(text, pos, line);
  } catch (const json_error& e) {
    throw config_error(file, e.line, "", "invalid JSON: " + e.message);
  }
  if (pos != text.size())
    throw config_error(file, line, "", "unexpected text after the JSON array");
  if (root.type != json_value::kind::array) {
    throw config_error(file, root.line, "",
                       "a JSON config is an array of [\"entity\", {attributes}]");
  }
  for (json_value& item : root.items) {
    if (item.type != json_value::kind::array || item.items.size() != 2 ||
        item.items[0].type != json_value::kind::string ||
        item.items[1].type != json_value::kind::object) {
      throw config_error(file, item.line, "",
                         "each element of a JSON config must be [\"entity\", {attributes}]");
    }
    config_entity e;
    e.type = item.items[0].text;
    e.line = item.line;
    for (config_detail::json_member& m : item.items[1].members) {
      if (m.value.type == json_value::kind::null) continue;  // null = "use the default"
      config_attribute a;
      a.name = m.key;
      a.line = m.key_line;
      if (m.value.type == json_value::kind::array || m.value.type == json_value::kind::object) {
        a.value = config_detail::to_json_text(m.value);
        a.structured = true;
      } else {
        a.value = std::move(m.value.text);
      }
      e.attributes.push_back(std::move(a));
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

std::vector<config_entity> parse_config_entities(std::string_view text, const std::string& file) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 BOM
  // The first non-blank, non-comment character decides the syntax, as the header documents.
  std::size_t pos = 0;
  int line = 1;
  config_detail::skip_json_space(text, pos, line);
  if (pos < text.size() && text[pos] == '[') return parse_json_config(text, file);
  return brace_parser(text, file).run();
}

}  // namespace fogmesh::router
