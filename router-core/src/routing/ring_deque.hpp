// A FIFO on a power-of-two ring that allocates nothing while empty.
//
// Why not std::deque: libstdc++'s deque allocates a 512-byte node and its map when it is
// constructed, even if it never holds anything. Every link, every in-router link's delivery
// list and both unsettled windows of every session had one, which made an idle proxied TCP
// connection cost ~9 KiB of heap in deque nodes alone. This ring allocates on the first push,
// grows by doubling, and gives a large buffer back once it drains.
#pragma once

#include <cstddef>
#include <iterator>
#include <memory>
#include <new>
#include <utility>

namespace fogmesh::router {

template <class T>
class ring_deque {
  template <class Deque, class Value>
  class basic_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = Value*;
    using reference = Value&;

    basic_iterator() = default;
    basic_iterator(Deque* d, std::size_t i) : d_(d), i_(i) {}
    reference operator*() const { return (*d_)[i_]; }
    pointer operator->() const { return &(*d_)[i_]; }
    basic_iterator& operator++() {
      ++i_;
      return *this;
    }
    basic_iterator operator++(int) {
      basic_iterator old = *this;
      ++i_;
      return old;
    }
    bool operator==(const basic_iterator& o) const { return i_ == o.i_; }

   private:
    Deque* d_ = nullptr;
    std::size_t i_ = 0;
  };

 public:
  using value_type = T;
  using iterator = basic_iterator<ring_deque, T>;
  using const_iterator = basic_iterator<const ring_deque, const T>;

  // Capacity (in elements) a drained ring keeps; a larger one is freed when it empties.
  static constexpr std::size_t kept_capacity = 64;

  ring_deque() noexcept = default;
  ring_deque(const ring_deque&) = delete;
  ring_deque& operator=(const ring_deque&) = delete;
  ring_deque(ring_deque&& o) noexcept { steal(o); }
  ring_deque& operator=(ring_deque&& o) noexcept {
    if (this != &o) {
      clear();
      release();
      steal(o);
    }
    return *this;
  }
  ~ring_deque() {
    destroy_all();
    release();
  }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }

  T& operator[](std::size_t i) noexcept { return data_[(head_ + i) & (capacity_ - 1)]; }
  const T& operator[](std::size_t i) const noexcept { return data_[(head_ + i) & (capacity_ - 1)]; }
  T& front() noexcept { return (*this)[0]; }
  const T& front() const noexcept { return (*this)[0]; }
  T& back() noexcept { return (*this)[size_ - 1]; }
  const T& back() const noexcept { return (*this)[size_ - 1]; }

  iterator begin() noexcept { return iterator(this, 0); }
  iterator end() noexcept { return iterator(this, size_); }
  const_iterator begin() const noexcept { return const_iterator(this, 0); }
  const_iterator end() const noexcept { return const_iterator(this, size_); }

  template <class... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == capacity_) grow();
    T* slot = &data_[(head_ + size_) & (capacity_ - 1)];
    ::new (static_cast<void*>(slot)) T(std::forward<Args>(args)...);
    ++size_;
    return *slot;
  }
  void push_back(const T& v) { emplace_back(v); }
  void push_back(T&& v) { emplace_back(std::move(v)); }

  // Inserts before position `index` (0 = front, size() = back); the elements behind it move
  // back by one. Linear in the distance to the back: meant for inserts near it.
  void insert(std::size_t index, T v) {
    emplace_back(std::move(v));
    for (std::size_t i = size_ - 1; i > index; --i) std::swap((*this)[i], (*this)[i - 1]);
  }

  void pop_front() noexcept {
    data_[head_].~T();
    head_ = (head_ + 1) & (capacity_ - 1);
    if (--size_ == 0) drained();
  }
  void pop_back() noexcept {
    back().~T();
    if (--size_ == 0) drained();
  }

  // Grows with copies of `fill` or shrinks from the back.
  void resize(std::size_t n, const T& fill) {
    while (size_ < n) emplace_back(fill);
    while (size_ > n) pop_back();
  }

  void clear() noexcept {
    destroy_all();
    drained();
  }

  // Removes every element equal to `v`; the others keep their order.
  void remove(const T& v) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < size_; ++i) {
      if ((*this)[i] == v) continue;
      if (kept != i) (*this)[kept] = std::move((*this)[i]);
      ++kept;
    }
    while (size_ > kept) pop_back();
  }

  void swap(ring_deque& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(capacity_, o.capacity_);
    std::swap(head_, o.head_);
    std::swap(size_, o.size_);
  }

 private:
  void steal(ring_deque& o) noexcept {
    data_ = std::exchange(o.data_, nullptr);
    capacity_ = std::exchange(o.capacity_, 0);
    head_ = std::exchange(o.head_, 0);
    size_ = std::exchange(o.size_, 0);
  }
  void destroy_all() noexcept {
    for (std::size_t i = 0; i < size_; ++i) (*this)[i].~T();
    size_ = 0;
  }
  void drained() noexcept {
    head_ = 0;
    if (capacity_ > kept_capacity) release();
  }
  void release() noexcept {
    if (data_ != nullptr) std::allocator<T>().deallocate(data_, capacity_);
    data_ = nullptr;
    capacity_ = 0;
    head_ = 0;
  }
  void grow() {
    const std::size_t bigger = capacity_ == 0 ? 4 : capacity_ * 2;
    T* moved = std::allocator<T>().allocate(bigger);
    for (std::size_t i = 0; i < size_; ++i) {
      ::new (static_cast<void*>(&moved[i])) T(std::move((*this)[i]));
      (*this)[i].~T();
    }
    if (data_ != nullptr) std::allocator<T>().deallocate(data_, capacity_);
    data_ = moved;
    capacity_ = bigger;
    head_ = 0;
  }

  T* data_ = nullptr;
  std::size_t capacity_ = 0;  // 0 or a power of two
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace fogmesh::router
