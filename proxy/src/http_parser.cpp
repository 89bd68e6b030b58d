#include "fogmesh/proxy/http_parser.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace fogmesh::proxy::http {

namespace {

class parse_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "fogmesh.http"; }
  std::string message(int ev) const override {
    switch (static_cast<parse_errc>(ev)) {
      case parse_errc::bad_request_line: return "malformed request line";
      case parse_errc::bad_status_line: return "malformed status line";
      case parse_errc::bad_version: return "malformed HTTP version";
      case parse_errc::unsupported_version: return "HTTP version not supported (only HTTP/1.x)";
      case parse_errc::bad_header_name: return "invalid header field name (or whitespace before ':')";
      case parse_errc::bad_header_value: return "invalid character in header field value";
      case parse_errc::obsolete_line_folding: return "obsolete header line folding is not accepted";
      case parse_errc::bare_carriage_return: return "CR not followed by LF";
      case parse_errc::head_too_large: return "request/status line and headers too large";
      case parse_errc::too_many_headers: return "too many header fields";
      case parse_errc::bad_content_length: return "invalid Content-Length";
      case parse_errc::conflicting_content_length: return "conflicting Content-Length values";
      case parse_errc::content_length_with_transfer_encoding:
        return "both Content-Length and Transfer-Encoding in a request";
      case parse_errc::transfer_encoding_in_http10: return "Transfer-Encoding in an HTTP/1.0 request";
      case parse_errc::chunked_not_final: return "chunked is not the final transfer coding";
      case parse_errc::unsupported_transfer_encoding: return "unsupported transfer coding";
      case parse_errc::bad_chunk_size: return "invalid chunk size";
      case parse_errc::chunk_line_too_long: return "chunk size line too long";
      case parse_errc::bad_chunk_terminator: return "chunk data not followed by CRLF";
      case parse_errc::trailers_too_large: return "trailer fields too large";
      case parse_errc::missing_host: return "HTTP/1.1 request without Host";
      case parse_errc::repeated_host: return "more than one Host header";
      case parse_errc::truncated_message: return "connection closed in the middle of a message";
    }
    return "unknown HTTP parse error";
  }
};

constexpr bool is_tchar(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// Field-value and reason-phrase characters: HTAB, SP, VCHAR, obs-text.
constexpr bool is_text_char(unsigned char c) noexcept {
  return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
}

// request-target: visible characters (obs-text tolerated: clients send raw UTF-8 paths).
constexpr bool is_target_char(unsigned char c) noexcept { return c > 0x20 && c != 0x7f; }

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Parses "HTTP/1.x"; returns false on malformed text, sets `unsupported` for other majors.
bool parse_version(std::string_view v, int& minor, bool& unsupported) noexcept {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.') return false;
  const char major_c = v[5], minor_c = v[7];
  if (major_c < '0' || major_c > '9' || minor_c < '0' || minor_c > '9') return false;
  unsupported = major_c != '1';
  minor = minor_c == '0' ? 0 : 1;
  return true;
}

// Visits each comma-separated element of a list value (trimmed, empty ones skipped).
template <class F>
void for_each_element(std::string_view value, F&& f) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    const auto element = trim_ows(value.substr(0, comma));
    if (!element.empty()) f(element);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

bool parse_decimal(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

enum class block_status { need_more, found, too_large };

// Index just past the empty line that ends a header block in data, searching line ends from
// `from`; npos when the block is not complete yet. Lines end with LF, optionally after CR.
std::size_t find_block_end(std::string_view data, std::size_t from) noexcept {
  for (std::size_t i = data.find('\n', from); i != std::string_view::npos;
       i = data.find('\n', i + 1)) {
    std::size_t line_start = (i > 0 && data[i - 1] == '\r') ? i - 1 : i;
    if (line_start == 0 || data[line_start - 1] == '\n') return i + 1;
  }
  return std::string_view::npos;
}

std::string_view as_chars(bytes_view b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Splits the next line off `rest` (without its LF / CRLF). Returns false on a bare CR.
bool next_line(std::string_view& rest, std::string_view& line) noexcept {
  const auto lf = rest.find('\n');
  line = rest.substr(0, lf);
  rest.remove_prefix(lf == std::string_view::npos ? rest.size() : lf + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line.find('\r') == std::string_view::npos;
}

bool is_known_coding(std::string_view c) noexcept {
  return iequals(c, "gzip") || iequals(c, "x-gzip") || iequals(c, "deflate") ||
         iequals(c, "compress") || iequals(c, "x-compress");
}

}  // namespace

const std::error_category& parse_category() noexcept {
  static const parse_category_impl instance;
  return instance;
}
std::error_code make_error_code(parse_errc e) noexcept {
  return {static_cast<int>(e), parse_category()};
}

int status_for(parse_errc e) noexcept {
  switch (e) {
    case parse_errc::head_too_large:
    case parse_errc::too_many_headers:
      return 431;
    case parse_errc::unsupported_transfer_encoding:
      return 501;
    case parse_errc::unsupported_version:
      return 505;
    default:
      return 400;
  }
}
int status_for(std::error_code ec) noexcept {
  if (ec.category() != parse_category()) return 400;
  return status_for(static_cast<parse_errc>(ec.value()));
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

void to_lower_in_place(std::string& s) noexcept {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
}

bool has_token(std::string_view value, std::string_view token) noexcept {
  bool found = false;
  for_each_element(value, [&](std::string_view e) {
    if (iequals(e, token)) found = true;
  });
  return found;
}

const header_field* message_head::find(std::string_view name) const noexcept {
  for (const auto& f : headers) {
    if (iequals(f.name, name)) return &f;
  }
  return nullptr;
}

request_kind kind_of_method(std::string_view method) noexcept {
  if (method == "HEAD") return request_kind::head;
  if (method == "CONNECT") return request_kind::connect;
  return request_kind::normal;
}

parser::parser(mode m, parser_limits limits) : mode_(m), limits_(limits) {
  fields_.reserve(32);
}

bool parser::fail(parse_errc e) {
  error_ = make_error_code(e);
  state_ = state::failed;
  carry_.clear();
  return false;
}

bool parser::in_body() const noexcept {
  switch (state_) {
    case state::body_length:
    case state::chunk_line:
    case state::chunk_data:
    case state::chunk_data_end:
    case state::trailers:
    case state::until_close:
      return true;
    default:
      return false;
  }
}

// Takes a complete header block (head or trailers) from carry_ + input, or from input alone when
// it is all there (the zero-copy case). On `found`, `block` views input or carry_ and pos is past
// the block; on `need_more` the rest of the input went to carry_.
namespace {
struct block_taker {
  std::string& carry;
  std::size_t& scan;

  block_status take(bytes_view input, std::size_t& pos, std::size_t limit,
                    std::string_view& block) {
    const std::string_view avail = as_chars(input.subspan(pos));
    if (carry.empty()) {
      const std::size_t end = find_block_end(avail, 0);
      if (end != std::string_view::npos) {
        if (end > limit) return block_status::too_large;
        block = avail.substr(0, end);
        pos += end;
        return block_status::found;
      }
      if (avail.size() > limit) return block_status::too_large;
      carry.assign(avail);
      scan = 0;
      pos += avail.size();
      return block_status::need_more;
    }
    // Straddling block: append no more than the limit allows, then hand back what follows it.
    const std::size_t room = limit + 1 > carry.size() ? limit + 1 - carry.size() : 0;
    const std::size_t take = std::min(avail.size(), room);
    const std::size_t old_size = carry.size();
    carry.append(avail.substr(0, take));
    const std::size_t end = find_block_end(carry, scan);
    if (end != std::string_view::npos) {
      if (end > limit) return block_status::too_large;
      pos += end - old_size;
      carry.resize(end);
      block = carry;
      return block_status::found;
    }
    if (carry.size() > limit) return block_status::too_large;
    scan = carry.size();
    pos += take;
    return block_status::need_more;
  }
};
}  // namespace

bool parser::take_block(bytes_view input, std::size_t& pos, parse_errc too_large,
                        std::string_view& block) {
  block_taker taker{carry_, carry_scan_};
  switch (taker.take(input, pos, limits_.max_head_bytes, block)) {
    case block_status::need_more:
      return false;
    case block_status::too_large:
      return fail(too_large);
    case block_status::found:
      return true;
  }
  return false;
}

bool parser::step_head(bytes_view input, std::size_t& pos, parser_handler& handler) {
  if (state_ == state::start) {
    // RFC 9112 §2.2: ignore empty lines before a request line (some clients send CRLF after a
    // POST body). Responses get the same leniency; it cannot change framing.
    while (pos < input.size() && (input[pos] == '\r' || input[pos] == '\n')) ++pos;
    if (pos == input.size()) return false;
    state_ = state::head;
  }
  std::string_view block;
  if (!take_block(input, pos, parse_errc::head_too_large, block)) return false;
  bool paused = false;
  const bool ok = parse_head_block(block, handler, paused);
  carry_.clear();
  return ok && !paused;
}

bool parser::parse_head_block(std::string_view block, parser_handler& handler, bool& paused) {
  std::string_view rest = block, line;
  if (!next_line(rest, line)) return fail(parse_errc::bare_carriage_return);

  message_head head;
  head.is_request = mode_ == mode::request;
  bool unsupported = false;
  if (head.is_request) {
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) return fail(parse_errc::bad_request_line);
    head.method = line.substr(0, sp1);
    head.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (head.method.empty() || head.target.empty()) return fail(parse_errc::bad_request_line);
    for (unsigned char c : head.method) {
      if (!is_tchar(c)) return fail(parse_errc::bad_request_line);
    }
    for (unsigned char c : head.target) {
      if (!is_target_char(c)) return fail(parse_errc::bad_request_line);
    }
    if (!parse_version(line.substr(sp2 + 1), head.version_minor, unsupported)) {
      return fail(parse_errc::bad_version);
    }
  } else {
    if (line.size() < 12 || line[8] != ' ') return fail(parse_errc::bad_status_line);
    if (!parse_version(line.substr(0, 8), head.version_minor, unsupported)) {
      return fail(parse_errc::bad_version);
    }
    int status = 0;
    for (std::size_t i = 9; i < 12; ++i) {
      if (line[i] < '0' || line[i] > '9') return fail(parse_errc::bad_status_line);
      status = status * 10 + (line[i] - '0');
    }
    if (status < 100 || status > 599) return fail(parse_errc::bad_status_line);
    head.status = status;
    // "HTTP/1.1 200" without a reason phrase is common enough to accept.
    if (line.size() > 12) {
      if (line[12] != ' ') return fail(parse_errc::bad_status_line);
      head.reason = line.substr(13);
      for (unsigned char c : head.reason) {
        if (!is_text_char(c)) return fail(parse_errc::bad_status_line);
      }
    }
  }
  if (unsupported) return fail(parse_errc::unsupported_version);

  fields_.clear();
  while (!rest.empty()) {
    if (!next_line(rest, line)) return fail(parse_errc::bare_carriage_return);
    if (line.empty()) break;  // the empty line ending the block
    if (line.front() == ' ' || line.front() == '\t') return fail(parse_errc::obsolete_line_folding);
    const auto colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return fail(parse_errc::bad_header_name);
    const auto name = line.substr(0, colon);
    for (unsigned char c : name) {
      if (!is_tchar(c)) return fail(parse_errc::bad_header_name);
    }
    const auto value = trim_ows(line.substr(colon + 1));
    for (unsigned char c : value) {
      if (!is_text_char(c)) return fail(parse_errc::bad_header_value);
    }
    if (fields_.size() == limits_.max_headers) return fail(parse_errc::too_many_headers);
    fields_.push_back({name, value});
  }
  head.headers = fields_;

  // Framing and connection semantics.
  bool has_length = false, has_te = false, te_chunked_last = false, close = false;
  bool keep_alive_token = false, upgrade_token = false, has_upgrade_header = false;
  std::uint64_t length = 0;
  int hosts = 0;
  parse_errc te_error{};
  std::string_view last_coding;
  int chunked_count = 0;
  for (const auto& f : fields_) {
    if (iequals(f.name, "content-length")) {
      // A list of identical values ("5, 5") is one length (RFC 9110 §8.6); anything else is an
      // error, never a guess.
      bool bad = false, conflict = false;
      int elements = 0;
      for_each_element(f.value, [&](std::string_view e) {
        ++elements;
        std::uint64_t v = 0;
        if (!parse_decimal(e, v)) {
          bad = true;
        } else if (has_length && v != length) {
          conflict = true;
        } else {
          length = v;
          has_length = true;
        }
      });
      if (bad || elements == 0) return fail(parse_errc::bad_content_length);
      if (conflict) return fail(parse_errc::conflicting_content_length);
    } else if (iequals(f.name, "transfer-encoding")) {
      has_te = true;
      for_each_element(f.value, [&](std::string_view e) {
        const auto coding = trim_ows(e.substr(0, e.find(';')));
        if (iequals(coding, "chunked")) {
          ++chunked_count;
        } else if (!is_known_coding(coding)) {
          te_error = parse_errc::unsupported_transfer_encoding;
        }
        last_coding = coding;
      });
    } else if (iequals(f.name, "connection")) {
      close = close || has_token(f.value, "close");
      keep_alive_token = keep_alive_token || has_token(f.value, "keep-alive");
      upgrade_token = upgrade_token || has_token(f.value, "upgrade");
    } else if (iequals(f.name, "host")) {
      ++hosts;
      head.host = f.value;
    } else if (iequals(f.name, "upgrade")) {
      has_upgrade_header = true;
    } else if (iequals(f.name, "expect")) {
      head.expect_continue = iequals(f.value, "100-continue");
    }
  }
  te_chunked_last = has_te && iequals(last_coding, "chunked");
  head.keep_alive = !close && (head.version_minor == 1 || keep_alive_token);

  if (head.is_request) {
    if (hosts > 1) return fail(parse_errc::repeated_host);
    if (hosts == 0 && head.version_minor == 1) return fail(parse_errc::missing_host);
    if (has_te) {
      if (head.version_minor == 0) return fail(parse_errc::transfer_encoding_in_http10);
      if (has_length) return fail(parse_errc::content_length_with_transfer_encoding);
      if (te_error != parse_errc{}) return fail(te_error);
      if (!te_chunked_last || chunked_count != 1) return fail(parse_errc::chunked_not_final);
      head.framing = body_framing::chunked;
    } else if (has_length) {
      head.framing = body_framing::content_length;
      head.content_length = length;
    }
    if (head.method == "CONNECT") {
      head.upgrade = true;
      head.framing = body_framing::none;
    } else {
      head.upgrade = has_upgrade_header && upgrade_token;
    }
  } else {
    const request_kind kind = expected_.empty() ? request_kind::normal : expected_.front();
    const bool informational = head.status < 200 && head.status != 101;
    if (!informational && !expected_.empty()) expected_.pop_front();
    if (head.status == 101 || (kind == request_kind::connect && head.status / 100 == 2)) {
      head.upgrade = true;
    } else if (informational || kind == request_kind::head || head.status == 204 ||
               head.status == 304) {
      // No body whatever the headers say; Content-Length of a HEAD answer stays a header.
    } else if (has_te) {
      // RFC 9112 §6.3: a response whose final coding is not chunked is read until close.
      head.framing = te_chunked_last && chunked_count == 1 ? body_framing::chunked
                                                           : body_framing::until_close;
    } else if (has_length) {
      head.framing = body_framing::content_length;
      head.content_length = length;
    } else {
      head.framing = body_framing::until_close;
    }
    if (head.framing == body_framing::until_close) head.keep_alive = false;
    if (informational) head.keep_alive = true;  // the final response decides
  }

  keep_alive_ = head.keep_alive;
  upgrade_ = head.upgrade;
  switch (head.framing) {
    case body_framing::none:
      break;
    case body_framing::content_length:
      remaining_ = head.content_length;
      state_ = state::body_length;
      break;
    case body_framing::chunked:
      chunk_line_.clear();
      state_ = state::chunk_line;
      break;
    case body_framing::until_close:
      state_ = state::until_close;
      break;
  }
  const bool complete_now = head.framing == body_framing::none ||
                            (head.framing == body_framing::content_length && remaining_ == 0);
  if (complete_now) {
    // A zero-length content-length body: parse() reports completion next, also after a pause
    // in on_head.
    state_ = state::body_length;
    remaining_ = 0;
  }
  if (handler.on_head(head) == parse_action::pause) paused = true;
  return true;
}

bool parser::complete_message(parser_handler& handler, bool& paused) {
  ++messages_;
  if (upgrade_) {
    state_ = state::upgraded;
  } else if (!keep_alive_) {
    state_ = state::finished;
  } else {
    state_ = state::start;
  }
  paused = handler.on_complete() == parse_action::pause;
  return true;
}

bool parser::step_chunk_line(bytes_view input, std::size_t& pos) {
  const std::string_view avail = as_chars(input.subspan(pos));
  const auto lf = avail.find('\n');
  std::string_view line;
  if (lf == std::string_view::npos) {
    if (chunk_line_.size() + avail.size() > limits_.max_chunk_line_bytes) {
      return fail(parse_errc::chunk_line_too_long);
    }
    chunk_line_.append(avail);
    pos = input.size();
    return false;
  }
  if (chunk_line_.size() + lf > limits_.max_chunk_line_bytes) {
    return fail(parse_errc::chunk_line_too_long);
  }
  if (chunk_line_.empty()) {
    line = avail.substr(0, lf);
  } else {
    chunk_line_.append(avail.substr(0, lf));
    line = chunk_line_;
  }
  pos += lf + 1;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find('\r') != std::string_view::npos) return fail(parse_errc::bare_carriage_return);

  std::uint64_t size = 0;
  std::size_t i = 0;
  for (; i < line.size(); ++i) {
    const char c = line[i];
    int digit;
    if (c >= '0' && c <= '9') digit = c - '0';
    else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    else break;
    if (size > (UINT64_MAX >> 4)) return fail(parse_errc::bad_chunk_size);
    size = (size << 4) | static_cast<std::uint64_t>(digit);
  }
  if (i == 0) return fail(parse_errc::bad_chunk_size);
  // After the size: optional whitespace, then `;`-separated extensions, which we ignore.
  const auto ext = trim_ows(line.substr(i));
  if (!ext.empty() && ext.front() != ';') return fail(parse_errc::bad_chunk_size);
  for (unsigned char c : ext) {
    if (!is_text_char(c)) return fail(parse_errc::bad_chunk_size);
  }
  chunk_line_.clear();
  if (size == 0) {
    state_ = state::trailers;
  } else {
    remaining_ = size;
    state_ = state::chunk_data;
  }
  return true;
}

bool parser::step_chunk_data_end(bytes_view input, std::size_t& pos) {
  // chunk_line_ doubles as "CR seen" marker here: it is empty between chunks.
  while (pos < input.size()) {
    const char c = static_cast<char>(input[pos]);
    if (c == '\r' && chunk_line_.empty()) {
      chunk_line_.push_back('\r');
      ++pos;
    } else if (c == '\n') {
      chunk_line_.clear();
      ++pos;
      state_ = state::chunk_line;
      return true;
    } else {
      return fail(parse_errc::bad_chunk_terminator);
    }
  }
  return false;
}

bool parser::step_trailers(bytes_view input, std::size_t& pos, parser_handler& handler) {
  std::string_view block;
  if (!take_block(input, pos, parse_errc::trailers_too_large, block)) return false;
  bool paused = false;
  const bool ok = parse_trailer_block(block, handler, paused);
  carry_.clear();
  if (!ok) return false;
  bool complete_paused = false;
  complete_message(handler, complete_paused);
  return !paused && !complete_paused;
}

bool parser::parse_trailer_block(std::string_view block, parser_handler& handler, bool& paused) {
  fields_.clear();
  std::string_view rest = block, line;
  while (!rest.empty()) {
    if (!next_line(rest, line)) return fail(parse_errc::bare_carriage_return);
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') return fail(parse_errc::obsolete_line_folding);
    const auto colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return fail(parse_errc::bad_header_name);
    const auto name = line.substr(0, colon);
    for (unsigned char c : name) {
      if (!is_tchar(c)) return fail(parse_errc::bad_header_name);
    }
    const auto value = trim_ows(line.substr(colon + 1));
    for (unsigned char c : value) {
      if (!is_text_char(c)) return fail(parse_errc::bad_header_value);
    }
    if (fields_.size() == limits_.max_headers) return fail(parse_errc::too_many_headers);
    fields_.push_back({name, value});
  }
  if (!fields_.empty() && handler.on_trailers(fields_) == parse_action::pause) paused = true;
  return true;
}

std::size_t parser::parse(bytes_view input, parser_handler& handler) {
  std::size_t pos = 0;
  for (;;) {
    switch (state_) {
      case state::failed:
      case state::upgraded:
      case state::finished:
        return pos;
      case state::start:
      case state::head:
        if (pos == input.size() || !step_head(input, pos, handler)) return pos;
        break;
      case state::body_length: {
        if (remaining_ == 0) {
          bool paused = false;
          complete_message(handler, paused);
          if (paused) return pos;
          break;
        }
        if (pos == input.size()) return pos;
        const auto n = static_cast<std::size_t>(
            std::min<std::uint64_t>(remaining_, input.size() - pos));
        remaining_ -= n;
        const auto piece = input.subspan(pos, n);
        pos += n;
        if (handler.on_body(piece) == parse_action::pause) {
          // Completion is reported by the next parse() call (possibly with no input).
          return pos;
        }
        break;
      }
      case state::chunk_line:
        if (pos == input.size() || !step_chunk_line(input, pos)) return pos;
        break;
      case state::chunk_data: {
        if (pos == input.size()) return pos;
        const auto n = static_cast<std::size_t>(
            std::min<std::uint64_t>(remaining_, input.size() - pos));
        remaining_ -= n;
        if (remaining_ == 0) state_ = state::chunk_data_end;
        const auto piece = input.subspan(pos, n);
        pos += n;
        if (handler.on_body(piece) == parse_action::pause) return pos;
        break;
      }
      case state::chunk_data_end:
        if (pos == input.size() || !step_chunk_data_end(input, pos)) return pos;
        break;
      case state::trailers:
        if (pos == input.size() || !step_trailers(input, pos, handler)) return pos;
        break;
      case state::until_close: {
        if (pos == input.size()) return pos;
        const auto piece = input.subspan(pos);
        pos = input.size();
        if (handler.on_body(piece) == parse_action::pause) return pos;
        break;
      }
    }
  }
}

std::error_code parser::finish(parser_handler& handler) {
  switch (state_) {
    case state::until_close: {
      bool paused = false;
      keep_alive_ = false;
      complete_message(handler, paused);
      return {};
    }
    case state::body_length:
      if (remaining_ == 0) {
        bool paused = false;
        complete_message(handler, paused);
        return {};
      }
      fail(parse_errc::truncated_message);
      return error_;
    case state::start:
    case state::upgraded:
    case state::finished:
      return {};
    case state::failed:
      return error_;
    default:
      fail(parse_errc::truncated_message);
      return error_;
  }
}

// --- Writing ---------------------------------------------------------------------------------

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

void append_request_line(std::string& out, std::string_view method, std::string_view target) {
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
}

void append_status_line(std::string& out, int status, std::string_view reason, int version_minor) {
  out.append(version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  std::array<char, 8> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), status);
  (void)ec;
  out.append(digits.data(), end).append(" ");
  out.append(reason.empty() ? reason_phrase(status) : reason).append("\r\n");
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ");
  const std::size_t start = out.size();
  out.append(value);
  for (std::size_t i = start; i < out.size(); ++i) {
    if (out[i] == '\r' || out[i] == '\n' || out[i] == '\0') out[i] = ' ';
  }
  out.append("\r\n");
}

void append_chunk_header(std::string& out, std::size_t size) {
  std::array<char, 24> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), size, 16);
  (void)ec;
  out.append(digits.data(), end).append("\r\n");
}

std::string make_error_response(int status, std::string_view detail, bool keep_alive) {
  std::string body(reason_phrase(status));
  if (!detail.empty()) body.append(": ").append(detail);
  body.push_back('\n');
  std::string out;
  out.reserve(160 + body.size());
  append_status_line(out, status);
  out.append("content-type: text/plain; charset=utf-8\r\n");
  out.append("content-length: ").append(std::to_string(body.size())).append("\r\n");
  if (!keep_alive) out.append("connection: close\r\n");
  out.append("\r\n").append(body);
  return out;
}

bool is_hop_by_hop(std::string_view n) noexcept {
  return n == "connection" || n == "keep-alive" || n == "proxy-connection" ||
         n == "transfer-encoding" || n == "te" || n == "trailer" || n == "upgrade";
}

}  // namespace fogmesh::proxy::http
