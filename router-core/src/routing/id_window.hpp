// Maps sequential 32-bit ids (AMQP delivery-ids, which a peer assigns in order within a session)
// to values in O(1) without hashing: a ring of slots starting at the oldest live id. Ids that
// fall far outside the window (a misbehaving peer) are rejected rather than growing memory.
#pragma once

#include <cstdint>
#include "routing/ring_deque.hpp"

namespace fogmesh::router {

template <class T>
class id_window {
 public:
  static constexpr std::uint32_t max_span = 1u << 20;

  // Inserts id → value. Returns false when id is outside the acceptable span or already used.
  bool insert(std::uint32_t id, T value) {
    if (slots_.empty()) {
      base_ = id;
    }
    const std::uint32_t offset = id - base_;  // modular: ids wrap
    if (offset >= max_span) return false;
    if (offset >= slots_.size()) slots_.resize(offset + 1, T{});
    if (slots_[offset] != T{}) return false;
    slots_[offset] = value;
    ++size_;
    return true;
  }

  T find(std::uint32_t id) const {
    const std::uint32_t offset = id - base_;
    if (offset >= slots_.size()) return T{};
    return slots_[offset];
  }

  // Removes id; returns the value that was there (T{} when none).
  T erase(std::uint32_t id) {
    const std::uint32_t offset = id - base_;
    if (offset >= slots_.size()) return T{};
    T old = slots_[offset];
    if (old == T{}) return old;
    slots_[offset] = T{};
    --size_;
    while (!slots_.empty() && slots_.front() == T{}) {
      slots_.pop_front();
      ++base_;
    }
    return old;
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i] != T{}) f(static_cast<std::uint32_t>(base_ + i), slots_[i]);
    }
  }
  void clear() {
    slots_.clear();
    size_ = 0;
  }

 private:
  ring_deque<T> slots_;
  std::uint32_t base_ = 0;
  std::size_t size_ = 0;
};

}  // namespace fogmesh::router
