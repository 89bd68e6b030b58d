// HTTP <-> AMQP mapping, message by message against Qpid Proton C as the oracle: what we encode
// Proton must decode to the skupper-proxy fields, and messages Proton encodes the way rhea does
// (skupper-proxy / ioFog proxies) must turn into the right HTTP bytes, however they are split.
#include "fogmesh/proxy/http_mapping.hpp"

#include <gtest/gtest.h>
#include <proton/codec.h>
#include <proton/message.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace fogmesh::proxy;
using fogmesh::result;
using namespace std::string_literals;

bytes_view as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

struct message_deleter {
  void operator()(pn_message_t* m) const { pn_message_free(m); }
};
using pn_message_ptr = std::unique_ptr<pn_message_t, message_deleter>;

// Parses an HTTP message with our parser and keeps the head fields we check.
struct parsed_http final : http::parser_handler {
  std::string start_line;
  std::multimap<std::string, std::string> headers;
  std::string body;
  bool complete = false;
  bool keep_alive = true;
  http::parse_action on_head(const http::message_head& h) override {
    start_line = h.is_request ? std::string(h.method) + " " + std::string(h.target)
                              : std::to_string(h.status);
    for (const auto& f : h.headers) {
      std::string name(f.name);
      http::to_lower_in_place(name);
      headers.emplace(name, std::string(f.value));
    }
    keep_alive = h.keep_alive;
    return http::parse_action::proceed;
  }
  http::parse_action on_body(http::bytes_view d) override {
    body.append(reinterpret_cast<const char*>(d.data()), d.size());
    return http::parse_action::proceed;
  }
  http::parse_action on_complete() override {
    complete = true;
    return http::parse_action::proceed;
  }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "<none>" : it->second;
  }
};

parsed_http parse_http(http::parser::mode mode, const std::string& bytes, bool eof = false,
                       http::request_kind kind = http::request_kind::normal) {
  http::parser p(mode);
  p.expect_response(kind);
  parsed_http out;
  const auto used = p.parse(as_bytes(bytes), out);
  EXPECT_FALSE(p.error()) << p.error().message() << " in:\n" << bytes;
  EXPECT_EQ(used, bytes.size()) << bytes;
  if (eof) {
    EXPECT_FALSE(p.finish(out));
  }
  return out;
}

// Captures the head of a parsed HTTP message so the mapping can be fed from it.
struct head_capture final : http::parser_handler {
  std::vector<std::string> storage;  // keeps copies alive
  http::message_head head;
  std::vector<http::header_field> fields;
  std::string text;
  std::string body;
  http::parse_action on_head(const http::message_head& h) override {
    text.clear();
    head = h;
    fields.assign(h.headers.begin(), h.headers.end());
    return http::parse_action::proceed;
  }
  http::parse_action on_body(http::bytes_view d) override {
    body.append(reinterpret_cast<const char*>(d.data()), d.size());
    return http::parse_action::proceed;
  }
  http::parse_action on_complete() override { return http::parse_action::proceed; }
};

std::map<std::string, std::vector<std::string>> app_properties(pn_message_t* m) {
  std::map<std::string, std::vector<std::string>> out;
  pn_data_t* d = pn_message_properties(m);
  pn_data_rewind(d);
  if (!pn_data_next(d) || pn_data_type(d) != PN_MAP) return out;
  const size_t n = pn_data_get_map(d);
  pn_data_enter(d);
  for (size_t i = 0; i < n / 2; ++i) {
    EXPECT_TRUE(pn_data_next(d));
    EXPECT_EQ(pn_data_type(d), PN_STRING);
    const pn_bytes_t k = pn_data_get_string(d);
    std::string key(k.start, k.size);
    EXPECT_TRUE(pn_data_next(d));
    if (pn_data_type(d) == PN_LIST) {
      const size_t items = pn_data_get_list(d);
      pn_data_enter(d);
      for (size_t j = 0; j < items; ++j) {
        pn_data_next(d);
        const pn_bytes_t v = pn_data_get_string(d);
        out[key].emplace_back(v.start, v.size);
      }
      pn_data_exit(d);
    } else {
      EXPECT_EQ(pn_data_type(d), PN_STRING) << key;
      const pn_bytes_t v = pn_data_get_string(d);
      out[key].emplace_back(v.start, v.size);
    }
  }
  pn_data_exit(d);
  return out;
}

pn_message_ptr proton_decode(const byte_buffer& bytes) {
  pn_message_ptr m(pn_message());
  EXPECT_EQ(pn_message_decode(m.get(), reinterpret_cast<const char*>(bytes.data()), bytes.size()), 0)
      << pn_error_text(pn_message_error(m.get()));
  return m;
}

// Body of a decoded message as bytes, and whether it was a data section ("inferred").
std::string proton_body(pn_message_t* m, bool* is_data = nullptr) {
  pn_data_t* body = pn_message_body(m);
  pn_data_rewind(body);
  if (is_data) *is_data = pn_message_is_inferred(m);
  if (!pn_data_next(body)) return "<no body>";
  if (pn_data_type(body) == PN_NULL) return "<null>";
  EXPECT_EQ(pn_data_type(body), PN_BINARY);
  const pn_bytes_t b = pn_data_get_binary(body);
  return std::string(b.start, b.size);
}

// Encodes one HTTP request (as our listener would) into AMQP message bytes.
byte_buffer map_request(const std::string& http_bytes, const request_context& ctx,
                        body_encoding_options options = {}) {
  http::parser p(http::parser::mode::request);
  head_capture cap;
  EXPECT_EQ(p.parse(as_bytes(http_bytes), cap), http_bytes.size());
  cap.head.headers = cap.fields;
  byte_buffer out;
  append_request_head(out, cap.head, ctx);
  std::optional<std::uint64_t> length;
  if (cap.head.framing == http::body_framing::content_length) length = cap.head.content_length;
  if (cap.head.framing == http::body_framing::none) length = 0;
  body_encoder body(length, options);
  // Feed the body in small pieces as a socket would deliver it.
  for (std::size_t i = 0; i < cap.body.size(); i += 7) {
    body.append(as_bytes(std::string_view(cap.body).substr(i, 7)), out);
  }
  EXPECT_TRUE(body.finish(out));
  return out;
}

TEST(http_mapping, request_encodes_to_the_skupper_proxy_fields) {
  request_context ctx{"amqp:/_topo/0/r1/temp.abc", message_id::from_ulong(7), std::nullopt};
  const auto bytes = map_request(
      "POST /orders?id=5 HTTP/1.1\r\nHost: svc.local:6000\r\nContent-Type: application/json\r\n"
      "X-Trace: a\r\nX-Trace: b\r\nCookie: c=1\r\nCookie: d=2\r\nContent-Length: 17\r\n\r\n"
      "{\"item\": \"bolt\"}\n",
      ctx);
  auto m = proton_decode(bytes);
  EXPECT_STREQ(pn_message_get_subject(m.get()), "POST");
  EXPECT_STREQ(pn_message_get_address(m.get()), "svc.local/orders?id=5");
  EXPECT_STREQ(pn_message_get_reply_to(m.get()), "amqp:/_topo/0/r1/temp.abc");
  EXPECT_STREQ(pn_message_get_content_type(m.get()), "application/json");
  const pn_atom_t cid = pn_message_get_correlation_id(m.get());
  ASSERT_EQ(cid.type, PN_ULONG);
  EXPECT_EQ(cid.u.as_ulong, 7u);
  const auto props = app_properties(m.get());
  EXPECT_EQ(props.at("host"), std::vector<std::string>{"svc.local:6000"});
  EXPECT_EQ(props.at("x-trace"), std::vector<std::string>{"a, b"});
  EXPECT_EQ(props.at("cookie"), std::vector<std::string>{"c=1; d=2"});
  EXPECT_EQ(props.at("content-length"), std::vector<std::string>{"17"});
  EXPECT_EQ(props.count("content-type"), 0u) << "content-type travels as a property";
  bool is_data = true;
  EXPECT_EQ(proton_body(m.get(), &is_data), "{\"item\": \"bolt\"}\n");
  EXPECT_FALSE(is_data) << "known lengths travel as amqp-value(binary), as rhea sends them";
}

TEST(http_mapping, request_without_body_has_a_null_value_body) {
  request_context ctx{"reply", message_id::from_ulong(1), std::nullopt};
  const auto bytes = map_request("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", ctx);
  auto m = proton_decode(bytes);
  EXPECT_STREQ(pn_message_get_address(m.get()), "[::1]/");
  // Proton reports an amqp-value null body as no body at all.
  EXPECT_EQ(proton_body(m.get()), "<no body>");
  const byte_buffer null_value = {0x00, 0x53, 0x77, 0x40};
  ASSERT_GE(bytes.size(), 4u);
  EXPECT_EQ(byte_buffer(bytes.end() - 4, bytes.end()), null_value);
}

TEST(http_mapping, absolute_form_target_and_http10_without_host) {
  http::message_head head;
  head.method = "GET";
  head.target = "http://example.org:81/a/b?c";
  EXPECT_EQ(request_to(head), "example.org/a/b?c");
  head.target = "/only/path";
  EXPECT_EQ(request_to(head), "/only/path");
}

TEST(http_mapping, small_chunked_body_is_buffered_into_one_value) {
  request_context ctx{"reply", message_id::from_ulong(2), std::nullopt};
  auto m = proton_decode(map_request(
      "PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n",
      ctx));
  bool is_data = true;
  EXPECT_EQ(proton_body(m.get(), &is_data), "abcdefg");
  EXPECT_FALSE(is_data);
  EXPECT_EQ(app_properties(m.get()).at("transfer-encoding"), std::vector<std::string>{"chunked"});
}

// Collects the body sections of a message with our reader.
struct section_collector final : message_reader::handler {
  std::vector<std::uint64_t> sections;
  std::vector<std::string> payloads;
  result<void> on_section(std::uint64_t d, bytes_view) override {
    sections.push_back(d);
    return {};
  }
  result<void> on_body_begin(std::uint64_t d, std::uint8_t, std::uint64_t) override {
    sections.push_back(d);
    payloads.emplace_back();
    return {};
  }
  result<void> on_body_data(bytes_view data) override {
    payloads.back().append(reinterpret_cast<const char*>(data.data()), data.size());
    return {};
  }
};

TEST(http_mapping, large_chunked_body_streams_as_data_sections) {
  body_encoding_options options;
  options.max_buffered_bytes = 10;
  request_context ctx{"reply", message_id::from_ulong(3), std::nullopt};
  const std::string payload(100, 'z');
  std::string req = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + payload +
                    "\r\n0\r\n\r\n";
  const auto bytes = map_request(req, ctx, options);
  message_reader reader;
  section_collector c;
  ASSERT_TRUE(reader.feed(bytes, true, c));
  ASSERT_GE(c.payloads.size(), 2u) << "streamed as several sections";
  std::string joined;
  for (const auto& p : c.payloads) joined += p;
  EXPECT_EQ(joined, payload);
  for (std::size_t i = 2; i < c.sections.size(); ++i) EXPECT_EQ(c.sections[i], section::data);
  // Proton reads the head fields of such a message too.
  pn_message_ptr m(pn_message());
  EXPECT_EQ(pn_message_decode(m.get(), reinterpret_cast<const char*>(bytes.data()), bytes.size()), 0);
  EXPECT_STREQ(pn_message_get_subject(m.get()), "POST");
}

TEST(http_mapping, body_encoder_reports_a_short_body) {
  body_encoder e(10);
  byte_buffer out;
  e.append(as_bytes("abc"), out);
  EXPECT_EQ(e.finish(out).error(), make_error_code(stream_errc::body_length_mismatch));
}

// --- AMQP -> HTTP, from messages Proton encodes the way rhea does ------------------------------

struct rhea_like {
  std::string subject, to, reply_to, content_type;
  std::optional<std::uint64_t> correlation_id;
  std::vector<std::pair<std::string, std::string>> props;
  std::vector<std::string> set_cookies;
  std::optional<std::string> body;  // nullopt = amqp-value null
  bool data_section = false;
};

byte_buffer proton_encode(const rhea_like& r) {
  pn_message_ptr m(pn_message());
  if (!r.subject.empty()) pn_message_set_subject(m.get(), r.subject.c_str());
  if (!r.to.empty()) pn_message_set_address(m.get(), r.to.c_str());
  if (!r.reply_to.empty()) pn_message_set_reply_to(m.get(), r.reply_to.c_str());
  if (!r.content_type.empty()) pn_message_set_content_type(m.get(), r.content_type.c_str());
  if (r.correlation_id) {
    pn_atom_t id;
    id.type = PN_ULONG;
    id.u.as_ulong = *r.correlation_id;
    pn_message_set_correlation_id(m.get(), id);
  }
  pn_data_t* p = pn_message_properties(m.get());
  pn_data_put_map(p);
  pn_data_enter(p);
  for (const auto& [k, v] : r.props) {
    pn_data_put_string(p, pn_bytes(k.size(), k.data()));
    pn_data_put_string(p, pn_bytes(v.size(), v.data()));
  }
  if (!r.set_cookies.empty()) {
    pn_data_put_string(p, pn_bytes(10, "set-cookie"));
    pn_data_put_list(p);
    pn_data_enter(p);
    for (const auto& c : r.set_cookies) pn_data_put_string(p, pn_bytes(c.size(), c.data()));
    pn_data_exit(p);
  }
  pn_data_exit(p);
  pn_data_t* b = pn_message_body(m.get());
  if (r.body) {
    pn_data_put_binary(b, pn_bytes(r.body->size(), r.body->data()));
  } else {
    pn_data_put_null(b);
  }
  pn_message_set_inferred(m.get(), r.data_section);
  byte_buffer out(1 << 20);
  size_t size = out.size();
  EXPECT_EQ(pn_message_encode(m.get(), reinterpret_cast<char*>(out.data()), &size), 0);
  out.resize(size);
  return out;
}

// Feeds the message in pieces of `piece` bytes; returns the HTTP bytes.
std::string to_http(message_to_http::kind kind, const byte_buffer& message, std::size_t piece,
                    http_output_options options = {}, std::error_code* error = nullptr) {
  message_to_http conv(kind, std::move(options));
  std::string out;
  for (std::size_t i = 0; i < message.size(); i += piece) {
    const std::size_t n = std::min(piece, message.size() - i);
    auto r = conv.feed(bytes_view(message).subspan(i, n), i + n == message.size(), out);
    if (!r) {
      if (error) *error = r.error();
      return out;
    }
  }
  EXPECT_TRUE(conv.done());
  return out;
}

TEST(http_mapping, rhea_response_becomes_http_in_any_split) {
  rhea_like r;
  r.subject = "201";
  r.to = "reply";
  r.correlation_id = 9;
  r.content_type = "text/plain";
  r.props = {{"x-served-by", "backend-1"}, {"content-length", "5"}, {"connection", "keep-alive"},
             {"transfer-encoding", "bogus"}};
  r.set_cookies = {"a=1", "b=2"};
  r.body = "hello";
  const auto message = proton_encode(r);
  for (std::size_t piece : {message.size(), std::size_t{1}, std::size_t{3}, std::size_t{16}}) {
    const std::string http_bytes = to_http(message_to_http::kind::response, message, piece);
    const auto h = parse_http(http::parser::mode::response, http_bytes);
    EXPECT_EQ(h.start_line, "201");
    EXPECT_EQ(h.header("x-served-by"), "backend-1");
    EXPECT_EQ(h.header("content-type"), "text/plain");
    EXPECT_EQ(h.header("content-length"), "5");
    EXPECT_EQ(h.header("transfer-encoding"), "<none>") << "hop-by-hop headers are not copied";
    EXPECT_EQ(h.headers.count("set-cookie"), 2u);
    EXPECT_EQ(h.body, "hello");
    EXPECT_TRUE(h.complete);
  }
  message_to_http conv(message_to_http::kind::response, {});
  std::string out;
  ASSERT_TRUE(conv.feed(message, true, out));
  EXPECT_EQ(conv.correlation_id(), message_id::from_ulong(9));
}

TEST(http_mapping, rhea_request_becomes_http_for_the_target) {
  rhea_like r;
  r.subject = "PUT";
  r.to = "myservice/foo/bar?x=1";
  r.reply_to = "amqp:/_topo/0/r/temp.1";
  r.correlation_id = 1;
  r.props = {{"host", "myservice:6000"}, {"content-length", "3"}, {"accept", "*/*"}};
  r.body = "abc";
  http_output_options options;
  options.host_header = "127.0.0.1:8080";
  const auto h = parse_http(http::parser::mode::request,
                            to_http(message_to_http::kind::request, proton_encode(r), 5, options));
  EXPECT_EQ(h.start_line, "PUT /foo/bar?x=1");
  EXPECT_EQ(h.header("host"), "myservice:6000");
  EXPECT_EQ(h.header("accept"), "*/*");
  EXPECT_EQ(h.body, "abc");

  options.host_override = true;
  const auto o = parse_http(http::parser::mode::request,
                            to_http(message_to_http::kind::request, proton_encode(r), 64, options));
  EXPECT_EQ(o.header("host"), "127.0.0.1:8080");
}

TEST(http_mapping, request_without_host_gets_the_target_host_and_get_gets_no_length) {
  rhea_like r;
  r.subject = "GET";
  r.to = "svc/";
  http_output_options options;
  options.host_header = "10.0.0.2:80";
  const std::string bytes = to_http(message_to_http::kind::request, proton_encode(r), 64, options);
  EXPECT_EQ(bytes, "GET / HTTP/1.1\r\nhost: 10.0.0.2:80\r\n\r\n");
}

TEST(http_mapping, data_sections_become_chunks_or_a_close_delimited_body) {
  // Our own streamed form: head sections, then data sections.
  byte_buffer message;
  http::message_head head;
  head.status = 200;
  std::vector<http::header_field> fields = {{"Content-Type", "application/octet-stream"}};
  head.headers = fields;
  append_response_head(message, head, {"reply", message_id::from_ulong(4), std::nullopt});
  body_encoder body(std::nullopt, body_encoding_options{0});
  body.append(as_bytes("first-"), message);
  body.append(as_bytes("second"), message);
  ASSERT_TRUE(body.finish(message));

  const auto chunked = to_http(message_to_http::kind::response, message, 5);
  EXPECT_NE(chunked.find("transfer-encoding: chunked"), std::string::npos);
  const auto h = parse_http(http::parser::mode::response, chunked);
  EXPECT_EQ(h.body, "first-second");

  http_output_options old_client;
  old_client.client_version_minor = 0;
  const auto closing = to_http(message_to_http::kind::response, message, 5, old_client);
  const auto c = parse_http(http::parser::mode::response, closing, true);
  EXPECT_EQ(c.body, "first-second");
  EXPECT_EQ(c.header("connection"), "close");
}

TEST(http_mapping, head_and_204_answers_carry_no_body_but_keep_the_length) {
  rhea_like r;
  r.subject = "200";
  r.props = {{"content-length", "1234"}};
  http_output_options options;
  options.answered = http::request_kind::head;
  const auto bytes = to_http(message_to_http::kind::response, proton_encode(r), 7, options);
  const auto h = parse_http(http::parser::mode::response, bytes, false, http::request_kind::head);
  EXPECT_EQ(h.header("content-length"), "1234");
  EXPECT_TRUE(h.body.empty());
}

TEST(http_mapping, response_without_subject_is_203_as_skupper_proxy) {
  rhea_like r;
  r.body = "x";
  const auto h = parse_http(http::parser::mode::response,
                            to_http(message_to_http::kind::response, proton_encode(r), 64));
  EXPECT_EQ(h.start_line, "203");
}

TEST(http_mapping, unmappable_messages_fail_with_a_reason) {
  std::error_code error;
  rhea_like bad_status;
  bad_status.subject = "OK";
  to_http(message_to_http::kind::response, proton_encode(bad_status), 64, {}, &error);
  EXPECT_EQ(error, make_error_code(stream_errc::bad_status));

  rhea_like no_method;
  to_http(message_to_http::kind::request, proton_encode(no_method), 64, {}, &error);
  EXPECT_EQ(error, make_error_code(stream_errc::missing_method));

  // A map body (e.g. a management message sent to the wrong address).
  pn_message_ptr m(pn_message());
  pn_message_set_subject(m.get(), "200");
  pn_data_t* b = pn_message_body(m.get());
  pn_data_put_map(b);
  byte_buffer out(4096);
  size_t size = out.size();
  ASSERT_EQ(pn_message_encode(m.get(), reinterpret_cast<char*>(out.data()), &size), 0);
  out.resize(size);
  to_http(message_to_http::kind::response, out, 64, {}, &error);
  EXPECT_EQ(error, make_error_code(stream_errc::unsupported_body));
}

TEST(message_reader, truncated_and_oversized_sections_fail) {
  rhea_like r;
  r.subject = "200";
  r.body = std::string(1000, 'b');
  const auto message = proton_encode(r);
  section_collector c;
  message_reader truncated;
  EXPECT_EQ(truncated.feed(bytes_view(message).first(message.size() - 1), true, c).error(),
            make_error_code(stream_errc::truncated_message));

  // Properties beyond the section limit, arriving in pieces.
  rhea_like big;
  big.subject = std::string(2000, 's');
  const auto big_message = proton_encode(big);
  message_reader small(512);
  section_collector c2;
  std::error_code ec;
  for (std::size_t i = 0; i < big_message.size() && !ec; i += 100) {
    ec = small.feed(bytes_view(big_message).subspan(i, std::min<std::size_t>(100, big_message.size() - i)),
                    false, c2)
             .error();
  }
  EXPECT_EQ(ec, make_error_code(stream_errc::section_too_large));

  const std::uint8_t not_described[] = {0x40};
  message_reader r3;
  EXPECT_EQ(r3.feed(not_described, true, c).error(), make_error_code(stream_errc::not_a_section));
}

TEST(message_reader, properties_round_trip_with_every_id_kind) {
  for (const message_id& id :
       {message_id::from_ulong(0), message_id::from_ulong(1ull << 40), message_id::from_string("abc"),
        [] {
          message_id u;
          u.type = message_id::kind::uuid;
          for (std::uint8_t i = 0; i < 16; ++i) u.uuid[i] = i;
          return u;
        }(),
        [] {
          message_id b;
          b.type = message_id::kind::binary;
          b.bytes = "\x01\x02"s;
          return b;
        }()}) {
    byte_buffer out;
    properties_fields f;
    f.correlation_id = &id;
    f.to = "addr";
    append_properties(out, f);
    auto p = decode_properties(out);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->correlation_id, id) << id.to_string();
    EXPECT_EQ(p->to, "addr");
    // Proton agrees on the value.
    out.insert(out.end(), {0x00, 0x53, 0x77, 0x40});
    auto m = proton_decode(out);
    EXPECT_STREQ(pn_message_get_address(m.get()), "addr");
  }
}

}  // namespace
