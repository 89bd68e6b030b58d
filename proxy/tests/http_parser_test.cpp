// HTTP/1.x parser: framing, pipelining, limits and errors, each fed whole, byte by byte and
// split at every position (the result must never depend on how the bytes arrived).
#include "fogmesh/proxy/http_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using namespace fogmesh::proxy::http;
using namespace std::string_view_literals;

bytes_view as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Records events as text, e.g. "head GET /a host=x|body 3:abc|complete|".
struct recorder final : parser_handler {
  std::string log;
  std::vector<std::string> bodies;
  std::string body;
  bool pause_on_complete = false;

  parse_action on_head(const message_head& h) override {
    body.clear();
    log += "head ";
    if (h.is_request) {
      log += std::string(h.method) + " " + std::string(h.target);
    } else {
      log += std::to_string(h.status) + " " + std::string(h.reason);
    }
    log += " v1." + std::to_string(h.version_minor);
    for (const auto& f : h.headers) log += " " + std::string(f.name) + "=" + std::string(f.value);
    log += " framing=" + std::to_string(static_cast<int>(h.framing));
    if (h.framing == body_framing::content_length) log += ":" + std::to_string(h.content_length);
    if (!h.keep_alive) log += " close";
    if (h.upgrade) log += " upgrade";
    if (h.expect_continue) log += " expect-continue";
    log += "|";
    return parse_action::proceed;
  }
  parse_action on_body(bytes_view d) override {
    EXPECT_FALSE(d.empty());
    body.append(reinterpret_cast<const char*>(d.data()), d.size());
    return parse_action::proceed;
  }
  parse_action on_trailers(std::span<const header_field> t) override {
    log += "trailers";
    for (const auto& f : t) log += " " + std::string(f.name) + "=" + std::string(f.value);
    log += "|";
    return parse_action::proceed;
  }
  parse_action on_complete() override {
    log += "body " + body + "|complete|";
    bodies.push_back(body);
    body.clear();
    return pause_on_complete ? parse_action::pause : parse_action::proceed;
  }
};

struct outcome {
  std::string log;
  std::error_code error;
  std::size_t consumed = 0;
};

// Feeds `text` in pieces of `piece` bytes (0 = all at once), re-feeding what a piece did not
// consume together with the next piece (as a connection that keeps unconsumed bytes would).
outcome run(parser::mode m, std::string_view text, std::size_t piece = 0, bool eof = false,
            parser_limits limits = {}) {
  parser p(m, limits);
  recorder r;
  std::string pending;
  std::size_t consumed = 0;
  std::size_t offset = 0;
  while (offset < text.size()) {
    const std::size_t n = piece == 0 ? text.size() : std::min(piece, text.size() - offset);
    pending.append(text.substr(offset, n));
    offset += n;
    const std::size_t used = p.parse(as_bytes(pending), r);
    consumed += used;
    pending.erase(0, used);
    if (p.error() || p.upgraded() || p.finished()) break;
  }
  if (eof && !p.error()) (void)p.finish(r);
  return {r.log, p.error(), consumed};
}

// Same result whole, byte by byte, and split in two at every position.
outcome run_all_splits(parser::mode m, std::string_view text, bool eof = false) {
  const outcome whole = run(m, text, 0, eof);
  const outcome bytewise = run(m, text, 1, eof);
  EXPECT_EQ(whole.log, bytewise.log);
  EXPECT_EQ(whole.error, bytewise.error);
  for (std::size_t split = 1; split < text.size(); ++split) {
    parser p(m);
    recorder r;
    std::string first(text.substr(0, split));
    const std::size_t used = p.parse(as_bytes(first), r);
    std::string rest = first.substr(used) + std::string(text.substr(split));
    if (!p.error() && !p.upgraded() && !p.finished()) (void)p.parse(as_bytes(rest), r);
    if (eof && !p.error()) (void)p.finish(r);
    EXPECT_EQ(whole.log, r.log) << "split at " << split;
    EXPECT_EQ(whole.error, p.error()) << "split at " << split;
  }
  return whole;
}

constexpr auto req = parser::mode::request;
constexpr auto resp = parser::mode::response;

TEST(http_parser, simple_get) {
  auto o = run_all_splits(req, "GET /a?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n");
  EXPECT_FALSE(o.error);
  EXPECT_EQ(o.log,
            "head GET /a?x=1 v1.1 Host=example.com:8080 Accept=*/* framing=0|body |complete|");
}

TEST(http_parser, content_length_body_and_pipelining) {
  const std::string two =
      "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
      "GET /g HTTP/1.1\r\nHost: h\r\n\r\n";
  auto o = run_all_splits(req, two);
  EXPECT_FALSE(o.error);
  EXPECT_EQ(o.log,
            "head POST /p v1.1 Host=h Content-Length=5 framing=1:5|body hello|complete|"
            "head GET /g v1.1 Host=h framing=0|body |complete|");
  EXPECT_EQ(o.consumed, two.size());
}

TEST(http_parser, chunked_body_with_extensions_and_trailers) {
  auto o = run_all_splits(req,
                          "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "5;name=val\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n");
  EXPECT_FALSE(o.error);
  EXPECT_EQ(o.log,
            "head POST /c v1.1 Host=h Transfer-Encoding=chunked framing=2|"
            "trailers X-Sum=42|body hello world|complete|");
}

TEST(http_parser, chunked_hex_sizes_upper_and_lower_case) {
  const std::string data(0x1a, 'x');
  auto o = run(req, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1A\r\n" +
                        data + "\r\n0\r\n\r\n");
  EXPECT_FALSE(o.error) << o.error.message();
  EXPECT_NE(o.log.find("body " + data + "|complete|"), std::string::npos);
}

TEST(http_parser, bare_lf_line_ends_are_accepted) {
  auto o = run_all_splits(req, "GET / HTTP/1.1\nHost: h\n\n");
  EXPECT_FALSE(o.error);
  EXPECT_EQ(o.log, "head GET / v1.1 Host=h framing=0|body |complete|");
}

TEST(http_parser, empty_lines_before_a_request_are_skipped) {
  auto o = run(req, "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_FALSE(o.error);
  EXPECT_EQ(o.log, "head GET / v1.1 Host=h framing=0|body |complete|");
}

TEST(http_parser, http10_defaults_to_close_and_keep_alive_token) {
  auto o = run(req, "GET / HTTP/1.0\r\n\r\nGET /never HTTP/1.0\r\n\r\n");
  EXPECT_EQ(o.log, "head GET / v1.0 framing=0 close|body |complete|");
  EXPECT_EQ(o.consumed, 18u) << "nothing after a closing message is consumed";
  auto k = run(req, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(k.log, "head GET / v1.0 Connection=keep-alive framing=0|body |complete|");
}

TEST(http_parser, connection_close_stops_after_the_message) {
  auto o = run(req, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /x HTTP/1.1\r\n");
  EXPECT_FALSE(o.error);
  EXPECT_NE(o.log.find(" close|"), std::string::npos);
  EXPECT_EQ(o.log.find("/x"), std::string::npos);
}

TEST(http_parser, upgrade_request_stops_parsing_after_the_head) {
  const std::string head =
      "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  parser p(req);
  recorder r;
  const std::string input = head + "\x81\x05hello";
  EXPECT_EQ(p.parse(as_bytes(input), r), head.size());
  EXPECT_TRUE(p.upgraded());
  EXPECT_NE(r.log.find(" upgrade|"), std::string::npos);
  EXPECT_EQ(p.parse(as_bytes("more"), r), 0u);
}

TEST(http_parser, upgrade_header_without_connection_token_is_not_an_upgrade) {
  auto o = run(req, "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_EQ(o.log.find("upgrade|"), std::string::npos);
}

TEST(http_parser, connect_is_a_tunnel) {
  auto o = run(req, "CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\nbinary");
  EXPECT_NE(o.log.find(" upgrade|"), std::string::npos);
  EXPECT_EQ(o.consumed, std::string("CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n").size());
}

TEST(http_parser, expect_continue_is_reported) {
  auto o = run(req, "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
  EXPECT_NE(o.log.find("expect-continue"), std::string::npos);
}

TEST(http_parser, repeated_identical_content_length_is_one_length) {
  auto o = run(req, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_FALSE(o.error);
  EXPECT_NE(o.log.find("body abc|"), std::string::npos);
}

struct bad_request_case {
  const char* name;
  std::string text;
  parse_errc error;
  int status;
};

TEST(http_parser, malformed_requests_fail_with_a_reason_and_status) {
  const std::vector<bad_request_case> cases = {
      {"no version", "GET /\r\n\r\n", parse_errc::bad_request_line, 400},
      {"double space", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", parse_errc::bad_request_line, 400},
      {"bad method char", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", parse_errc::bad_request_line, 400},
      {"control in target", std::string("GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n"),
       parse_errc::bad_request_line, 400},
      {"bad version", "GET / HTTX/1.1\r\nHost: h\r\n\r\n", parse_errc::bad_version, 400},
      {"http2", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", parse_errc::unsupported_version, 505},
      {"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", parse_errc::bad_header_name, 400},
      {"no colon", "GET / HTTP/1.1\r\nHost h\r\n\r\n", parse_errc::bad_header_name, 400},
      {"empty name", "GET / HTTP/1.1\r\n: h\r\n\r\n", parse_errc::bad_header_name, 400},
      {"folding", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
       parse_errc::obsolete_line_folding, 400},
      {"NUL in value", std::string("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"sv),
       parse_errc::bad_header_value, 400},
      {"bare CR", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", parse_errc::bare_carriage_return, 400},
      {"missing host", "GET / HTTP/1.1\r\n\r\n", parse_errc::missing_host, 400},
      {"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", parse_errc::repeated_host, 400},
      {"bad length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n",
       parse_errc::bad_content_length, 400},
      {"negative length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
       parse_errc::bad_content_length, 400},
      {"overflowing length",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
       parse_errc::bad_content_length, 400},
      {"conflicting lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
       parse_errc::conflicting_content_length, 400},
      {"length and chunked",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
       parse_errc::content_length_with_transfer_encoding, 400},
      {"chunked not final", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
       parse_errc::chunked_not_final, 400},
      {"chunked twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
       parse_errc::chunked_not_final, 400},
      {"unknown coding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: br, chunked\r\n\r\n",
       parse_errc::unsupported_transfer_encoding, 501},
      {"te in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
       parse_errc::transfer_encoding_in_http10, 400},
      {"bad chunk size",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
       parse_errc::bad_chunk_size, 400},
      {"chunk size overflow",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n",
       parse_errc::bad_chunk_size, 400},
      {"chunk without CRLF",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX",
       parse_errc::bad_chunk_terminator, 400},
  };
  for (const auto& c : cases) {
    const auto o = run(req, c.text);
    EXPECT_EQ(o.error, make_error_code(c.error)) << c.name << ": got " << o.error.message();
    EXPECT_EQ(status_for(o.error), c.status) << c.name;
    EXPECT_FALSE(o.error.message().empty());
    // Split feeding finds the same error.
    EXPECT_EQ(run(req, c.text, 1).error, o.error) << c.name << " (byte by byte)";
  }
}

TEST(http_parser, oversized_head_is_431_whole_and_split) {
  parser_limits limits;
  limits.max_head_bytes = 256;
  const std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(300, 'a') + "\r\n\r\n";
  for (std::size_t piece : {0u, 1u, 7u, 100u}) {
    const auto o = run(req, big, piece, false, limits);
    EXPECT_EQ(o.error, make_error_code(parse_errc::head_too_large)) << piece;
    EXPECT_EQ(status_for(o.error), 431);
  }
  // A head that never ends is caught at the limit, not buffered forever.
  const auto endless = run(req, "GET / HTTP/1.1\r\n" + std::string(1000, 'a'), 10, false, limits);
  EXPECT_EQ(endless.error, make_error_code(parse_errc::head_too_large));
  // Exactly at the limit passes.
  std::string fits = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
  fits += std::string(256 - fits.size() - 4, 'b') + "\r\n\r\n";
  ASSERT_EQ(fits.size(), 256u);
  EXPECT_FALSE(run(req, fits, 0, false, limits).error);
  EXPECT_FALSE(run(req, fits, 3, false, limits).error);
}

TEST(http_parser, too_many_headers_is_431) {
  parser_limits limits;
  limits.max_headers = 3;
  const auto o = run(req, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 0, false, limits);
  EXPECT_EQ(o.error, make_error_code(parse_errc::too_many_headers));
  EXPECT_EQ(status_for(o.error), 431);
}

TEST(http_parser, errors_are_sticky) {
  parser p(req);
  recorder r;
  (void)p.parse(as_bytes("BAD\r\n\r\n"), r);
  ASSERT_TRUE(p.error());
  EXPECT_EQ(p.parse(as_bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), r), 0u);
  EXPECT_TRUE(r.log.empty());
}

TEST(http_parser, eof_in_the_middle_is_truncated_and_between_messages_is_clean) {
  parser p(req);
  recorder r;
  (void)p.parse(as_bytes("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc"), r);
  EXPECT_TRUE(p.in_body());
  EXPECT_EQ(p.finish(r), make_error_code(parse_errc::truncated_message));

  parser q(req);
  (void)q.parse(as_bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), r);
  EXPECT_TRUE(q.idle());
  EXPECT_FALSE(q.finish(r));
}

TEST(http_parser, pause_on_complete_leaves_the_next_request_unconsumed) {
  parser p(req);
  recorder r;
  r.pause_on_complete = true;
  const std::string first = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string input = first + "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::size_t used = p.parse(as_bytes(input), r);
  EXPECT_EQ(used, first.size());
  EXPECT_EQ(r.bodies.size(), 1u);
  EXPECT_EQ(p.parse(as_bytes(input).subspan(used), r), input.size() - used);
  EXPECT_EQ(r.bodies.size(), 2u);
}

// --- Responses ------------------------------------------------------------------------------

TEST(http_parser, response_with_length_chunked_and_until_close) {
  auto o = run_all_splits(resp, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n3\r\nnot\r\n0\r\n\r\n");
  EXPECT_FALSE(o.error);
  EXPECT_EQ(o.log,
            "head 200 OK v1.1 Content-Length=2 framing=1:2|body ok|complete|"
            "head 404 Not Found v1.1 Transfer-Encoding=chunked framing=2|body not|complete|");

  auto c = run_all_splits(resp, "HTTP/1.0 200 OK\r\n\r\nuntil the end", true);
  EXPECT_FALSE(c.error);
  EXPECT_EQ(c.log, "head 200 OK v1.0 framing=3 close|body until the end|complete|");
}

TEST(http_parser, head_204_304_and_1xx_responses_have_no_body) {
  parser p(resp);
  p.expect_response(request_kind::head);
  p.expect_response(request_kind::normal);
  p.expect_response(request_kind::normal);
  recorder r;
  const std::string input =
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n"
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n";
  EXPECT_EQ(p.parse(as_bytes(input), r), input.size());
  EXPECT_FALSE(p.error());
  EXPECT_EQ(r.bodies.size(), 4u);
  EXPECT_EQ(r.log.find("body x"), std::string::npos);
}

TEST(http_parser, switching_protocols_and_connect_responses_upgrade) {
  parser p(resp);
  recorder r;
  const std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
  EXPECT_EQ(p.parse(as_bytes(head + "frames"), r), head.size());
  EXPECT_TRUE(p.upgraded());

  parser c(resp);
  c.expect_response(request_kind::connect);
  const std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
  EXPECT_EQ(c.parse(as_bytes(ok + "tunnel"), r), ok.size());
  EXPECT_TRUE(c.upgraded());
}

TEST(http_parser, status_line_without_reason_and_bad_status) {
  EXPECT_FALSE(run(resp, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n").error);
  EXPECT_EQ(run(resp, "HTTP/1.1 2000 OK\r\n\r\n").error, make_error_code(parse_errc::bad_status_line));
  EXPECT_EQ(run(resp, "HTTP/1.1 099 X\r\n\r\n").error, make_error_code(parse_errc::bad_status_line));
  EXPECT_EQ(run(resp, "ICY 200 OK\r\n\r\n").error, make_error_code(parse_errc::bad_status_line));
}

TEST(http_parser, response_with_unknown_final_coding_is_read_until_close) {
  auto o = run(resp, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz", 0, true);
  EXPECT_FALSE(o.error);
  EXPECT_EQ(o.log, "head 200 OK v1.1 Transfer-Encoding=gzip framing=3 close|body zzz|complete|");
}

// --- Writing --------------------------------------------------------------------------------

TEST(http_writer, heads_and_error_responses) {
  std::string out;
  append_status_line(out, 200);
  append_header(out, "x-evil", "a\r\nInjected: yes");
  append_chunk_header(out, 255);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nx-evil: a  Injected: yes\r\nff\r\n");

  const std::string err = make_error_response(431, "too big", false);
  parser p(resp);
  recorder r;
  EXPECT_EQ(p.parse(as_bytes(err), r), err.size());
  EXPECT_FALSE(p.error());
  EXPECT_NE(r.log.find("head 431 Request Header Fields Too Large"), std::string::npos);
  EXPECT_NE(r.log.find("body Request Header Fields Too Large: too big\n|"), std::string::npos);
  EXPECT_NE(r.log.find(" close|"), std::string::npos);
}

}  // namespace
