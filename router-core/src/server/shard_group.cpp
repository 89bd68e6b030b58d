#include "server/shard_group.hpp"

namespace fogmesh::router {

shard_group::shard_group(unsigned shards) {
  for (unsigned i = 0; i < shards; ++i) inboxes_.push_back(std::make_unique<inbox>());
}

bool shard_group::consumer_added(unsigned shard, const std::string& key) {
  std::lock_guard lock(registry_mutex_);
  auto& e = registry_[key];
  if (e.consumers.empty()) e.consumers.assign(size(), 0);
  bool first = true;
  for (auto c : e.consumers) first = first && c == 0;
  ++e.consumers[shard];
  return first;
}

void shard_group::consumer_removed(unsigned shard, const std::string& key) {
  std::lock_guard lock(registry_mutex_);
  auto it = registry_.find(key);
  if (it == registry_.end() || it->second.consumers[shard] == 0) return;
  --it->second.consumers[shard];
  for (auto c : it->second.consumers) {
    if (c != 0) return;
  }
  registry_.erase(it);
}

int shard_group::pick_remote(unsigned self, const std::string& key) {
  std::lock_guard lock(registry_mutex_);
  auto it = registry_.find(key);
  if (it == registry_.end()) return -1;
  auto& e = it->second;
  const unsigned n = size();
  for (unsigned i = 0; i < n; ++i) {
    const unsigned s = (e.next + i) % n;
    if (s != self && e.consumers[s] > 0) {
      e.next = (s + 1) % n;
      return static_cast<int>(s);
    }
  }
  return -1;
}

std::vector<unsigned> shard_group::remote_shards_with(unsigned self, const std::string& key) {
  std::vector<unsigned> out;
  std::lock_guard lock(registry_mutex_);
  auto it = registry_.find(key);
  if (it == registry_.end()) return out;
  for (unsigned s = 0; s < size(); ++s) {
    if (s != self && it->second.consumers[s] > 0) out.push_back(s);
  }
  return out;
}

bool shard_group::any_consumer(const std::string& key) {
  std::lock_guard lock(registry_mutex_);
  return registry_.count(key) != 0;
}

bool shard_group::post(unsigned to, cross_message&& m) {
  inbox& box = *inboxes_[to];
  {
    std::lock_guard lock(box.mutex);
    box.messages.push_back(std::move(m));
  }
  return !box.wake_pending.exchange(true);
}

bool shard_group::post_batch(unsigned to, std::vector<cross_message>& batch) {
  inbox& box = *inboxes_[to];
  {
    std::lock_guard lock(box.mutex);
    if (box.messages.empty()) {
      box.messages.swap(batch);
    } else {
      for (auto& m : batch) box.messages.push_back(std::move(m));
    }
  }
  batch.clear();
  return !box.wake_pending.exchange(true);
}

std::vector<cross_message> shard_group::take(unsigned shard) {
  inbox& box = *inboxes_[shard];
  // Clear the flag first: a post that lands after the swap wakes us again.
  box.wake_pending.store(false);
  std::vector<cross_message> out;
  std::lock_guard lock(box.mutex);
  out.swap(box.messages);
  return out;
}

}  // namespace fogmesh::router
