#include "message_bus.hpp"

#include <algorithm>
#include <chrono>

#include "fogmesh/agent/message_id.hpp"
#include "fogmesh/common/log.hpp"

namespace fogmesh::agent {

message_bus::message_bus(message_bus_limits limits) : limits_(limits) {}

void message_bus::set_local_microservices(std::set<std::string> uuids) {
  local_ = std::move(uuids);
  // Queues of microservices that left this agent are dropped with them.
  for (auto it = queues_.begin(); it != queues_.end();) {
    it = local_.count(it->first) ? std::next(it) : queues_.erase(it);
  }
  for (auto it = inbound_ids_.begin(); it != inbound_ids_.end();) {
    it = local_.count(it->first) ? std::next(it) : inbound_ids_.erase(it);
  }
}

void message_bus::set_routes(std::map<std::string, std::vector<std::string>> routes) {
  routes_ = std::move(routes);
}

bool message_bus::routes_to(const std::string& publisher, const std::string& receiver) const {
  auto it = routes_.find(publisher);
  return it != routes_.end() &&
         std::find(it->second.begin(), it->second.end(), receiver) != it->second.end();
}

bool message_bus::can_publish(const std::string& publisher) const {
  auto it = routes_.find(publisher);
  if (remote_ == nullptr || it == routes_.end()) return true;
  const auto remote = std::count_if(it->second.begin(), it->second.end(),
                                    [&](const std::string& r) { return !local_.count(r); });
  return remote == 0 || remote_->has_room(static_cast<size_t>(remote));
}

io_message message_bus::publish(io_message message) {
  // As upstream: the agent, not the publisher, decides id and timestamp.
  message.id = new_message_id();
  message.timestamp = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  ++processed_;
  ++published_counts_[message.publisher];
  if (archive_) archive_->stage(message);
  if (auto it = routes_.find(message.publisher); it != routes_.end()) {
    for (const auto& receiver : it->second) {
      if (local_.count(receiver)) {
        deliver_local(receiver, message);
      } else if (remote_ == nullptr || !remote_->send(receiver, message)) {
        ++undeliverable_;
        log::get("agent.bus")->debug("no path to receiver {} for message {}", receiver, message.id);
      }
    }
  }
  return message;
}

void message_bus::deliver_inbound(const std::string& receiver_uuid, const io_message& message) {
  if (local_.count(receiver_uuid)) {
    auto ids = inbound_ids_.try_emplace(receiver_uuid, limits_.recent_ids).first;
    if (!ids->second.insert(message.id)) {
      ++duplicates_;
      return;
    }
  }
  deliver_again(receiver_uuid, message);
}

void message_bus::deliver_again(const std::string& receiver_uuid, const io_message& message) {
  if (local_.count(receiver_uuid)) {
    deliver_local(receiver_uuid, message);
  } else {
    ++undeliverable_;
  }
}

void message_bus::deliver_local(const std::string& receiver, const io_message& message) {
  if (auto l = listeners_.find(receiver); l != listeners_.end()) {
    l->second(message);
    return;
  }
  auto& q = queues_[receiver];
  q.push_back(message);
  if (q.size() > limits_.queue_messages) {
    q.pop_front();
    ++dropped_;
  }
}

std::vector<io_message> message_bus::take_queued(const std::string& receiver_uuid) {
  auto it = queues_.find(receiver_uuid);
  if (it == queues_.end()) return {};
  std::vector<io_message> out(std::make_move_iterator(it->second.begin()),
                              std::make_move_iterator(it->second.end()));
  it->second.clear();
  return out;
}

message_archive::query_result message_bus::query(const std::string& receiver_uuid, int64_t start,
                                                 int64_t end,
                                                 const std::vector<std::string>& publishers) const {
  std::set<std::string> routed;
  for (const auto& p : publishers) {
    if (routes_to(p, receiver_uuid)) routed.insert(p);
  }
  if (!archive_ || routed.empty() || end < start) return {};
  archive_->commit();  // a query sees every message published before it
  return archive_->query(start, end, routed, limits_.query_messages);
}

bool message_bus::commit_archive() {
  return archive_ == nullptr || archive_->commit();
}

size_t message_bus::archive_staged() const {
  return archive_ == nullptr ? 0 : archive_->staged();
}

void message_bus::attach_listener(const std::string& receiver_uuid, listener l) {
  // Whatever queued up while nobody listened goes out first, in order.
  auto queued = take_queued(receiver_uuid);
  for (const auto& m : queued) l(m);
  listeners_[receiver_uuid] = std::move(l);
}

void message_bus::detach_listener(const std::string& receiver_uuid) {
  listeners_.erase(receiver_uuid);
}

}  // namespace fogmesh::agent
