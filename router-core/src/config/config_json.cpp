#include "config/config_json.hpp"

#include <cstdint>

#include "fogmesh/common/json_text.hpp"

namespace fogmesh::router::config_detail {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

class json_reader {
 public:
  json_reader(std::string_view text, std::size_t& pos, int& line)
      : text_(text), pos_(pos), line_(line) {}

  json_value value(int depth) {
    if (depth > json_max_depth)
      fail("JSON nested too deeply (limit " + std::to_string(json_max_depth) + ")");
    skip_json_space(text_, pos_, line_);
    if (pos_ >= text_.size()) fail("unexpected end of input, expected a JSON value");
    json_value v;
    v.line = line_;
    const char c = text_[pos_];
    if (c == '{') {
      v.type = json_value::kind::object;
      ++pos_;
      skip_json_space(text_, pos_, line_);
      if (peek() == '}') {
        ++pos_;
        return v;
      }
      for (;;) {
        skip_json_space(text_, pos_, line_);
        if (peek() != '"') fail("expected a quoted key in JSON object");
        json_member m;
        m.key_line = line_;
        m.key = string_literal();
        skip_json_space(text_, pos_, line_);
        if (peek() != ':') fail("expected ':' after key \"" + m.key + "\"");
        ++pos_;
        m.value = value(depth + 1);
        v.members.push_back(std::move(m));
        skip_json_space(text_, pos_, line_);
        const char n = peek();
        ++pos_;
        if (n == ',') continue;
        if (n == '}') return v;
        --pos_;
        fail("expected ',' or '}' in JSON object");
      }
    }
    if (c == '[') {
      v.type = json_value::kind::array;
      ++pos_;
      skip_json_space(text_, pos_, line_);
      if (peek() == ']') {
        ++pos_;
        return v;
      }
      for (;;) {
        v.items.push_back(value(depth + 1));
        skip_json_space(text_, pos_, line_);
        const char n = peek();
        ++pos_;
        if (n == ',') continue;
        if (n == ']') return v;
        --pos_;
        fail("expected ',' or ']' in JSON array");
      }
    }
    if (c == '"') {
      v.type = json_value::kind::string;
      v.text = string_literal();
      return v;
    }
    if (c == '-' || is_digit(c)) {
      v.type = json_value::kind::number;
      v.text = number_literal();
      return v;
    }
    if (keyword("true")) {
      v.type = json_value::kind::boolean;
      v.text = "true";
      return v;
    }
    if (keyword("false")) {
      v.type = json_value::kind::boolean;
      v.text = "false";
      return v;
    }
    if (keyword("null")) return v;
    fail(std::string("unexpected character '") + printable(c) + "' in JSON");
  }

 private:
  [[noreturn]] void fail(std::string message) { throw json_error{std::move(message), line_}; }

  static std::string printable(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) return std::string(1, c);
    static constexpr char hex[] = "0123456789abcdef";
    return std::string("\\x") + hex[u >> 4] + hex[u & 15];
  }

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  bool keyword(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  std::string number_literal() {
    const std::size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (is_digit(peek())) {
      while (is_digit(peek())) ++pos_;
    } else {
      fail("malformed JSON number");
    }
    if (peek() == '.') {
      ++pos_;
      if (!is_digit(peek())) fail("malformed JSON number");
      while (is_digit(peek())) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!is_digit(peek())) fail("malformed JSON number");
      while (is_digit(peek())) ++pos_;
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  unsigned hex4() {
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = peek();
      ++pos_;
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<unsigned>(c - 'A' + 10);
      } else {
        fail("malformed \\u escape in JSON string");
      }
    }
    return v;
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  std::string string_literal() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (pos_ >= text_.size()) fail("unterminated JSON string");
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character inside JSON string");
      if (c != '\\') {
        out += c;
        continue;
      }
      const char e = peek();
      ++pos_;
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          std::uint32_t cp = hex4();
          if (cp >= 0xd800 && cp < 0xdc00 && text_.substr(pos_, 2) == "\\u") {
            pos_ += 2;
            const std::uint32_t low = hex4();
            if (low < 0xdc00 || low > 0xdfff) fail("unpaired surrogate in JSON string");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xd800 && cp <= 0xdfff) {
            fail("unpaired surrogate in JSON string");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          fail("invalid escape in JSON string");
      }
    }
  }

  std::string_view text_;
  std::size_t& pos_;
  int& line_;
};

}  // namespace

void skip_json_space(std::string_view text, std::size_t& pos, int& line) {
  while (pos < text.size()) {
    const char c = text[pos];
    if (c == '\n') {
      ++line;
      ++pos;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      ++pos;
    } else if (c == '#') {
      while (pos < text.size() && text[pos] != '\n') ++pos;
    } else {
      return;
    }
  }
}

json_value parse_json_value(std::string_view text, std::size_t& pos, int& line) {
  return json_reader(text, pos, line).value(0);
}

namespace {
void append_json(std::string& out, const json_value& v) {
  switch (v.type) {
    case json_value::kind::null:
      out += "null";
      break;
    case json_value::kind::boolean:
    case json_value::kind::number:
      out += v.text;
      break;
    case json_value::kind::string:
      append_json_string(out, v.text);
      break;
    case json_value::kind::array:
      out += '[';
      for (std::size_t i = 0; i < v.items.size(); ++i) {
        if (i) out += ',';
        append_json(out, v.items[i]);
      }
      out += ']';
      break;
    case json_value::kind::object:
      out += '{';
      for (std::size_t i = 0; i < v.members.size(); ++i) {
        if (i) out += ',';
        append_json_string(out, v.members[i].key);
        out += ':';
        append_json(out, v.members[i].value);
      }
      out += '}';
      break;
  }
}
}  // namespace

std::string to_json_text(const json_value& value) {
  std::string out;
  append_json(out, value);
  return out;
}

}  // namespace fogmesh::router::config_detail
