// fogmesh-bench's native engine: AMQP 1.0 spoken with fogmesh's own codec (router-core's
// amqp/ library) over non-blocking sockets and epoll, one thread, one session (channel 0) and
// one link (handle 0) per connection.
//
// Why it exists: a Proton C client spends ~85% of its CPU in Proton's object bookkeeping
// (refcounts, event objects; perf, 2026-11-27), so the Proton engine's direct ceiling
// (660-840k msg/s here) sat below what the router forwards and the benchmark measured the
// client, not the router. This engine does per message what the router does: patch and append
// a transfer, parse one in place, and settle ranges with one disposition per socket read.
//
// It is a load tool, not a general client: it handles what a router or its own loopback peer
// sends on such a link (open, begin, attach, flow incl. drain and echo, transfer incl.
// multi-frame and aborted, disposition ranges, detach/end/close with their errors,
// heartbeats, SASL ANONYMOUS) and fails the run with the peer's words on anything else.
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "amqp/frame.hpp"
#include "amqp/performatives.hpp"
#include "bench_support.hpp"

namespace fogmesh::bench {
namespace {

namespace amqp = fogmesh::router::amqp;

constexpr uint32_t kOurMaxFrame = 65536;
// Session windows we grant: never the limit in a benchmark (link credit is).
constexpr uint32_t kSessionWindow = 0x7fffffff;
constexpr size_t kReadChunk = 256 * 1024;
// Unsent output above which the sender stops producing until the socket drains (large bodies).
constexpr size_t kOutputHighWater = 4u << 20;
// Bytes kept from the start of each received delivery: enough for any sections a router adds
// before the Data section that holds the stamp.
constexpr size_t kDeliveryPrefix = 4096;
constexpr uint64_t kSettledMark = ~uint64_t{0};  // unsettled_ entry of a settled delivery

std::string error_text(const std::optional<amqp::error>& e) {
  if (!e) {
    return "no error given";
  }
  return e->description.empty() ? e->condition : e->condition + ": " + e->description;
}

// One AMQP connection of the run: its socket, protocol stage, session and link bookkeeping.
struct connection {
  enum class stage { sasl_header, sasl, amqp_header, frames, closed };

  int fd = -1;
  std::string label;      // names the connection in errors
  bool accepted = false;  // the listener's side of a direct run: answers open/begin/attach
  bool sends = false;     // its link is the sending one
  stage at = stage::amqp_header;
  std::vector<uint8_t> in = std::vector<uint8_t>(kReadChunk);
  size_t in_len = 0;
  amqp::byte_buffer out;
  size_t out_off = 0;
  bool watching_output = false;  // EPOLLOUT armed
  uint64_t last_write_ns = 0;
  amqp::performative frame_body{std::in_place_type<amqp::end>};

  uint32_t peer_max_frame = amqp::min_max_frame_size;
  uint32_t peer_idle_timeout_ms = 0;
  bool close_sent = false;
  bool peer_closed = false;

  // Session on channel 0.
  bool begin_sent = false;
  uint32_t next_outgoing_id = 0;
  uint32_t remote_incoming_window = 0;
  uint32_t next_incoming_id = 0;

  // Link on handle 0.
  bool attach_sent = false;
  bool peer_attached = false;
  // Sending link.
  uint32_t delivery_count = 0;
  uint32_t credit = 0;
  uint32_t next_delivery_id = 0;
  uint32_t unsettled_base = 0;     // delivery-id of unsettled_.front()
  std::deque<uint64_t> unsettled;  // sequence number per delivery-id, kSettledMark once settled
  // Receiving link.
  uint32_t rcv_delivery_count = 0;
  bool flow_due = false;
  bool in_delivery = false;
  bool delivery_settled = false;
  uint32_t delivery_id = 0;
  size_t delivery_bytes = 0;
  std::vector<char> delivery_prefix;
  bool range_open = false;  // accepted deliveries not yet in a disposition
  uint32_t range_first = 0, range_last = 0;

  size_t pending_output() const { return out.size() - out_off; }
};

class native_run {
 public:
  explicit native_run(const options& opt) : opt_(opt), state_(opt), message_(opt.size) {}
  ~native_run();
  native_run(const native_run&) = delete;
  native_run& operator=(const native_run&) = delete;

  int run();

 private:
  // Setup.
  bool open_direct_pair();
  connection* connect_to(const std::string& host, const std::string& port, bool sends,
                         const std::string& role_name);
  connection* adopt(int fd, std::string label, bool accepted, bool sends);
  void start_client(connection& c);
  void write_client_amqp_start(connection& c);

  // Input.
  void on_readable(connection& c);
  void process_input(connection& c, uint64_t arrival_ns);
  bool handle_protocol_header(connection& c, amqp::bytes_view header);
  void handle_sasl(connection& c, const amqp::frame_view& frame);
  void handle_frame(connection& c, const amqp::frame_view& frame, uint64_t arrival_ns);
  void on_open(connection& c, const amqp::open& o);
  void on_begin(connection& c, const amqp::begin& b);
  void on_attach(connection& c, const amqp::attach& a);
  void on_flow(connection& c, const amqp::flow& f);
  void on_transfer(connection& c, const amqp::transfer& t, amqp::bytes_view payload,
                   uint64_t arrival_ns);
  void on_disposition(connection& c, const amqp::disposition& d);

  // Output.
  void pump_sender();
  void write_transfer(connection& c, uint64_t seq);
  void write_link_flow(connection& c, bool drain);
  void flush_receiver(connection& c);
  void flush(connection& c);
  void watch_output(connection& c, bool on);

  void fail(connection& c, const std::string& what);
  void finish();
  void close_socket(connection& c);
  bool all_closed() const;

  options opt_;
  load_state state_;
  message_template message_;
  int epoll_fd_ = -1;
  std::vector<std::unique_ptr<connection>> connections_;
  connection* sender_ = nullptr;
  connection* receiver_ = nullptr;
  std::string host_, port_, send_host_, send_port_;
  uint64_t finish_deadline_ns_ = 0;
};

native_run::~native_run() {
  for (auto& c : connections_) {
    if (c->fd >= 0) {
      ::close(c->fd);
    }
  }
  if (epoll_fd_ >= 0) {
    ::close(epoll_fd_);
  }
}

connection* native_run::adopt(int fd, std::string label, bool accepted, bool sends) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  auto c = std::make_unique<connection>();
  c->fd = fd;
  c->label = std::move(label);
  c->accepted = accepted;
  c->sends = sends;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = c.get();
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  connections_.push_back(std::move(c));
  return connections_.back().get();
}

connection* native_run::connect_to(const std::string& host, const std::string& port, bool sends,
                                   const std::string& role_name) {
  const std::string where = host + ":" + port;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    state_.fail("cannot resolve " + where + ": " + ::gai_strerror(rc));
    return nullptr;
  }
  std::string last_error = "no address";
  int fd = -1;
  for (addrinfo* ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    // A blocking connect: loopback or LAN targets answer at once, and it keeps setup simple.
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) {
    state_.fail(role_name + " cannot connect to " + where + ": " + last_error);
    return nullptr;
  }
  connection* c = adopt(fd, role_name + " connection to " + where, false, sends);
  start_client(*c);
  return c;
}

bool native_run::open_direct_pair() {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    state_.fail(std::string("cannot listen on 127.0.0.1: ") + std::strerror(errno));
    if (listener >= 0) {
      ::close(listener);
    }
    return false;
  }
  host_ = "127.0.0.1";
  port_ = std::to_string(ntohs(addr.sin_port));
  sender_ = connect_to(host_, port_, true, "sender");
  // The connect completed through the backlog, so this accept does not wait.
  const int accepted =
      sender_ != nullptr ? ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC) : -1;
  ::close(listener);
  if (accepted < 0) {
    state_.fail(std::string("loopback accept failed: ") + std::strerror(errno));
    return false;
  }
  receiver_ = adopt(accepted, "loopback receiver connection", true, false);
  return true;
}

void native_run::start_client(connection& c) {
  if (opt_.sasl) {
    c.at = connection::stage::sasl_header;
    c.out.insert(c.out.end(), amqp::sasl_protocol_header.begin(), amqp::sasl_protocol_header.end());
  } else {
    write_client_amqp_start(c);
  }
}

// A client pipelines its header, open, begin and attach (and a receiver its credit).
void native_run::write_client_amqp_start(connection& c) {
  c.at = connection::stage::amqp_header;
  c.out.insert(c.out.end(), amqp::amqp_protocol_header.begin(), amqp::amqp_protocol_header.end());
  amqp::open o;
  o.container_id = c.sends ? "fogmesh-bench-sender" : "fogmesh-bench-receiver";
  o.hostname = c.sends ? send_host_ : host_;
  o.max_frame_size = kOurMaxFrame;
  o.channel_max = 0;
  amqp::append_frame(c.out, 0, o);
  amqp::begin b;
  b.incoming_window = kSessionWindow;
  b.outgoing_window = kSessionWindow;
  amqp::append_frame(c.out, 0, b);
  c.begin_sent = true;
  amqp::attach a;
  a.name = c.sends ? "bench-sender" : "bench-receiver";
  a.handle = 0;
  a.role = c.sends ? amqp::role::sender : amqp::role::receiver;
  a.snd_settle_mode =
      state_.presettled() ? amqp::sender_settle_mode::settled : amqp::sender_settle_mode::unsettled;
  a.rcv_settle_mode = amqp::receiver_settle_mode::first;
  a.source = amqp::terminus{};
  a.target = amqp::terminus{};
  if (c.sends) {
    a.target->address = opt_.address;
    a.initial_delivery_count = 0;
  } else {
    a.source->address = opt_.address;
    a.target->address = opt_.address;
  }
  amqp::append_frame(c.out, 0, a);
  c.attach_sent = true;
  if (!c.sends) {
    write_link_flow(c, false);
  }
}

void native_run::watch_output(connection& c, bool on) {
  if (c.watching_output == on || c.fd < 0) {
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
  ev.data.ptr = &c;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  c.watching_output = on;
}

void native_run::flush(connection& c) {
  if (c.fd < 0) {
    return;
  }
  if (c.peer_idle_timeout_ms != 0 && c.pending_output() == 0 &&
      now_ns() - c.last_write_ns > uint64_t{c.peer_idle_timeout_ms} * 1'000'000 / 2) {
    amqp::append_heartbeat(c.out);  // keep a peer with an idle-timeout from dropping us
  }
  while (c.pending_output() > 0) {
    const ssize_t n =
        ::send(c.fd, c.out.data() + c.out_off, c.pending_output(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c.out_off += static_cast<size_t>(n);
      c.last_write_ns = now_ns();
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    }
    fail(c, std::string("send failed: ") + std::strerror(errno));
    close_socket(c);
    return;
  }
  if (c.pending_output() == 0) {
    c.out.clear();
    c.out_off = 0;
  } else if (c.out_off > c.out.size() / 2) {
    c.out.erase(c.out.begin(), c.out.begin() + static_cast<std::ptrdiff_t>(c.out_off));
    c.out_off = 0;
  }
  watch_output(c, c.pending_output() > 0);
}

void native_run::on_readable(connection& c) {
  // Level-triggered: one read per wake-up unless it filled the buffer, so a busy peer cannot
  // starve the others and an idle socket costs no extra EAGAIN read.
  for (int reads = 0; reads < 4 && c.fd >= 0; ++reads) {
    if (c.in.size() - c.in_len < kReadChunk / 2) {
      c.in.resize(c.in_len + kReadChunk);
    }
    const size_t room = c.in.size() - c.in_len;
    const ssize_t n = ::recv(c.fd, c.in.data() + c.in_len, room, MSG_DONTWAIT);
    if (n == 0) {
      if (!c.peer_closed) {
        fail(c, "the peer closed the socket without an AMQP close");
      }
      close_socket(c);
      return;
    }
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        fail(c, std::string("receive failed: ") + std::strerror(errno));
        close_socket(c);
      }
      return;
    }
    c.in_len += static_cast<size_t>(n);
    // Every message of one read arrived together: one clock read stamps them all.
    process_input(c, now_ns());
    if (static_cast<size_t>(n) < room) {
      return;
    }
  }
}

void native_run::process_input(connection& c, uint64_t arrival_ns) {
  size_t pos = 0;
  while (c.fd >= 0 && c.at != connection::stage::closed) {
    const amqp::bytes_view rest(c.in.data() + pos, c.in_len - pos);
    if (c.at == connection::stage::sasl_header || c.at == connection::stage::amqp_header) {
      if (rest.size() < amqp::amqp_protocol_header.size()) {
        break;
      }
      pos += amqp::amqp_protocol_header.size();
      if (!handle_protocol_header(c, rest.first(amqp::amqp_protocol_header.size()))) {
        return;
      }
      continue;
    }
    auto parsed = amqp::parse_frame(rest, kOurMaxFrame);
    if (!parsed) {
      fail(c, "framing error from the peer: " + parsed.error().message());
      close_socket(c);
      return;
    }
    if (!*parsed) {
      break;
    }
    const amqp::frame_view frame = **parsed;
    pos += frame.size;
    if (c.at == connection::stage::sasl) {
      handle_sasl(c, frame);
    } else {
      handle_frame(c, frame, arrival_ns);
    }
  }
  if (c.fd < 0) {
    return;
  }
  std::memmove(c.in.data(), c.in.data() + pos, c.in_len - pos);
  c.in_len -= pos;
}

bool native_run::handle_protocol_header(connection& c, amqp::bytes_view header) {
  const auto id = amqp::parse_protocol_header(header);
  const bool want_sasl = c.at == connection::stage::sasl_header;
  const auto expected = want_sasl ? amqp::protocol_id::sasl : amqp::protocol_id::amqp;
  if (!id || !*id || **id != expected) {
    fail(c, want_sasl ? "the peer did not answer with the SASL protocol header (does it offer "
                        "SASL? try --sasl none)"
                      : "the peer did not answer with the AMQP protocol header (does it require "
                        "SASL? try --sasl anonymous)");
    close_socket(c);
    return false;
  }
  if (want_sasl) {
    c.at = connection::stage::sasl;
    return true;
  }
  c.at = connection::stage::frames;
  if (c.accepted) {
    // Our own loopback peer: answer with header and open; begin/attach answer the client's.
    c.out.insert(c.out.end(), amqp::amqp_protocol_header.begin(), amqp::amqp_protocol_header.end());
    amqp::open o;
    o.container_id = "fogmesh-bench-receiver";
    o.max_frame_size = kOurMaxFrame;
    o.channel_max = 0;
    amqp::append_frame(c.out, 0, o);
  }
  return true;
}

void native_run::handle_sasl(connection& c, const amqp::frame_view& frame) {
  auto body = amqp::decode_sasl_body(frame);
  if (!body) {
    fail(c, "malformed SASL frame from the peer: " + body.error().message());
    close_socket(c);
    return;
  }
  if (const auto* mechs = std::get_if<amqp::sasl_mechanisms>(&*body)) {
    if (std::find(mechs->mechanisms.begin(), mechs->mechanisms.end(), "ANONYMOUS") ==
        mechs->mechanisms.end()) {
      fail(c, "the peer does not offer SASL ANONYMOUS");
      close_socket(c);
      return;
    }
    amqp::sasl_init init;
    init.mechanism = "ANONYMOUS";
    init.initial_response = amqp::byte_buffer{};
    init.hostname = c.sends ? send_host_ : host_;
    amqp::append_frame(c.out, 0, init, {}, amqp::frame_type_sasl);
  } else if (const auto* result = std::get_if<amqp::sasl_outcome>(&*body)) {
    if (result->code != amqp::sasl_outcome::code_t::ok) {
      fail(c, "SASL ANONYMOUS refused by the peer (outcome code " +
                  std::to_string(static_cast<int>(result->code)) + ")");
      close_socket(c);
      return;
    }
    write_client_amqp_start(c);
  }
  // sasl-challenge does not occur with ANONYMOUS; anything else waits for the outcome.
}

void native_run::handle_frame(connection& c, const amqp::frame_view& frame, uint64_t arrival_ns) {
  if (frame.body.empty()) {
    return;  // heartbeat
  }
  amqp::decoder in(frame.body);
  if (const auto e = amqp::detail::decode_performative_into(in, c.frame_body);
      e != amqp::codec_errc{}) {
    fail(c, "malformed frame from the peer: " + amqp::make_error_code(e).message());
    close_socket(c);
    return;
  }
  if (const auto* t = std::get_if<amqp::transfer>(&c.frame_body)) {
    on_transfer(c, *t, in.remaining(), arrival_ns);
  } else if (const auto* d = std::get_if<amqp::disposition>(&c.frame_body)) {
    on_disposition(c, *d);
  } else if (const auto* f = std::get_if<amqp::flow>(&c.frame_body)) {
    on_flow(c, *f);
  } else if (const auto* o = std::get_if<amqp::open>(&c.frame_body)) {
    on_open(c, *o);
  } else if (const auto* b = std::get_if<amqp::begin>(&c.frame_body)) {
    on_begin(c, *b);
  } else if (const auto* a = std::get_if<amqp::attach>(&c.frame_body)) {
    on_attach(c, *a);
  } else if (const auto* d = std::get_if<amqp::detach>(&c.frame_body)) {
    fail(c, "the peer detached the link: " + error_text(d->err));
  } else if (const auto* e = std::get_if<amqp::end>(&c.frame_body)) {
    fail(c, "the peer ended the session: " + error_text(e->err));
  } else if (const auto* cl = std::get_if<amqp::close>(&c.frame_body)) {
    c.peer_closed = true;
    if (!state_.finishing() || cl->err) {
      fail(c, "the peer closed the connection: " + error_text(cl->err));
    }
    if (!c.close_sent) {
      amqp::append_frame(c.out, 0, amqp::close{});
      c.close_sent = true;
    }
  }
}

void native_run::on_open(connection& c, const amqp::open& o) {
  c.peer_max_frame = std::max(o.max_frame_size, amqp::min_max_frame_size);
  c.peer_idle_timeout_ms = o.idle_timeout_ms.value_or(0);
}

void native_run::on_begin(connection& c, const amqp::begin& b) {
  c.remote_incoming_window = b.incoming_window;
  c.next_incoming_id = b.next_outgoing_id;
  if (!c.begin_sent) {
    amqp::begin reply;
    reply.remote_channel = 0;
    reply.incoming_window = kSessionWindow;
    reply.outgoing_window = kSessionWindow;
    amqp::append_frame(c.out, 0, reply);
    c.begin_sent = true;
  }
}

void native_run::on_attach(connection& c, const amqp::attach& a) {
  if (c.peer_attached) {
    fail(c, "the peer attached a second link (" + a.name + "); the tool uses one per connection");
    return;
  }
  c.peer_attached = true;
  if (c.accepted) {
    // Our loopback peer receives what the client sends: mirror its link as the receiver.
    if (a.role != amqp::role::sender) {
      fail(c, "the loopback client attached a receiving link; expected a sender");
      return;
    }
    amqp::attach reply;
    reply.name = a.name;
    reply.handle = 0;
    reply.role = amqp::role::receiver;
    reply.snd_settle_mode = a.snd_settle_mode;
    reply.rcv_settle_mode = amqp::receiver_settle_mode::first;
    reply.source = a.source;
    reply.target = a.target;
    amqp::append_frame(c.out, 0, reply);
    c.attach_sent = true;
    c.rcv_delivery_count = a.initial_delivery_count.value_or(0);
    write_link_flow(c, false);
    return;
  }
  // The peer's answer to our attach. A refusal comes as an attach without the terminus we
  // asked for, followed by a detach that carries the reason.
  if ((c.sends && !a.target) || (!c.sends && !a.source)) {
    return;
  }
  if (c.sends) {
    state_.start_sending(now_ns());
  } else {
    c.rcv_delivery_count = a.initial_delivery_count.value_or(0);
    if (!opt_.direct && sender_ == nullptr) {
      // Attach the sender only once the receiver is attached, so a router has a destination
      // for the address and does not release or hold the first messages.
      sender_ = connect_to(send_host_, send_port_, true, "sender");
      if (sender_ == nullptr) {
        finish();
      }
    }
  }
}

void native_run::on_flow(connection& c, const amqp::flow& f) {
  // The peer's incoming window as of its flow, less what we sent since (part 2 §2.5.6).
  c.remote_incoming_window =
      f.next_incoming_id.value_or(0) + f.incoming_window - c.next_outgoing_id;
  if (!f.handle || !c.sends) {
    if (f.echo) {
      write_link_flow(c, false);
    }
    return;
  }
  // Credit = the receiver's delivery-count + link-credit - ours (part 2 §2.6.7).
  c.credit = f.delivery_count.value_or(0) + f.link_credit.value_or(0) - c.delivery_count;
  if (f.drain || f.echo) {
    pump_sender();
    if (f.drain && c.credit > 0) {
      // Nothing more to send now: use the credit up, as drain asks.
      c.delivery_count += c.credit;
      c.credit = 0;
    }
    write_link_flow(c, f.drain);
  }
}

void native_run::on_transfer(connection& c, const amqp::transfer& t, amqp::bytes_view payload,
                             uint64_t arrival_ns) {
  if (c.sends) {
    fail(c, "the peer sent a transfer on the sending link");
    return;
  }
  ++c.next_incoming_id;
  if (!c.in_delivery) {
    if (!t.delivery_id) {
      fail(c, "the first transfer of a delivery has no delivery-id");
      return;
    }
    c.in_delivery = true;
    c.delivery_id = *t.delivery_id;
    c.delivery_settled = t.settled.value_or(false);
    c.delivery_bytes = 0;
    c.delivery_prefix.clear();
  }
  c.delivery_bytes += payload.size();
  if (c.delivery_prefix.size() < kDeliveryPrefix) {
    const size_t keep = std::min(payload.size(), kDeliveryPrefix - c.delivery_prefix.size());
    // memcpy, not insert(): uint8_t -> char iterators compile to a byte-by-byte loop.
    const size_t had = c.delivery_prefix.size();
    c.delivery_prefix.resize(had + keep);
    std::memcpy(c.delivery_prefix.data() + had, payload.data(), keep);
  }
  if (t.more && !t.aborted) {
    return;
  }
  c.in_delivery = false;
  ++c.rcv_delivery_count;
  c.flow_due = true;
  if (t.aborted) {
    state_.on_aborted(arrival_ns);
    return;  // an aborted delivery is settled by the abort itself
  }
  size_t body_len = 0;
  const char* body = find_data_body(c.delivery_prefix.data(), c.delivery_prefix.size(), &body_len);
  state_.on_message(body, body_len, c.delivery_bytes, arrival_ns);
  if (c.delivery_settled) {
    return;
  }
  // Accept in ranges: consecutive ids share one disposition frame.
  if (c.range_open && c.delivery_id == c.range_last + 1) {
    c.range_last = c.delivery_id;
    return;
  }
  flush_receiver(c);
  c.range_open = true;
  c.range_first = c.range_last = c.delivery_id;
}

void native_run::on_disposition(connection& c, const amqp::disposition& d) {
  if (d.role != amqp::role::receiver || !c.sends) {
    return;  // the peer settling its own transfers: the tool settles first, nothing to do
  }
  std::optional<outcome> result;
  switch (d.state.type) {
    case amqp::delivery_state::kind::accepted:
      result = outcome::accepted;
      break;
    case amqp::delivery_state::kind::released:
      result = outcome::released;
      break;
    case amqp::delivery_state::kind::rejected:
      result = outcome::rejected;
      break;
    case amqp::delivery_state::kind::modified:
      result = outcome::modified;
      break;
    case amqp::delivery_state::kind::received:
    case amqp::delivery_state::kind::none:
      break;
  }
  if (!result && !d.settled) {
    return;  // a non-terminal state: the outcome follows
  }
  bool settle_back = false;
  const uint32_t last = d.last.value_or(d.first);
  for (uint32_t id = d.first;; ++id) {
    const uint32_t index = id - c.unsettled_base;
    if (index < c.unsettled.size() && c.unsettled[index] != kSettledMark) {
      if (result) {
        state_.on_outcome(c.unsettled[index], *result);
      }
      c.unsettled[index] = kSettledMark;
      settle_back = settle_back || !d.settled;
    }
    if (id == last) {
      break;
    }
  }
  while (!c.unsettled.empty() && c.unsettled.front() == kSettledMark) {
    c.unsettled.pop_front();
    ++c.unsettled_base;
  }
  if (settle_back) {
    // A peer in receiver-settle-mode second waits for us to settle what it decided.
    amqp::disposition ours;
    ours.role = amqp::role::sender;
    ours.first = d.first;
    ours.last = last;
    ours.settled = true;
    amqp::append_frame(c.out, 0, ours);
  }
}

void native_run::write_link_flow(connection& c, bool drain) {
  amqp::flow f;
  f.next_incoming_id = c.next_incoming_id;
  f.incoming_window = kSessionWindow;
  f.next_outgoing_id = c.next_outgoing_id;
  f.outgoing_window = kSessionWindow;
  f.handle = 0;
  if (c.sends) {
    f.delivery_count = c.delivery_count;
    f.link_credit = c.credit;
    f.drain = drain;
  } else {
    // One flow per socket read restores the full window (as the Proton engine does per batch).
    f.delivery_count = c.rcv_delivery_count;
    f.link_credit = static_cast<uint32_t>(opt_.credit);
  }
  amqp::append_frame(c.out, 0, f);
}

void native_run::flush_receiver(connection& c) {
  if (c.range_open) {
    amqp::disposition d;
    d.role = amqp::role::receiver;
    d.first = c.range_first;
    if (c.range_last != c.range_first) {
      d.last = c.range_last;
    }
    d.settled = true;
    d.state.type = amqp::delivery_state::kind::accepted;
    amqp::append_frame(c.out, 0, d);
    c.range_open = false;
  }
  if (c.flow_due && !state_.finishing()) {
    write_link_flow(c, false);
  }
  c.flow_due = false;
}

// Sends while there is credit, session window, room in the output buffer and the count,
// duration or rate budget allows.
void native_run::pump_sender() {
  connection* c = sender_;
  if (c == nullptr || c->fd < 0 || !c->peer_attached || !state_.sending()) {
    return;
  }
  uint64_t now = now_ns();
  uint64_t budget = state_.rate_budget(now);
  const size_t frames_per_message =
      message_.size() / (c->peer_max_frame > 256 ? c->peer_max_frame - 256 : 1) + 1;
  while (c->credit > 0 && budget > 0 && c->remote_incoming_window >= frames_per_message &&
         c->pending_output() < kOutputHighWater) {
    const std::optional<uint64_t> seq = state_.next_seq(now);
    if (!seq) {
      return;
    }
    message_.stamp(now, *seq);
    write_transfer(*c, *seq);
    --budget;
    now = now_ns();
  }
  state_.after_sends(now);
}

void native_run::write_transfer(connection& c, uint64_t seq) {
  const bool settled = state_.presettled();
  // The tag carries the sequence (as the Proton engine's does).
  const amqp::bytes_view tag(reinterpret_cast<const uint8_t*>(&seq), sizeof seq);
  const amqp::bytes_view message(reinterpret_cast<const uint8_t*>(message_.data()),
                                 message_.size());
  amqp::transfer t;
  t.handle = 0;
  t.delivery_id = c.next_delivery_id;
  t.delivery_tag = tag;
  t.message_format = 0;
  if (settled) {
    t.settled = true;
  }
  size_t sent = 0;
  do {
    const size_t start = c.out.size();
    c.out.resize(start + amqp::frame_header_size);
    amqp::encoder enc(c.out);
    t.more = false;
    amqp::encode(enc, t);
    size_t room = c.peer_max_frame - (c.out.size() - start);
    if (message.size() - sent > room) {
      // Does not fit: this frame carries what fits and says more follows.
      c.out.resize(start + amqp::frame_header_size);
      t.more = true;
      amqp::encode(enc, t);
      room = c.peer_max_frame - (c.out.size() - start);
    }
    const size_t n = std::min(room, message.size() - sent);
    c.out.insert(c.out.end(), message.begin() + static_cast<std::ptrdiff_t>(sent),
                 message.begin() + static_cast<std::ptrdiff_t>(sent + n));
    amqp::write_frame_header(c.out.data() + start, static_cast<uint32_t>(c.out.size() - start),
                             amqp::frame_type_amqp, 0);
    sent += n;
    ++c.next_outgoing_id;
    --c.remote_incoming_window;
    // Continuation frames carry only the handle (and more).
    t.delivery_id.reset();
    t.delivery_tag.reset();
    t.message_format.reset();
    t.settled.reset();
  } while (sent < message.size());
  ++c.next_delivery_id;
  ++c.delivery_count;
  --c.credit;
  if (!settled) {
    c.unsettled.push_back(seq);
  }
}

void native_run::fail(connection& c, const std::string& what) {
  if (!state_.finishing()) {
    state_.fail(c.label + ": " + what);
    finish();
  }
}

void native_run::finish() {
  if (state_.finishing()) {
    return;
  }
  state_.finish(now_ns());
  finish_deadline_ns_ = now_ns() + 2 * kNsPerSec;
  // Close gracefully so a router sees the links go; the deadline bounds the wait.
  for (auto& c : connections_) {
    if (c->fd >= 0 && !c->close_sent && c->at == connection::stage::frames) {
      amqp::append_frame(c->out, 0, amqp::close{});
      c->close_sent = true;
    } else if (c->fd >= 0 && c->at != connection::stage::frames) {
      close_socket(*c);
    }
  }
}

void native_run::close_socket(connection& c) {
  if (c.fd >= 0) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
  }
  c.at = connection::stage::closed;
}

bool native_run::all_closed() const {
  return std::all_of(connections_.begin(), connections_.end(), [](const auto& c) {
    return c->fd < 0 || (c->peer_closed && c->close_sent && c->pending_output() == 0);
  });
}

int native_run::run() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    std::fprintf(stderr, "fogmesh-bench: epoll_create1: %s\n", std::strerror(errno));
    return 1;
  }
  if (opt_.direct) {
    open_direct_pair();
  } else {
    host_ = opt_.host;
    port_ = opt_.port;
    send_host_ = opt_.send_host;
    send_port_ = opt_.send_port;
    receiver_ = connect_to(host_, port_, false, "receiver");
  }
  if (!state_.error().empty()) {
    finish();
  }
  state_.progress(now_ns());
  uint64_t next_tick_ns = 0;
  std::array<epoll_event, 8> events{};
  while (true) {
    // --rate paces in 1 ms steps; otherwise waking is for stall checks and duration ends only.
    const int timeout_ms = opt_.rate > 0 && state_.sending() ? 1 : 50;
    const int n =
        ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0 && errno != EINTR) {
      state_.fail(std::string("epoll_wait: ") + std::strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      auto& c = *static_cast<connection*>(events[static_cast<size_t>(i)].data.ptr);
      if (c.fd >= 0 && (events[static_cast<size_t>(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        on_readable(c);
      }
    }
    pump_sender();
    for (auto& c : connections_) {
      if (!c->sends) {
        flush_receiver(*c);
      }
      flush(*c);
    }
    const uint64_t now = now_ns();
    if (state_.finishing()) {
      if (all_closed() || now >= finish_deadline_ns_) {
        break;  // a peer that does not complete the close handshake does not hold results up
      }
      continue;
    }
    if (state_.complete()) {
      finish();
    } else if (now >= next_tick_ns) {
      next_tick_ns = now + 50'000'000;
      if (state_.tick(now)) {
        finish();
      }
    }
  }
  return state_.report("native");
}

}  // namespace

int run_native_load(const options& opt) {
  native_run run(opt);
  return run.run();
}

}  // namespace fogmesh::bench
