#include "fogmesh/proxy/http_listener_connection.hpp"

#include <algorithm>

namespace fogmesh::proxy {

namespace {

bytes_view as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string_view outcome_detail(delivery_outcome o) {
  switch (o) {
    case delivery_outcome::released: return "no service is reachable at the address";
    case delivery_outcome::modified: return "the target service did not answer";
    case delivery_outcome::rejected: return "the request was rejected by the far side";
    case delivery_outcome::accepted: break;
  }
  return "";
}

// The upgrade request as the target must see it (the parser hands out a parsed head).
std::string serialise_head(const http::message_head& head) {
  std::string out;
  out.append(head.method).append(" ").append(head.target);
  out.append(head.version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  for (const auto& f : head.headers) http::append_header(out, f.name, f.value);
  out.append("\r\n");
  return out;
}

}  // namespace

http_listener_connection::http_listener_connection(http_listener_amqp_side& amqp,
                                                   http_listener_options options,
                                                   clock::time_point now)
    : amqp_(amqp),
      options_(std::move(options)),
      parser_(http::parser::mode::request, options_.limits),
      now_(now) {}

http_listener_connection::~http_listener_connection() {
  if (current_request_ != 0) amqp_.abort_request(current_request_);
  for (auto& [token, rd] : responses_) amqp_.settle_response(token, delivery_outcome::released);
  amqp_.connection_closed();
}

bool http_listener_connection::wants_input() const noexcept {
  if (client_eof_ || input_stopped_ || tunnel_pending_) return false;
  if (!amqp_.can_send_request_bytes()) return false;
  if (tunnel_started_) return true;
  if (!input_.empty()) return false;
  return current_request_ != 0 || queue_.size() < options_.max_pipelined_requests;
}

void http_listener_connection::on_client_data(bytes_view data, clock::time_point now) {
  now_ = now;
  if (tunnel_started_) {
    amqp_.tunnel_data(data);
    return;
  }
  if (input_stopped_ || client_eof_) return;  // after an error or a closing request
  if (!input_.empty()) {
    input_.append(reinterpret_cast<const char*>(data.data()), data.size());
    process_input(now);
    return;
  }
  // Nothing held: parse straight from the received buffer (body bytes are copied once, into
  // the request message) and keep only what could not be taken yet.
  const std::size_t used = parse_from(data);
  if (!input_stopped_ && used < data.size()) {
    input_.append(reinterpret_cast<const char*>(data.data()) + used, data.size() - used);
  }
  after_input();
}

void http_listener_connection::process_input(clock::time_point now) {
  now_ = now;
  if (!input_.empty()) {
    const std::size_t used = parse_from(as_bytes(input_));
    if (input_stopped_) {
      input_.clear();
    } else {
      input_.erase(0, used);
    }
  }
  after_input();
}

std::size_t http_listener_connection::parse_from(bytes_view view) {
  std::size_t pos = 0;
  while (pos < view.size() && !input_stopped_ && !tunnel_pending_ && !tunnel_started_) {
    if (current_request_ == 0 && queue_.size() >= options_.max_pipelined_requests) break;
    if (!amqp_.can_send_request_bytes()) break;
    const std::size_t used = parser_.parse(view.subspan(pos), *this);
    pos += used;
    if (parser_.error()) {
      handle_parse_error();
      return view.size();
    }
    if (parser_.finished()) {  // `Connection: close` request: nothing after it is read
      input_stopped_ = true;
      return view.size();
    }
    if (used == 0) break;
  }
  return pos;
}

void http_listener_connection::after_input() {
  maybe_start_tunnel();
  if (client_eof_ && input_.empty() && !tunnel_started_ && !tunnel_pending_ &&
      !close_after_output_) {
    on_client_eof();
  }
}

void http_listener_connection::on_client_eof() {
  const bool first = !client_eof_;
  client_eof_ = true;
  if (tunnel_started_) {
    if (first) amqp_.end_tunnel();
    if (tunnel_write_closed_) close_after_output_ = true;
    return;
  }
  if (!input_.empty() || tunnel_pending_) return;  // finish once the held input is processed
  // A half-closed client may still read its responses: answer what was asked, then close.
  if (!input_stopped_ && parser_.finish(*this)) {
    // Cut off in the middle of a request: abandon it; nobody will read an answer to it.
    if (current_request_ != 0) {
      amqp_.abort_request(current_request_);
      const auto id = current_request_;
      current_request_ = 0;
      queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                                  [&](const slot& s) { return s.id == id; }),
                   queue_.end());
    }
  }
  input_stopped_ = true;
  close_after_output_ = true;
  flush_ready();
}

http::parse_action http_listener_connection::on_head(const http::message_head& head) {
  if (head.upgrade && head.framing != http::body_framing::chunked) {
    // Not an HTTP message for the mapping: the connection becomes a tunnel once every earlier
    // response is written.
    current_is_upgrade_ = true;
    tunnel_head_ = serialise_head(head);
    return http::parse_action::proceed;
  }
  slot s;
  s.id = amqp_.allocate_request_id();
  s.kind = http::kind_of_method(head.method);
  s.version_minor = head.version_minor;
  s.client_keep_alive = head.keep_alive;
  s.close_after = !head.keep_alive;
  s.started = now_;
  queue_.push_back(std::move(s));
  current_request_ = queue_.back().id;
  ++requests_started_;

  message_.clear();
  append_request_head(message_, head,
                      {amqp_.reply_address(), message_id::from_ulong(current_request_), std::nullopt});
  std::optional<std::uint64_t> length;
  if (head.framing == http::body_framing::none) length = 0;
  if (head.framing == http::body_framing::content_length) length = head.content_length;
  body_.emplace(length, options_.body);
  begun_ = false;
  return http::parse_action::proceed;
}

http::parse_action http_listener_connection::on_body(http::bytes_view data) {
  if (current_is_upgrade_) {
    tunnel_head_.append(reinterpret_cast<const char*>(data.data()), data.size());
    return http::parse_action::proceed;
  }
  if (current_request_ == 0) return http::parse_action::proceed;  // answered early (502/504)
  // The response timeout counts from the last request byte: a long upload is not late.
  if (slot* s = find_slot(current_request_)) s->started = now_;
  body_->append(data, message_);
  if (!message_.empty()) send_request_bytes(false);
  return amqp_.can_send_request_bytes() ? http::parse_action::proceed : http::parse_action::pause;
}

http::parse_action http_listener_connection::on_complete() {
  if (current_is_upgrade_) {
    current_is_upgrade_ = false;
    tunnel_pending_ = true;
    return http::parse_action::pause;
  }
  if (current_request_ != 0) {
    // The parser delivered exactly the framed length, so finish() cannot report a mismatch.
    (void)body_->finish(message_);
    send_request_bytes(true);
    if (slot* s = find_slot(current_request_)) s->request_sent = true;
    current_request_ = 0;
  }
  body_.reset();
  return queue_.size() >= options_.max_pipelined_requests ? http::parse_action::pause
                                                          : http::parse_action::proceed;
}

void http_listener_connection::send_request_bytes(bool last) {
  if (!begun_) {
    amqp_.begin_request(current_request_, message_, last);
    begun_ = true;
  } else {
    amqp_.continue_request(current_request_, message_, last);
  }
  message_.clear();
}

void http_listener_connection::handle_parse_error() {
  const std::error_code ec = parser_.error();
  const int status = http::status_for(ec);
  input_stopped_ = true;
  input_.clear();
  if (current_request_ != 0) {
    // Malformed body of a request already on its way: abort it and answer in its place.
    amqp_.abort_request(current_request_);
    if (slot* s = find_slot(current_request_)) {
      answer_with_error(*s, status, ec.message(), true);
    }
    current_request_ = 0;
  } else {
    slot s;
    s.started = now_;
    queue_.push_back(std::move(s));
    answer_with_error(queue_.back(), status, ec.message(), true);
  }
  close_after_output_ = true;
  flush_ready();
}

http_listener_connection::slot* http_listener_connection::find_slot(std::uint64_t id) {
  if (id == 0) return nullptr;
  for (auto& s : queue_) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

void http_listener_connection::answer_with_error(slot& s, int status, std::string_view detail,
                                                 bool close) {
  const bool keep_alive = !close && s.client_keep_alive;
  s.bytes = http::make_error_response(status, detail, keep_alive);
  s.response_done = true;
  s.close_after = s.close_after || !keep_alive;
  if (s.response_token) {
    // A response that had started but could not be completed is dropped.
    amqp_.settle_response(*s.response_token, delivery_outcome::rejected);
    responses_.erase(*s.response_token);
    s.response_token.reset();
  }
}

void http_listener_connection::flush_ready() {
  while (!queue_.empty()) {
    slot& front = queue_.front();
    if (!front.bytes.empty()) {
      output_.append(front.bytes);
      front.bytes.clear();
      front.emitted = true;
    }
    if (!front.response_done) break;
    const bool close = front.close_after;
    queue_.pop_front();
    if (close) {
      // Nothing after this response reaches the client: abandon the pipelined rest.
      for (auto& s : queue_) {
        if (!s.request_sent && s.id != 0) amqp_.abort_request(s.id);
        if (s.response_token) {
          amqp_.settle_response(*s.response_token, delivery_outcome::released);
          responses_.erase(*s.response_token);
        }
      }
      if (current_request_ != 0) current_request_ = 0;
      queue_.clear();
      input_stopped_ = true;
      input_.clear();
      close_after_output_ = true;
      break;
    }
  }
}

void http_listener_connection::maybe_start_tunnel() {
  if (!tunnel_pending_ || !queue_.empty() || close_after_output_) return;
  tunnel_pending_ = false;
  tunnel_started_ = true;
  tunnel_head_.append(input_);
  input_.clear();
  amqp_.begin_tunnel(as_bytes(tunnel_head_));
  tunnel_head_.clear();
  tunnel_head_.shrink_to_fit();
  if (client_eof_) amqp_.end_tunnel();
}

void http_listener_connection::on_request_outcome(std::uint64_t request_id,
                                                  delivery_outcome outcome) {
  if (outcome == delivery_outcome::accepted) return;
  slot* s = find_slot(request_id);
  if (s == nullptr || s->response_started || s->response_done) return;
  const bool body_unread = !s->request_sent;
  if (body_unread) {
    // The far side gave up while the client is still sending: stop reading, answer, close.
    current_request_ = 0;
    input_stopped_ = true;
    input_.clear();
  }
  answer_with_error(*s, 502, outcome_detail(outcome), body_unread);
  flush_ready();
  process_input(now_);
}

void http_listener_connection::on_response(std::uint64_t token, bytes_view message_bytes,
                                           bool last) {
  auto [it, inserted] = responses_.try_emplace(token);
  response_delivery& rd = it->second;
  if (inserted) {
    rd.converter = std::make_unique<message_to_http>(message_to_http::kind::response,
                                                     http_output_options{});
    rd.converter->on_properties([this, &rd, token](message_to_http& conv) -> result<void> {
      const message_id& cid = conv.correlation_id();
      slot* s = cid.type == message_id::kind::ulong ? find_slot(cid.number) : nullptr;
      if (s == nullptr || s->response_started || s->response_done) {
        rd.orphan = true;  // late (after a 504), duplicate, or not ours
        return {};
      }
      rd.request_id = s->id;
      s->response_started = true;
      s->response_token = token;
      http_output_options o;
      o.client_version_minor = s->version_minor;
      o.answered = s->kind;
      o.client_keep_alive = s->client_keep_alive;
      conv.set_options(std::move(o));
      return {};
    });
  }
  std::string out;
  auto r = rd.converter->feed(message_bytes, last, out);
  slot* s = rd.orphan ? nullptr : find_slot(rd.request_id);
  if (!r) {
    if (s != nullptr) {
      s->response_token.reset();
      if (!s->emitted && s->bytes.empty()) {
        answer_with_error(*s, 502, "unusable response message: " + r.error().message(), false);
      } else {
        // Part of the response is on its way to the client: only closing can end it.
        s->response_done = true;
        s->close_after = true;
      }
    }
    amqp_.settle_response(token, delivery_outcome::rejected);
    responses_.erase(token);
    flush_ready();
    process_input(now_);
    return;
  }
  if (s != nullptr && !out.empty()) {
    if (&queue_.front() == s) {
      output_.append(out);
      s->emitted = true;
    } else {
      s->bytes.append(out);
      if (s->bytes.size() > options_.max_buffered_response_bytes) {
        // An out-of-order response larger than we hold: give up on the connection rather
        // than buffer without bound.
        s->bytes.clear();
        s->response_done = true;
        s->close_after = true;
      }
    }
  }
  if (last) {
    const bool matched = s != nullptr;
    if (matched) {
      s->response_done = true;
      s->response_token.reset();
      if (!rd.converter->keep_alive()) s->close_after = true;
    }
    // Responses nobody waits for are dropped, settled so the sender does not redeliver them.
    amqp_.settle_response(token, matched || rd.orphan ? delivery_outcome::accepted
                                                      : delivery_outcome::rejected);
    responses_.erase(token);
  }
  flush_ready();
  process_input(now_);
}

void http_listener_connection::on_response_aborted(std::uint64_t token) {
  auto it = responses_.find(token);
  if (it == responses_.end()) return;
  slot* s = it->second.orphan ? nullptr : find_slot(it->second.request_id);
  responses_.erase(it);
  if (s != nullptr) {
    s->response_token.reset();
    if (!s->emitted && s->bytes.empty()) {
      answer_with_error(*s, 502, "the response was aborted by the far side", false);
    } else {
      s->response_done = true;
      s->close_after = true;
    }
  }
  amqp_.settle_response(token, delivery_outcome::released);
  flush_ready();
  process_input(now_);
}

void http_listener_connection::on_request_capacity(clock::time_point now) { process_input(now); }

void http_listener_connection::on_tick(clock::time_point now) {
  now_ = now;
  bool changed = false;
  for (auto& s : queue_) {
    if (s.id == 0 || s.response_started || s.response_done) continue;
    if (now - s.started < options_.request_timeout) continue;
    const bool body_unread = !s.request_sent;
    if (body_unread) {
      amqp_.abort_request(s.id);
      if (current_request_ == s.id) current_request_ = 0;
      input_stopped_ = true;
      input_.clear();
    }
    const auto seconds =
        std::chrono::duration_cast<std::chrono::seconds>(options_.request_timeout).count();
    answer_with_error(s, 504, "no response within " + std::to_string(seconds) + " s", body_unread);
    changed = true;
  }
  if (changed) {
    flush_ready();
    process_input(now);
  }
}

void http_listener_connection::on_tunnel_data(bytes_view bytes) {
  output_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void http_listener_connection::on_tunnel_end() {
  tunnel_write_closed_ = true;
  if (client_eof_) close_after_output_ = true;
}

void http_listener_connection::on_amqp_lost() {
  for (auto& s : queue_) {
    if (s.response_done) continue;
    if (s.response_started) {
      s.response_done = true;
      s.close_after = true;
    } else {
      s.bytes.clear();
      answer_with_error(s, 502, "lost the path to the router network", true);
    }
  }
  responses_.clear();
  current_request_ = 0;
  input_stopped_ = true;
  input_.clear();
  if (tunnel_started_ || tunnel_pending_) tunnel_write_closed_ = true;
  close_after_output_ = true;
  flush_ready();
}

}  // namespace fogmesh::proxy
