// HTTP/1.x <-> AMQP message mapping, wire-compatible with skupper-proxy's HTTP/1 bridge (the
// `iofog/proxy` containers ioFog deploys; reference/proxy.md §1.1), so a fogmesh adaptor can
// face an existing ioFog proxy at the other end. See proxy/README.md for the full table.
//
//   request  properties.subject = method, .to = host (port stripped) + path?query,
//            .reply-to = the listener's reply address, .correlation-id = per-request id,
//            .content-type = Content-Type; application-properties = every other header,
//            lower-cased names, string values (repeated headers joined with ", ", Cookie with
//            "; ", Set-Cookie as a list as Node/rhea do).
//   response properties.subject = status code as text, .to = the request's reply-to,
//            .correlation-id = the request's; headers and content-type as above.
//   body     a known length (Content-Length) travels as one amqp-value(binary) whose payload
//            streams as it arrives (what rhea sends, so ioFog proxies read it); an unknown
//            length (chunked / read-until-close) is buffered up to a bound and sent as
//            amqp-value(binary) when it ends within it, else streamed as a sequence of data
//            sections (ioFog's Node proxy cannot read those; fogmesh peers can). An empty body
//            is amqp-value(null).
//
// Thread: any; one object per message, not shared.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fogmesh/common/result.hpp"
#include "fogmesh/proxy/http_parser.hpp"
#include "fogmesh/proxy/message_stream.hpp"

namespace fogmesh::proxy {

// --- HTTP -> AMQP ----------------------------------------------------------------------------

struct request_context {
  std::string_view reply_to;
  message_id correlation_id;
  std::optional<std::string_view> group_id;  // skupper's site id; unset in ioFog
};

struct response_context {
  std::string_view to;  // the request's reply-to
  message_id correlation_id;
  std::optional<std::string_view> group_id;
};

// Appends the properties and application-properties sections of a request message.
void append_request_head(byte_buffer& out, const http::message_head& head,
                         const request_context& ctx);
// Appends the properties and application-properties sections of a response message.
void append_response_head(byte_buffer& out, const http::message_head& head,
                          const response_context& ctx);
// The `to` of a request: Host without its port, then the path and query of the target
// (absolute-form targets contribute their own host when there is no Host header).
std::string request_to(const http::message_head& head);

struct body_encoding_options {
  // An unknown-length body that ends within this many bytes is sent as one amqp-value(binary)
  // (readable by ioFog's proxies); beyond it the adaptor streams data sections instead.
  // 0 = always data sections for unknown lengths.
  std::size_t max_buffered_bytes = 64 * 1024;
};

// Encodes a body as the mapping says, appending bytes to the caller's buffer as they become
// ready (the caller sends them as transfer payload). Copies each body byte once, into `out`.
class body_encoder {
 public:
  // known_length: the Content-Length, or nullopt for chunked / read-until-close bodies.
  explicit body_encoder(std::optional<std::uint64_t> known_length,
                        body_encoding_options options = {});
  void append(bytes_view data, byte_buffer& out);
  // Ends the body. Fails with body_length_mismatch when a known length was not met.
  result<void> finish(byte_buffer& out);
  std::uint64_t bytes_in() const noexcept { return bytes_in_; }

 private:
  enum class mode { value, buffering, data_sections };
  std::optional<std::uint64_t> known_length_;
  body_encoding_options options_;
  mode mode_;
  byte_buffer buffered_;
  std::uint64_t bytes_in_ = 0;
  bool prefix_written_ = false;
};

// --- AMQP -> HTTP ----------------------------------------------------------------------------

struct http_output_options {
  // Request side (the connector writes requests to the target server).
  std::string host_header;     // Host sent when the message carries none ("host:port")
  bool host_override = false;  // replace the message's Host by host_header
  // Response side (the listener writes responses to its client).
  int client_version_minor = 1;
  http::request_kind answered = http::request_kind::normal;
  bool client_keep_alive = true;
};

// Turns one AMQP message (fed in delivery pieces) into HTTP bytes: the head as soon as the
// body's framing is known (first body section or end of message), then the body as it streams.
class message_to_http final : private message_reader::handler {
 public:
  enum class kind { request, response };
  message_to_http(kind k, http_output_options options);

  // Appends HTTP bytes for this piece to `out`. `complete` = last piece of the delivery.
  result<void> feed(bytes_view piece, bool complete, std::string& out);

  // Called once, right after the properties section was read and before any HTTP byte is
  // written: a listener matches the correlation-id to its request here and sets the options
  // that depend on it (set_options). Returning an error fails the feed.
  void on_properties(std::function<result<void>(message_to_http&)> hook) {
    properties_hook_ = std::move(hook);
  }
  void set_options(http_output_options options) { options_ = std::move(options); }

  bool head_written() const noexcept { return head_written_; }
  bool done() const noexcept { return done_; }
  bool has_properties() const noexcept { return has_properties_; }
  // Owned copies of the properties the adaptors need (valid once has_properties()).
  const message_id& correlation_id() const noexcept { return correlation_id_; }
  const std::string& reply_to() const noexcept { return reply_to_; }
  const std::string& subject() const noexcept { return subject_; }
  int status() const noexcept { return status_; }
  // The HTTP connection can carry another message after this one (false when the body had
  // to be delimited by closing the connection, or the client asked to close).
  bool keep_alive() const noexcept { return keep_alive_; }

 private:
  result<void> on_section(std::uint64_t descriptor, bytes_view section_bytes) override;
  result<void> on_body_begin(std::uint64_t descriptor, std::uint8_t value_code,
                             std::uint64_t length) override;
  result<void> on_body_data(bytes_view data) override;

  enum class body_mode { none, length, chunked, close_delimited, discard };
  result<void> write_head(body_mode mode, std::uint64_t length);

  kind kind_;
  http_output_options options_;
  std::function<result<void>(message_to_http&)> properties_hook_;
  message_reader reader_;
  std::string* out_ = nullptr;
  bool has_properties_ = false;
  message_id correlation_id_;
  std::string reply_to_, subject_, to_, content_type_;
  bool has_content_type_ = false;
  std::vector<std::pair<std::string, std::string>> headers_;  // from application-properties
  int status_ = 0;
  bool head_written_ = false;
  bool done_ = false;
  bool keep_alive_ = true;
  body_mode body_ = body_mode::none;
  bool body_is_value_ = false;
  std::uint64_t section_left_ = 0;  // payload bytes left in the current data section
};

}  // namespace fogmesh::proxy
