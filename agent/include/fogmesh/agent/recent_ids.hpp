// The last `capacity` ioMessage ids a receiver was given, to drop the extra copies that
// at-least-once delivery over the router mesh produces: what was unsettled when a router
// connection dropped is sent again (amqp_outbox), and some of it had already arrived. Those
// copies come within a few hundred messages of the original (at most what the sender had
// unsettled, twice), so a window of a few thousand ids makes delivery effectively once without
// remembering ids for ever.
//
// Ids are kept as 64-bit hashes (a false "seen" needs a collision with one of `capacity` ids:
// ~capacity / 2^64) in an open-addressing table of twice the capacity plus a ring in arrival
// order: 24 bytes per id, allocated on the first id. No locking: one thread per instance.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace fogmesh::agent {

class recent_ids {
 public:
  explicit recent_ids(size_t capacity = 4096) : capacity_(capacity < 1 ? 1 : capacity) {}

  // True when `id` was not among the last `capacity` ids (it is remembered now, the oldest
  // forgotten); false when it was: a copy. An empty id is always new (nothing to compare).
  bool insert(std::string_view id) {
    if (id.empty()) return true;
    if (table_.empty()) {
      size_t slots = 2;
      while (slots < 2 * capacity_) slots *= 2;
      table_.assign(slots, 0);
      ring_.assign(capacity_, 0);
    }
    uint64_t h = std::hash<std::string_view>{}(id);
    if (h == 0) h = 1;  // 0 marks an empty slot
    size_t i = find(h);
    if (table_[i] == h) return false;
    if (count_ == capacity_) {
      erase(ring_[next_]);
    } else {
      ++count_;
    }
    i = find(h);  // erase() may have moved entries
    table_[i] = h;
    ring_[next_] = h;
    next_ = (next_ + 1) % capacity_;
    return true;
  }

 private:
  size_t mask() const { return table_.size() - 1; }
  // The slot holding `h`, else the empty slot where it would go (linear probing; the table is
  // at most half full, so there is always one).
  size_t find(uint64_t h) const {
    size_t i = h & mask();
    while (table_[i] != 0 && table_[i] != h) i = (i + 1) & mask();
    return i;
  }
  // Removes `h` and shifts the entries after it back so every lookup still finds its entry.
  void erase(uint64_t h) {
    size_t i = find(h);
    if (table_[i] != h) return;
    table_[i] = 0;
    for (size_t j = (i + 1) & mask(); table_[j] != 0; j = (j + 1) & mask()) {
      const size_t home = table_[j] & mask();
      // Entry j may move into the hole at i unless its home lies cyclically in (i, j].
      const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays) continue;
      table_[i] = table_[j];
      table_[j] = 0;
      i = j;
    }
  }

  size_t capacity_;
  std::vector<uint64_t> table_;
  std::vector<uint64_t> ring_;
  size_t next_ = 0;
  size_t count_ = 0;
};

}  // namespace fogmesh::agent
