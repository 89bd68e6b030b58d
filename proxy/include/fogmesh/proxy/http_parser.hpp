// Incremental HTTP/1.x parser for requests (listener side) and responses (connector side).
//
// Bytes are fed as they arrive, in pieces of any size. Bodies are never buffered: every body
// byte is handed to the handler as a view into the caller's input (content-length, chunked and
// read-until-close framing). A message head is parsed in place when it lies within one input
// piece; only a head (or trailer block) that straddles pieces is copied, into a carry buffer
// bounded by parser_limits::max_head_bytes. Views handed to callbacks are valid only during
// the callback.
//
// Strictness: framing is what request smuggling attacks target, so anything ambiguous is an
// error with a reason (status_for() maps it to 400/431/501/505): conflicting Content-Length,
// Content-Length together with Transfer-Encoding in a request, obsolete line folding,
// whitespace before the colon, bare CR, control characters in values, a missing or repeated
// Host in an HTTP/1.1 request. Bare LF line ends are accepted (RFC 9112 §2.2 allows it and we
// re-serialise every head we forward, so no downstream parser can disagree with us).
//
// Thread: any; one parser per connection direction, not shared. Never throws, never aborts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace fogmesh::proxy::http {

using bytes_view = std::span<const std::uint8_t>;

enum class parse_errc {
  bad_request_line = 1,
  bad_status_line,
  bad_version,
  unsupported_version,
  bad_header_name,
  bad_header_value,
  obsolete_line_folding,
  bare_carriage_return,
  head_too_large,
  too_many_headers,
  bad_content_length,
  conflicting_content_length,
  content_length_with_transfer_encoding,
  transfer_encoding_in_http10,
  chunked_not_final,
  unsupported_transfer_encoding,
  bad_chunk_size,
  chunk_line_too_long,
  bad_chunk_terminator,
  trailers_too_large,
  missing_host,
  repeated_host,
  truncated_message,  // the peer closed in the middle of a message
};
const std::error_category& parse_category() noexcept;
std::error_code make_error_code(parse_errc e) noexcept;

// The status a server answers a request parse error with: 431 for oversized heads, 501 for an
// unknown transfer coding, 505 for an HTTP version other than 1.x, else 400.
int status_for(parse_errc e) noexcept;
int status_for(std::error_code ec) noexcept;

// How the body of a message is delimited.
enum class body_framing {
  none,            // no body (GET without length, HEAD response, 204, 304, 1xx)
  content_length,  // exactly content_length bytes
  chunked,         // chunked transfer coding
  until_close,     // a response read until the server closes (no length, not chunked)
};

struct header_field {
  std::string_view name;  // as received (case preserved)
  std::string_view value;  // leading/trailing whitespace removed
};

struct message_head {
  bool is_request = true;
  // Request line.
  std::string_view method;
  std::string_view target;
  // Status line.
  int status = 0;
  std::string_view reason;
  int version_minor = 1;  // HTTP/1.<minor> (minor > 1 is reported as 1)
  std::span<const header_field> headers;

  body_framing framing = body_framing::none;
  std::uint64_t content_length = 0;  // framing == content_length
  // The connection may carry another message after this one (HTTP/1.1 without
  // `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`).
  bool keep_alive = true;
  // After this message the connection stops being HTTP: a request with `Upgrade` and
  // `Connection: upgrade`, a CONNECT request, a 101 response, a 2xx response to CONNECT.
  bool upgrade = false;
  bool expect_continue = false;  // request `Expect: 100-continue`
  std::string_view host;         // request Host header ("" when absent, HTTP/1.0)

  // First header with this name (case-insensitive), or nullptr.
  const header_field* find(std::string_view name) const noexcept;
};

// Callbacks return proceed to go on or pause to make parse() return right after the event.
enum class parse_action { proceed, pause };

class parser_handler {
 public:
  virtual ~parser_handler() = default;
  virtual parse_action on_head(const message_head& head) = 0;
  // A piece of the (de-chunked) body. Never called with an empty view.
  virtual parse_action on_body(bytes_view data) = 0;
  // Trailer fields of a chunked message, before on_complete (only when there are any).
  virtual parse_action on_trailers(std::span<const header_field> trailers) {
    (void)trailers;
    return parse_action::proceed;
  }
  virtual parse_action on_complete() = 0;
};

struct parser_limits {
  std::size_t max_head_bytes = 16 * 1024;  // request/status line + headers (Node's default)
  std::size_t max_headers = 128;
  std::size_t max_chunk_line_bytes = 1024;  // chunk size + extensions
};

// What the request was, for the response parser: HEAD responses have no body whatever their
// headers say, and a 2xx answer to CONNECT turns the connection into a tunnel.
enum class request_kind : std::uint8_t { normal, head, connect };
request_kind kind_of_method(std::string_view method) noexcept;

class parser {
 public:
  enum class mode { request, response };

  explicit parser(mode m, parser_limits limits = {});

  // Parses as much of `input` as possible and returns the number of bytes consumed. Fewer than
  // input.size() are consumed only when a callback paused, when the parser stopped (after an
  // upgrade, after a message that ends the connection, or on an error). After an error every
  // call returns 0; error() says why.
  std::size_t parse(bytes_view input, parser_handler& handler);

  // The peer closed its sending side. Completes a read-until-close body (calling on_complete);
  // a message cut short becomes truncated_message. Returns the error, if any.
  std::error_code finish(parser_handler& handler);

  // Response mode: the next request written to the server, in order (pipelining). Responses
  // beyond the expected ones are parsed as answers to a normal request.
  void expect_response(request_kind kind) { expected_.push_back(kind); }

  std::error_code error() const noexcept { return error_; }
  // After an upgrade/tunnel message: the remaining bytes belong to another protocol.
  bool upgraded() const noexcept { return state_ == state::upgraded; }
  // After a message that was not keep-alive: the connection ends here.
  bool finished() const noexcept { return state_ == state::finished; }
  // Between messages with no partial input kept (a close here loses nothing).
  bool idle() const noexcept { return state_ == state::start && carry_.empty(); }
  // Inside a message body (useful to decide between 400 and closing silently on error).
  bool in_body() const noexcept;
  std::uint64_t messages_parsed() const noexcept { return messages_; }

 private:
  enum class state {
    start,        // before a message (skipping empty lines between requests)
    head,         // accumulating a head that straddles inputs
    body_length,  // content-length body
    chunk_line,   // chunk-size line
    chunk_data,
    chunk_data_end,  // CRLF after chunk data
    trailers,        // trailer block after the last chunk
    until_close,
    upgraded,
    finished,
    failed,
  };

  // Consumes from input at pos; each returns false when parse() must stop.
  // The next head or trailer block (ending in an empty line), assembled across inputs when
  // split. False while more input is needed, or after fail(too_large).
  bool take_block(bytes_view input, std::size_t& pos, parse_errc too_large,
                  std::string_view& block);
  bool step_head(bytes_view input, std::size_t& pos, parser_handler& handler);
  bool step_trailers(bytes_view input, std::size_t& pos, parser_handler& handler);
  bool step_chunk_line(bytes_view input, std::size_t& pos);
  bool step_chunk_data_end(bytes_view input, std::size_t& pos);
  // Finds the end of a header block in carry_/input; see the .cpp.
  bool parse_head_block(std::string_view block, parser_handler& handler, bool& paused);
  bool parse_trailer_block(std::string_view block, parser_handler& handler, bool& paused);
  bool complete_message(parser_handler& handler, bool& paused);
  bool fail(parse_errc e);

  mode mode_;
  parser_limits limits_;
  state state_ = state::start;
  std::error_code error_;
  std::string carry_;             // a head or trailer block that straddles inputs
  std::size_t carry_scan_ = 0;    // where the end-of-block search resumes in carry_
  std::string chunk_line_;        // a chunk-size line that straddles inputs
  std::vector<header_field> fields_;  // reused per message: no allocation in steady state
  std::uint64_t remaining_ = 0;   // body bytes left (content-length or current chunk)
  bool keep_alive_ = true;
  bool upgrade_ = false;
  std::deque<request_kind> expected_;
  std::uint64_t messages_ = 0;
};

// --- Writing heads ---------------------------------------------------------------------------

// The standard reason phrase of a status code ("" for unknown codes).
std::string_view reason_phrase(int status) noexcept;

// Appends "<method> <target> HTTP/1.1\r\n".
void append_request_line(std::string& out, std::string_view method, std::string_view target);
// Appends "HTTP/1.<minor> <status> <reason>\r\n" (standard reason when `reason` is empty).
void append_status_line(std::string& out, int status, std::string_view reason = {},
                        int version_minor = 1);
// Appends "<name>: <value>\r\n". Characters that could break the head (CR, LF, NUL) in the value
// are replaced by spaces: values can come from AMQP peers.
void append_header(std::string& out, std::string_view name, std::string_view value);
// Chunked coding pieces.
void append_chunk_header(std::string& out, std::size_t size);
inline constexpr std::string_view chunk_end = "\r\n";
inline constexpr std::string_view last_chunk = "0\r\n\r\n";

// A complete small response generated by the adaptor itself (400, 431, 502, 504...):
// text/plain body = reason + "\n" + detail, `Connection: close` when !keep_alive.
std::string make_error_response(int status, std::string_view detail, bool keep_alive);

// True for a header that describes one hop, not the message (RFC 9110 §7.6.1): the adaptor
// drops these when it re-serialises a message and sets its own framing.
bool is_hop_by_hop(std::string_view lower_case_name) noexcept;

// ASCII helpers shared by the proxy.
bool iequals(std::string_view a, std::string_view b) noexcept;
void to_lower_in_place(std::string& s) noexcept;
// True when the comma-separated list `value` contains `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) noexcept;

}  // namespace fogmesh::proxy::http

template <>
struct std::is_error_code_enum<fogmesh::proxy::http::parse_errc> : std::true_type {};
