#include "fogmesh/agent/amqp_outbox.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <proton/duration.hpp>
#include <proton/work_queue.hpp>

namespace fogmesh::agent {

amqp_outbox::amqp_outbox(size_t max_held, std::string content_type)
    : max_held_(std::max<size_t>(1, max_held)), content_type_(std::move(content_type)) {}

// --- any thread ---

bool amqp_outbox::push_wait(const std::string& address, std::string body) {
  std::unique_lock lock(mutex_);
  space_.wait(lock, [&] { return closed_ || held_ < max_held_; });
  if (closed_) return false;
  push_locked(address, std::move(body));
  return true;
}

bool amqp_outbox::try_push(const std::string& address, std::string body) {
  std::lock_guard lock(mutex_);
  if (closed_ || held_ >= max_held_) return false;
  push_locked(address, std::move(body));
  return true;
}

bool amqp_outbox::has_room(size_t count) const {
  std::lock_guard lock(mutex_);
  return !closed_ && held_ + count <= max_held_;
}

bool amqp_outbox::wait_empty(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return drained_.wait_for(lock, timeout, [&] { return held_ == 0; });
}

void amqp_outbox::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  space_.notify_all();
}

size_t amqp_outbox::discard_except(const std::set<std::string>& keep) {
  std::lock_guard lock(mutex_);
  size_t dropped = 0;
  for (auto& [address, a] : addresses_) {
    if (keep.count(address)) continue;
    a.discarding = true;
    dropped += a.queue.size();
    a.queue.clear();
  }
  discarded_ += dropped;
  unhold_locked(dropped);
  return dropped;
}

size_t amqp_outbox::held() const {
  std::lock_guard lock(mutex_);
  return held_;
}

void amqp_outbox::push_locked(const std::string& address, std::string body) {
  address_state& a = addresses_[address];
  a.discarding = false;
  a.queue.push_back({next_seq_++, std::move(body)});
  ++held_;
  wake_locked();
}

// One pending wake-up at a time, through the connection's work queue: a work item per message
// would flood the container thread, and links changed from outside a connection event are
// otherwise written out only at the connection's next event (its heartbeat, seconds later).
void amqp_outbox::wake_locked() {
  if (wake_scheduled_ || work_queue_ == nullptr) return;
  wake_scheduled_ = true;
  work_queue_->add([this] { flush(); });
}

// --- container thread ---

void amqp_outbox::attach(proton::connection connection) {
  connection_ = connection;
  ++generation_;
  retry_scheduled_ = false;
  {
    std::lock_guard lock(mutex_);
    work_queue_ = &connection_.work_queue();
    wake_scheduled_ = false;
  }
  flush();
}

void amqp_outbox::detach() {
  std::lock_guard lock(mutex_);
  work_queue_ = nullptr;
  ++generation_;
  retry_scheduled_ = false;
  for (auto& [transfer, u] : in_flight_) {
    requeue_locked(*u.address, std::move(u.message));
  }
  in_flight_.clear();
  for (auto& [address, a] : addresses_) a.sender = proton::sender();
  connection_ = proton::connection();
}

void amqp_outbox::flush() {
  std::unique_lock lock(mutex_);
  wake_scheduled_ = false;
  if (work_queue_ == nullptr) return;
  const auto now = clock::now();
  std::optional<clock::time_point> retry_at;
  for (auto it = addresses_.begin(); it != addresses_.end();) {
    auto& [address, a] = *it;
    if (a.queue.empty()) {
      // An address nothing is held for keeps its link (credit stays with it) while it has one.
      it = a.sender ? std::next(it) : addresses_.erase(it);
      continue;
    }
    ++it;
    if (a.hold_until > now) {
      if (!retry_at || a.hold_until < *retry_at) retry_at = a.hold_until;
      continue;
    }
    // Credit arrives once the mesh has a consumer for the address.
    if (!a.sender) a.sender = connection_.open_sender(address);
    proton::sender& s = a.sender;
    while (!a.queue.empty() && s.active() && s.credit() > 0) {
      outgoing& m = a.queue.front();
      const uint64_t transfer = next_transfer_++;
      proton::binary tag(sizeof transfer);
      std::memcpy(tag.data(), &transfer, sizeof transfer);
      message_.clear();
      message_.to(address);
      message_.content_type(content_type_);
      message_.body(m.body);
      s.send(message_, tag);
      in_flight_.emplace(transfer, unsettled{&a, std::move(m)});
      a.queue.pop_front();
    }
  }
  lock.unlock();
  if (retry_at) schedule_retry(*retry_at);
}

void amqp_outbox::on_tracker_settle(proton::tracker& t) {
  const proton::binary tag = t.tag();
  if (tag.size() != sizeof(uint64_t)) return;
  uint64_t transfer = 0;
  std::memcpy(&transfer, tag.data(), sizeof transfer);
  const auto outcome = t.state();
  std::unique_lock lock(mutex_);
  auto it = in_flight_.find(transfer);
  if (it == in_flight_.end()) return;  // from a connection that is gone: already requeued
  address_state& a = *it->second.address;
  if (outcome == proton::transfer::RELEASED || outcome == proton::transfer::MODIFIED) {
    // Not consumed: back in order ahead of what was never sent, after a back-off.
    requeue_locked(a, std::move(it->second.message));
    in_flight_.erase(it);
    hold_back_locked(a);
    const auto when = a.hold_until;
    lock.unlock();
    schedule_retry(when);
    return;
  }
  in_flight_.erase(it);
  if (outcome == proton::transfer::REJECTED) {
    ++rejected_;
  } else {
    ++accepted_;
    a.backoff = std::chrono::milliseconds(0);
  }
  unhold_locked(1);
}

// The router detached a sending link (e.g. its address became unroutable): what was unsettled
// on it goes back to its queue and a new link is opened after the back-off.
void amqp_outbox::on_sender_close(proton::sender& s) {
  std::unique_lock lock(mutex_);
  if (work_queue_ == nullptr) return;  // not attached: detach() requeued everything
  for (auto& [address, a] : addresses_) {
    if (!(a.sender == s)) continue;
    a.sender = proton::sender();
    for (auto it = in_flight_.begin(); it != in_flight_.end();) {
      if (it->second.address != &a) {
        ++it;
        continue;
      }
      requeue_locked(a, std::move(it->second.message));
      it = in_flight_.erase(it);
    }
    hold_back_locked(a);
    const auto when = a.hold_until;
    lock.unlock();
    schedule_retry(when);
    return;
  }
}

void amqp_outbox::requeue_locked(address_state& a, outgoing m) {
  if (a.discarding) {  // no route leads to it any more: not sent again
    ++discarded_;
    unhold_locked(1);
    return;
  }
  ++resent_;
  // Usually lands at or near the front: what comes back is older than what was never sent.
  auto pos = std::upper_bound(a.queue.begin(), a.queue.end(), m.seq,
                              [](uint64_t seq, const outgoing& o) { return seq < o.seq; });
  a.queue.insert(pos, std::move(m));
}

void amqp_outbox::unhold_locked(size_t count) {
  if (count == 0) return;
  const bool was_full = held_ >= max_held_;  // a push_wait may be waiting
  held_ -= count;
  if (was_full) space_.notify_all();
  if (held_ == 0) drained_.notify_all();
}

// Once per round of returns (not per message): 10 ms, doubling to 1 s until one is accepted.
void amqp_outbox::hold_back_locked(address_state& a) {
  const auto now = clock::now();
  if (a.hold_until > now) return;
  a.backoff = a.backoff.count() == 0 ? std::chrono::milliseconds(10)
                                     : std::min(a.backoff * 2, std::chrono::milliseconds(1000));
  a.hold_until = now + a.backoff;
}

// Flushes again at `when` (the earliest hold_until); flush() re-arms it while an address is
// still held back. On the connection's work queue, so what it sends is written out at once.
void amqp_outbox::schedule_retry(clock::time_point when) {
  if (!connection_ || (retry_scheduled_ && retry_due_ <= when)) return;
  retry_scheduled_ = true;
  retry_due_ = when;
  const auto wait =
      std::chrono::duration_cast<std::chrono::milliseconds>(when - clock::now()).count();
  connection_.work_queue().schedule(proton::duration(std::max<int64_t>(1, wait + 1)),
                                    [this, generation = generation_] {
                                      if (generation != generation_) return;
                                      retry_scheduled_ = false;
                                      flush();
                                    });
}

}  // namespace fogmesh::agent
