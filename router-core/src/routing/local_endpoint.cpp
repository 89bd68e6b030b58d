#include "routing/local_endpoint.hpp"

#include <algorithm>

#include "fogmesh/common/log.hpp"
#include "routing/router_core.hpp"

namespace fogmesh::router {

namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("router.local");
  return l;
}

}  // namespace

local_endpoint::local_endpoint(router_core& core, std::string name,
                               std::function<void(local_endpoint&)> schedule)
    : core_(core), name_(std::move(name)), schedule_owner_(std::move(schedule)) {
  settings_.listener_name = name_;
  // Router code sets its own annotations deliberately; nothing to strip.
  settings_.strip = strip_annotations::no;
}

local_endpoint::~local_endpoint() {
  while (!entries_.empty()) close(*entries_.back()->lnk);
}

local_endpoint::entry& local_endpoint::entry_of(const link& l) const {
  return *static_cast<entry*>(l.endpoint_data);
}

link* local_endpoint::open(link_kind kind, const std::string& address, handler& h,
                           bool dynamic, amqp::error* err) {
  auto e = std::make_unique<entry>();
  e->sess = std::make_unique<session>();
  e->sess->remote_incoming_window = 0x7fffffff;  // we never run out of room for transfers
  e->sess->endpoint_data = e.get();
  e->lnk = std::make_unique<link>();
  e->h = &h;
  link& l = *e->lnk;
  l.owner = this;
  l.sess = e->sess.get();
  l.endpoint_data = e.get();
  l.kind = kind;
  l.address = address;
  l.dynamic = dynamic;
  l.id = next_link_id_++;
  l.name = name_ + "-" + std::to_string(next_name_++);
  e->index = entries_.size();
  entries_.push_back(std::move(e));

  auto decision = core_.link_attached(l);
  if (!decision.accepted) {
    if (err != nullptr) *err = decision.error;
    close(l);
    return nullptr;
  }
  if (dynamic) l.address = decision.address;
  if (kind == link_kind::incoming) core_.grant_credit(l, true);
  return &l;
}

link* local_endpoint::open_sender(const std::string& address, handler& h, amqp::error* err) {
  return open(link_kind::incoming, address, h, false, err);
}

link* local_endpoint::open_receiver(const std::string& address, handler& h,
                                    std::uint32_t credit, bool dynamic, amqp::error* err) {
  link* l = open(link_kind::outgoing, address, h, dynamic, err);
  if (l != nullptr && credit > 0) set_credit(*l, credit);
  return l;
}

void local_endpoint::close(link& l) {
  entry& e = entry_of(l);
  if (e.closed) return;
  e.closed = true;
  // Deliveries this receiver still had unsettled are released or modified back to their
  // senders; what we only buffered goes with the entry.
  l.detach_sent = true;
  core_.link_detached(l);
  std::erase(scheduled_, &e);
  // Swap-remove from entries_; during flush() the entry itself lives on until the batch ends
  // (a handler may close a link whose event is later in the same batch).
  const std::size_t index = e.index;
  std::unique_ptr<entry> owned = std::move(entries_[index]);
  if (index + 1 != entries_.size()) {
    entries_[index] = std::move(entries_.back());
    entries_[index]->index = index;
  }
  entries_.pop_back();
  if (flushing_) graveyard_.push_back(std::move(owned));
}

// ---- receivers ---------------------------------------------------------------------------

ring_deque<local_endpoint::incoming_delivery>& local_endpoint::incoming(link& l) {
  return entry_of(l).in;
}

void local_endpoint::settle(link& l, std::uint32_t id, const amqp::delivery_state& state) {
  core_.disposition(*l.sess, amqp::role::receiver, id, true, state);
}

void local_endpoint::update(link& l, std::uint32_t id, const amqp::delivery_state& state) {
  core_.disposition(*l.sess, amqp::role::receiver, id, false, state);
}

void local_endpoint::set_credit(link& l, std::uint32_t credit) {
  l.credit = credit;
  core_.credit_updated(l);
}

std::size_t local_endpoint::unread(const entry& e) const {
  std::size_t n = 0;
  for (const auto& d : e.in) n += d.bytes.size();
  return n;
}

void local_endpoint::consumed(link& l) {
  entry& e = entry_of(l);
  e.buffered = unread(e);
  if (e.blocked && e.buffered < receive_buffer_limit) {
    e.blocked = false;
    core_.resume(l);
  }
}

local_endpoint::write_result local_endpoint::write_transfer(link& l, delivery& d,
                                                            amqp::bytes_view bytes, bool first,
                                                            bool more) {
  entry& e = entry_of(l);
  if (first) {
    incoming_delivery in;
    in.id = d.out_id;
    in.presettled = d.out_presettled;
    e.in.push_back(std::move(in));
  }
  incoming_delivery& in = e.in.back();
  const std::size_t room =
      e.buffered < receive_buffer_limit ? receive_buffer_limit - e.buffered : 0;
  const std::size_t take = std::min(room, bytes.size());
  in.bytes.insert(in.bytes.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
  e.buffered += take;
  write_result r;
  r.consumed = take;
  r.done = take == bytes.size();
  if (r.done && !more) in.complete = true;
  e.readable = true;
  schedule(e);
  return r;
}

void local_endpoint::write_abort(link& l) {
  entry& e = entry_of(l);
  if (!e.in.empty()) {
    e.in.back().aborted = true;
    e.in.back().complete = true;
  }
  e.readable = true;
  schedule(e);
}

void local_endpoint::mark_blocked(link& l) { entry_of(l).blocked = true; }

// ---- senders -----------------------------------------------------------------------------

bool local_endpoint::can_start(const link& l) const noexcept {
  return l.credit_outstanding > 0 && l.current == nullptr && window_open(l) &&
         !entry_of(l).detached;
}

bool local_endpoint::window_open(const link& l) const noexcept {
  return l.sess->pending_bytes < send_window;
}

std::uint32_t local_endpoint::send(link& l, amqp::bytes_view bytes, bool first, bool more,
                                   bool settled) {
  session& s = *l.sess;
  amqp::transfer t;
  t.handle = l.handle;
  t.more = more;
  if (first) {
    t.delivery_id = s.next_incoming_id;
    t.settled = settled;
    t.message_format = 0;
  }
  const std::uint32_t id = first ? s.next_incoming_id : (l.current ? l.current->in_id : 0);
  if (first) ++s.next_incoming_id;
  core_.transfer(l, t, bytes);
  return id;
}

void local_endpoint::abort(link& l) {
  if (l.current == nullptr) return;
  amqp::transfer t;
  t.handle = l.handle;
  t.aborted = true;
  core_.transfer(l, t, {});
}

void local_endpoint::write_flow(link& l, bool) {
  if (l.kind != link_kind::incoming) return;  // a receiver's drain answer: nothing to do
  entry& e = entry_of(l);
  e.sendable = true;
  schedule(e);
}

void local_endpoint::window_may_open(session& s) {
  entry& e = *static_cast<entry*>(s.endpoint_data);
  if (!window_open(*e.lnk)) return;
  e.sendable = true;
  schedule(e);
}

void local_endpoint::queue_disposition(session& s, amqp::role role, std::uint32_t id,
                                       bool settled, const amqp::delivery_state& state) {
  // role::sender: the sender of a delivery we receive settled it; we still settle our side.
  if (role != amqp::role::receiver) return;
  entry& e = *static_cast<entry*>(s.endpoint_data);
  amqp::delivery_state copy = state;
  copy.message_annotations = {};  // a view into a frame that will not outlive this call
  e.outcomes.push_back({id, std::move(copy), settled});
  schedule(e);
}

// ---- link lifecycle ------------------------------------------------------------------------

void local_endpoint::detach_link(link& l, const amqp::error* err) {
  entry& e = entry_of(l);
  e.detached = true;
  if (err != nullptr) e.detach_error = *err;
  schedule(e);
}

void local_endpoint::complete_attach(link& l, bool accepted, const amqp::error* err,
                                     const amqp::attach* /*answer*/) {
  if (!accepted) detach_link(l, err);
}

void local_endpoint::fail(const std::string& condition, const std::string& description) {
  // Only a bug in router code can get here (e.g. a reused delivery-id): say so loudly.
  logger()->error("in-router endpoint '{}': {}: {}", name_, condition, description);
}

void local_endpoint::schedule(entry& e) {
  if (!e.scheduled) {
    e.scheduled = true;
    scheduled_.push_back(&e);
  }
  if (!owner_scheduled_) {
    owner_scheduled_ = true;
    schedule_owner_(*this);
  }
}

void local_endpoint::flush() {
  owner_scheduled_ = false;
  flushing_ = true;
  // Handlers may open, close or send while we dispatch; new events land in scheduled_ again
  // and are dispatched in the next round.
  while (!scheduled_.empty()) {
    std::vector<entry*> batch;
    batch.swap(scheduled_);
    for (entry* e : batch) e->scheduled = false;
    for (entry* e : batch) {
      if (e->closed) continue;  // an earlier handler in this batch closed it
      link& l = *e->lnk;
      handler& h = *e->h;
      if (!e->outcomes.empty()) {
        std::vector<outcome_event> outcomes;
        outcomes.swap(e->outcomes);
        for (const auto& o : outcomes) h.on_outcome(l, o.id, o.state, o.settled);
        if (e->closed) continue;
      }
      if (e->readable) {
        e->readable = false;
        h.on_readable(l);
        if (e->closed) continue;
        consumed(l);
      }
      if (e->sendable) {
        e->sendable = false;
        h.on_sendable(l);
        if (e->closed) continue;
      }
      if (e->detached && !e->detach_reported) {
        e->detach_reported = true;
        h.on_detached(l, e->detach_error ? &*e->detach_error : nullptr);
      }
    }
  }
  flushing_ = false;
  graveyard_.clear();
}

}  // namespace fogmesh::router
