// fogmesh-bench's Proton engine: one thread drives both the sending and the receiving
// connection through one Proton C proactor, so one-way latency is measured with a single
// CLOCK_MONOTONIC and the tool costs at most one core. Kept beside the native engine because a
// real Proton client is what users' microservices are, and it checks the router against it.
// Also hosts the --idle-connections mode.
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/listener.h>
#include <proton/netaddr.h>
#include <proton/proactor.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <proton/transport.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_support.hpp"

namespace fogmesh::bench {
namespace {

std::string condition_text(pn_condition_t* c) {
  if (c == nullptr || !pn_condition_is_set(c)) {
    return "";
  }
  std::string s = pn_condition_get_name(c) ? pn_condition_get_name(c) : "error";
  if (const char* d = pn_condition_get_description(c); d != nullptr && *d != '\0') {
    s += ": ";
    s += d;
  }
  return s;
}

pn_transport_t* client_transport(const options& opt) {
  pn_transport_t* t = pn_transport();
  if (opt.sasl) {
    pn_sasl_allowed_mechs(pn_sasl(t), "ANONYMOUS");
  }
  return t;
}

class load_run {
 public:
  explicit load_run(const options& opt) : opt_(opt), state_(opt), message_(opt.size) {}
  ~load_run() {
    if (proactor_ != nullptr) {
      pn_proactor_free(proactor_);
    }
  }
  load_run(const load_run&) = delete;
  load_run& operator=(const load_run&) = delete;

  int run();

 private:
  void handle(pn_event_t* e);
  void on_link_remote_open(pn_link_t* l);
  void on_sender_delivery(pn_delivery_t* d);
  void on_receiver_delivery(pn_delivery_t* d);
  void start_sending();
  void pump_sender();
  void after_batch();
  void on_tick();
  void fail(const std::string& what);
  void finish();
  void connect_receiver();
  void connect_sender();
  void schedule_tick();

  options opt_;
  load_state state_;
  message_template message_;
  pn_proactor_t* proactor_ = nullptr;
  pn_listener_t* listener_ = nullptr;
  std::string host_, port_;
  std::string send_host_, send_port_;
  pn_connection_t* sender_conn_ = nullptr;
  pn_connection_t* receiver_conn_ = nullptr;
  pn_link_t* sender_ = nullptr;
  pn_link_t* receiver_ = nullptr;
  int open_transports_ = 0;
  bool quit_ = false;
  bool receiver_touched_ = false;  // receiver batch needs a credit top-up
  uint64_t batch_now_ns_ = 0;      // receive time of the current batch, 0 = not read yet
  uint64_t finish_deadline_ns_ = 0;
  std::vector<char> recv_buf_ = std::vector<char>(512);
};

void load_run::fail(const std::string& what) {
  state_.fail(what);
  finish();
}

void load_run::finish() {
  if (state_.finishing()) {
    return;
  }
  state_.finish(now_ns());
  finish_deadline_ns_ = now_ns() + 2 * kNsPerSec;
  // Close gracefully so a router sees clean detaches; a timer bounds the wait.
  for (pn_connection_t* c : {sender_conn_, receiver_conn_}) {
    if (c != nullptr && !(pn_connection_state(c) & PN_LOCAL_CLOSED)) {
      pn_connection_close(c);
      pn_connection_wake(c);
    }
  }
  if (listener_ != nullptr) {
    pn_listener_close(listener_);
  }
  schedule_tick();
}

void load_run::schedule_tick() {
  // Rate mode needs ms pacing; otherwise the tick only detects stalls and the end of a
  // duration run, so 50 ms is plenty and costs nothing measurable.
  pn_proactor_set_timeout(proactor_, opt_.rate > 0 && !state_.finishing() ? 1 : 50);
}

void load_run::connect_receiver() {
  receiver_conn_ = pn_connection();
  pn_connection_set_container(receiver_conn_, "fogmesh-bench-receiver");
  pn_connection_set_hostname(receiver_conn_, host_.c_str());
  pn_connection_open(receiver_conn_);
  pn_session_t* s = pn_session(receiver_conn_);
  pn_session_open(s);
  receiver_ = pn_receiver(s, "bench-receiver");
  pn_terminus_set_address(pn_link_source(receiver_), opt_.address.c_str());
  pn_terminus_set_address(pn_link_target(receiver_), opt_.address.c_str());
  pn_link_set_rcv_settle_mode(receiver_, PN_RCV_FIRST);
  pn_link_set_snd_settle_mode(
      receiver_, opt_.settle == settle_mode::presettled ? PN_SND_SETTLED : PN_SND_UNSETTLED);
  pn_link_open(receiver_);
  pn_link_flow(receiver_, opt_.credit);
  char addr[PN_MAX_ADDR];
  pn_proactor_addr(addr, sizeof addr, host_.c_str(), port_.c_str());
  pn_proactor_connect2(proactor_, receiver_conn_, client_transport(opt_), addr);
  ++open_transports_;
}

void load_run::connect_sender() {
  sender_conn_ = pn_connection();
  pn_connection_set_container(sender_conn_, "fogmesh-bench-sender");
  pn_connection_set_hostname(sender_conn_, send_host_.c_str());
  pn_connection_open(sender_conn_);
  pn_session_t* s = pn_session(sender_conn_);
  pn_session_open(s);
  sender_ = pn_sender(s, "bench-sender");
  pn_terminus_set_address(pn_link_target(sender_), opt_.address.c_str());
  pn_link_set_snd_settle_mode(
      sender_, opt_.settle == settle_mode::presettled ? PN_SND_SETTLED : PN_SND_UNSETTLED);
  pn_link_open(sender_);
  char addr[PN_MAX_ADDR];
  pn_proactor_addr(addr, sizeof addr, send_host_.c_str(), send_port_.c_str());
  pn_proactor_connect2(proactor_, sender_conn_,
                       opt_.direct ? pn_transport() : client_transport(opt_), addr);
  ++open_transports_;
}

void load_run::start_sending() {
  if (state_.current() != load_state::phase::connecting) {
    return;
  }
  state_.start_sending(now_ns());
  pump_sender();
}

// Sends while there is credit and the count/duration/rate budget allows. Runs inside the
// sender connection's batch (directly, or via pn_connection_wake from the timer).
void load_run::pump_sender() {
  if (sender_ == nullptr || !state_.sending()) {
    return;
  }
  int credit = pn_link_credit(sender_);
  const bool presettled = state_.presettled();
  uint64_t now = now_ns();
  uint64_t budget = state_.rate_budget(now);
  while (credit > 0 && budget > 0) {
    const std::optional<uint64_t> seq = state_.next_seq(now);
    if (!seq) {
      return;
    }
    // The tag carries the sequence so dispositions of warm-up messages can be told apart.
    pn_delivery_t* d = pn_delivery(sender_, pn_dtag(reinterpret_cast<const char*>(&*seq), 8));
    message_.stamp(now, *seq);
    pn_link_send(sender_, message_.data(), message_.size());
    pn_link_advance(sender_);
    if (presettled) {
      pn_delivery_settle(d);
    }
    --credit;
    --budget;
    now = now_ns();
  }
  state_.after_sends(now);
}

void load_run::on_sender_delivery(pn_delivery_t* d) {
  if (!pn_delivery_updated(d) && !pn_delivery_settled(d)) {
    return;
  }
  const pn_delivery_tag_t tag = pn_delivery_tag(d);
  const uint64_t seq = tag.size == 8 ? get_u64(tag.start) : kWarmupFlag;
  switch (pn_delivery_remote_state(d)) {
    case PN_ACCEPTED:
      state_.on_outcome(seq, outcome::accepted);
      break;
    case PN_RELEASED:
      state_.on_outcome(seq, outcome::released);
      break;
    case PN_REJECTED:
      state_.on_outcome(seq, outcome::rejected);
      break;
    case PN_MODIFIED:
      state_.on_outcome(seq, outcome::modified);
      break;
    default:
      if (!pn_delivery_settled(d)) {
        return;  // non-terminal state (e.g. received): wait for the outcome
      }
      break;
  }
  pn_delivery_settle(d);
}

void load_run::on_receiver_delivery(pn_delivery_t* d) {
  if (pn_delivery_aborted(d)) {
    state_.on_aborted(now_ns());
    pn_delivery_settle(d);
    receiver_touched_ = true;
    return;
  }
  if (!pn_delivery_readable(d) || pn_delivery_partial(d)) {
    return;  // wait for the complete message (large bodies span several frames)
  }
  // One receive timestamp per event batch: every message in a batch arrived in the same
  // socket read, so the batch start is their arrival time (and it halves clock reads).
  if (batch_now_ns_ == 0) {
    batch_now_ns_ = now_ns();
  }
  const size_t pending = pn_delivery_pending(d);
  // Only the section headers and our 16 stamp bytes are needed; pn_link_advance (via settle)
  // drops the rest of the body without copying it.
  const size_t want = std::min(pending, recv_buf_.size());
  const ssize_t got = pn_link_recv(receiver_, recv_buf_.data(), want);
  size_t body_len = 0;
  const char* body =
      got > 0 ? find_data_body(recv_buf_.data(), static_cast<size_t>(got), &body_len) : nullptr;
  std::vector<char> whole;
  if (body == nullptr && got > 0 && pending > want) {
    // Rare: sections added by an intermediary pushed the body past the first bytes.
    whole.assign(recv_buf_.data(), recv_buf_.data() + got);
    whole.resize(pending);
    const ssize_t more = pn_link_recv(receiver_, whole.data() + got, pending - want);
    whole.resize(want + static_cast<size_t>(std::max<ssize_t>(more, 0)));
    body = find_data_body(whole.data(), whole.size(), &body_len);
  }
  state_.on_message(body, body_len, pending, batch_now_ns_);
  if (!pn_delivery_settled(d)) {
    pn_delivery_update(d, PN_ACCEPTED);
  }
  pn_delivery_settle(d);  // also advances the link past this delivery
  receiver_touched_ = true;
}

void load_run::on_link_remote_open(pn_link_t* l) {
  if (pn_link_state(l) & PN_LOCAL_UNINIT) {
    // Direct mode: the accepted side answers the tool's own sender with a receiver.
    if (pn_link_is_receiver(l) && receiver_ == nullptr) {
      receiver_ = l;
      pn_terminus_copy(pn_link_target(l), pn_link_remote_target(l));
      pn_terminus_copy(pn_link_source(l), pn_link_remote_source(l));
      pn_link_set_rcv_settle_mode(l, PN_RCV_FIRST);
      pn_link_open(l);
      pn_link_flow(l, opt_.credit);
    } else {
      pn_condition_set_name(pn_link_condition(l), "amqp:not-allowed");
      pn_link_close(l);
    }
    return;
  }
  if (l == receiver_ && !opt_.direct && sender_conn_ == nullptr) {
    // Attach the sender only once the receiver is attached, so a router has a destination
    // for the address and does not release or hold the first messages.
    connect_sender();
  } else if (l == sender_) {
    start_sending();
  }
}

void load_run::handle(pn_event_t* e) {
  switch (pn_event_type(e)) {
    case PN_LISTENER_OPEN: {
      char host[256], port[32];
      pn_netaddr_host_port(pn_listener_addr(pn_event_listener(e)), host, sizeof host, port,
                           sizeof port);
      port_ = port;
      send_host_ = host_;
      send_port_ = port_;
      connect_sender();
      break;
    }
    case PN_LISTENER_ACCEPT: {
      if (receiver_conn_ != nullptr) {
        // One peer only: anything else connecting to our ephemeral port is refused.
        pn_listener_accept2(pn_event_listener(e), nullptr, nullptr);
        break;
      }
      receiver_conn_ = pn_connection();
      pn_connection_set_container(receiver_conn_, "fogmesh-bench-receiver");
      pn_listener_accept2(pn_event_listener(e), receiver_conn_, nullptr);
      ++open_transports_;
      break;
    }
    case PN_LISTENER_CLOSE: {
      if (auto msg = condition_text(pn_listener_condition(pn_event_listener(e))); !msg.empty()) {
        fail("listener on " + host_ + ": " + msg);
      }
      listener_ = nullptr;
      break;
    }
    case PN_CONNECTION_REMOTE_OPEN: {
      pn_connection_t* c = pn_event_connection(e);
      if (pn_connection_state(c) & PN_LOCAL_UNINIT) {
        pn_connection_open(c);
      }
      break;
    }
    case PN_SESSION_REMOTE_OPEN: {
      pn_session_t* s = pn_event_session(e);
      if (pn_session_state(s) & PN_LOCAL_UNINIT) {
        pn_session_open(s);
      }
      break;
    }
    case PN_LINK_REMOTE_OPEN:
      on_link_remote_open(pn_event_link(e));
      break;
    case PN_LINK_FLOW:
      if (pn_event_link(e) == sender_ && opt_.rate == 0) {
        pump_sender();
      }
      break;
    case PN_CONNECTION_WAKE:
      if (pn_event_connection(e) == sender_conn_) {
        pump_sender();
      }
      break;
    case PN_DELIVERY: {
      pn_delivery_t* d = pn_event_delivery(e);
      if (pn_delivery_link(d) == receiver_) {
        on_receiver_delivery(d);
      } else if (pn_delivery_link(d) == sender_) {
        on_sender_delivery(d);
      }
      break;
    }
    case PN_LINK_REMOTE_CLOSE:
    case PN_LINK_REMOTE_DETACH: {
      pn_link_t* l = pn_event_link(e);
      if (!state_.finishing()) {
        std::string msg = condition_text(pn_link_remote_condition(l));
        fail(std::string("peer closed link ") + pn_link_name(l) +
             (msg.empty() ? " unexpectedly" : ": " + msg));
      }
      pn_link_close(l);
      break;
    }
    case PN_SESSION_REMOTE_CLOSE: {
      pn_session_t* s = pn_event_session(e);
      if (!state_.finishing()) {
        std::string msg = condition_text(pn_session_remote_condition(s));
        fail("peer closed session" + (msg.empty() ? " unexpectedly" : ": " + msg));
      }
      pn_session_close(s);
      break;
    }
    case PN_CONNECTION_REMOTE_CLOSE: {
      pn_connection_t* c = pn_event_connection(e);
      if (!state_.finishing()) {
        std::string msg = condition_text(pn_connection_remote_condition(c));
        fail("peer closed connection" + (msg.empty() ? " unexpectedly" : ": " + msg));
      }
      pn_connection_close(c);
      break;
    }
    case PN_TRANSPORT_CLOSED: {
      pn_transport_t* t = pn_event_transport(e);
      if (!state_.finishing()) {
        std::string msg = condition_text(pn_transport_condition(t));
        const char* who = opt_.direct ? "loopback peer " : "router at ";
        fail(std::string("connection to ") + who + host_ + ":" + port_ +
             " failed: " + (msg.empty() ? "closed" : msg));
      }
      --open_transports_;
      break;
    }
    case PN_PROACTOR_TIMEOUT:
      on_tick();
      break;
    case PN_PROACTOR_INACTIVE:
      quit_ = true;
      break;
    default:
      break;
  }
}

void load_run::on_tick() {
  const uint64_t now = now_ns();
  if (state_.finishing()) {
    if (now >= finish_deadline_ns_) {
      quit_ = true;  // the peer did not complete the close handshake; results are final
    } else {
      schedule_tick();
    }
    return;
  }
  if (state_.sending() && sender_conn_ != nullptr) {
    pn_connection_wake(sender_conn_);  // pacing and duration end run in the sender's batch
  }
  if (state_.tick(now)) {
    finish();
    return;
  }
  schedule_tick();
}

void load_run::after_batch() {
  if (receiver_touched_ && receiver_ != nullptr) {
    // One flow frame per batch, not per message, restores the full window.
    const int deficit = opt_.credit - pn_link_credit(receiver_);
    if (deficit > 0 && !state_.finishing()) {
      pn_link_flow(receiver_, deficit);
    }
    receiver_touched_ = false;
  }
  batch_now_ns_ = 0;
  if (state_.complete()) {
    finish();
  }
}

int load_run::run() {
  proactor_ = pn_proactor();
  if (opt_.direct) {
    host_ = "127.0.0.1";
    listener_ = pn_listener();
    pn_proactor_listen(proactor_, listener_, "127.0.0.1:0", 16);
  } else {
    host_ = opt_.host;
    port_ = opt_.port;
    send_host_ = opt_.send_host;
    send_port_ = opt_.send_port;
    connect_receiver();
  }
  state_.progress(now_ns());
  schedule_tick();
  while (!quit_) {
    pn_event_batch_t* batch = pn_proactor_wait(proactor_);
    while (pn_event_t* e = pn_event_batch_next(batch)) {
      handle(e);
    }
    after_batch();
    pn_proactor_done(proactor_, batch);
    if (state_.finishing() && open_transports_ <= 0 && listener_ == nullptr) {
      quit_ = true;
    }
  }
  return state_.report("proton");
}

}  // namespace

int run_proton_load(const options& opt) {
  load_run run(opt);
  return run.run();
}

// Opens N connections, holds them for --hold seconds; used to measure per-connection router
// memory. Connects at most kInFlight at a time so the router's accept backlog never overflows.
int run_idle_connections(const options& opt) {
  const std::string& host = opt.host;
  const std::string& port = opt.port;
  // Each connection is one fd: raise the soft limit to the hard limit.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  constexpr int kInFlight = 200;
  pn_proactor_t* p = pn_proactor();
  char addr[PN_MAX_ADDR];
  pn_proactor_addr(addr, sizeof addr, host.c_str(), port.c_str());
  int started = 0, opened = 0, failed = 0, dropped = 0;
  static int opened_marker = 0;  // connection context: non-null once the peer's open arrived
  std::string first_error;
  auto start_more = [&] {
    while (started < opt.idle_connections && started - opened - failed < kInFlight) {
      pn_connection_t* c = pn_connection();
      pn_connection_set_container(c, ("fogmesh-bench-idle-" + std::to_string(started)).c_str());
      pn_connection_set_hostname(c, host.c_str());
      pn_connection_open(c);
      pn_proactor_connect2(p, c, client_transport(opt), addr);
      ++started;
    }
  };
  const uint64_t t0 = now_ns();
  start_more();
  bool holding = false, quit = false, released = false;
  uint64_t opened_ns = 0;
  while (!quit) {
    pn_event_batch_t* batch = pn_proactor_wait(p);
    while (pn_event_t* e = pn_event_batch_next(batch)) {
      switch (pn_event_type(e)) {
        case PN_CONNECTION_REMOTE_OPEN:
          ++opened;
          pn_connection_set_context(pn_event_connection(e), &opened_marker);
          break;
        case PN_CONNECTION_REMOTE_CLOSE:
          pn_connection_close(pn_event_connection(e));
          break;
        case PN_TRANSPORT_CLOSED: {
          pn_connection_t* c = pn_event_connection(e);
          if (!released) {
            // Opened then closed before the hold ended: the router dropped an idle connection.
            if (c != nullptr && pn_connection_get_context(c) != nullptr) {
              ++dropped;
            } else {
              ++failed;
            }
            if (first_error.empty()) {
              first_error = condition_text(pn_transport_condition(pn_event_transport(e)));
              if (first_error.empty() && c != nullptr) {
                first_error = condition_text(pn_connection_remote_condition(c));
              }
            }
          }
          break;
        }
        case PN_PROACTOR_TIMEOUT:
          released = true;
          pn_proactor_disconnect(p, nullptr);
          break;
        case PN_PROACTOR_INACTIVE:
          quit = true;
          break;
        default:
          break;
      }
    }
    pn_proactor_done(p, batch);
    if (!holding && !released) {
      start_more();
      if (opened + failed >= opt.idle_connections) {
        holding = true;
        opened_ns = now_ns();
        std::printf(
            "{\"event\":\"idle_ready\",\"requested\":%d,\"opened\":%d,\"failed\":%d,"
            "\"connect_s\":%.3f}\n",
            opt.idle_connections, opened, failed, static_cast<double>(opened_ns - t0) / 1e9);
        std::fflush(stdout);
        pn_proactor_set_timeout(p, static_cast<pn_millis_t>(opt.hold_s * 1000));
      }
    }
  }
  pn_proactor_free(p);
  std::printf(
      "{\"event\":\"idle_done\",\"requested\":%d,\"opened\":%d,\"failed\":%d,"
      "\"dropped_while_held\":%d,\"held_s\":%.3f,\"error\":\"%s\"}\n",
      opt.idle_connections, opened, failed, dropped,
      opened_ns ? static_cast<double>(now_ns() - opened_ns) / 1e9 : 0.0, first_error.c_str());
  if (failed > 0 || opened < opt.idle_connections || dropped > 0) {
    std::fprintf(stderr,
                 "fogmesh-bench: %d of %d idle connections opened, %d dropped while held%s%s\n",
                 opened, opt.idle_connections, dropped, first_error.empty() ? "" : ": ",
                 first_error.c_str());
    return 1;
  }
  return 0;
}

}  // namespace fogmesh::bench
