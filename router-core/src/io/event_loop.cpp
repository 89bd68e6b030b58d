#include "io/event_loop.hpp"

#include <sys/mman.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>

namespace fogmesh::router::io {

namespace {
[[noreturn]] void fail(const char* what, int err) {
  throw std::system_error(err, std::generic_category(), what);
}
}  // namespace

event_loop::event_loop(const options& opts) : opts_(opts) {
  io_uring_params params{};
  // One thread submits and reaps; task work runs only when we wait. Falls back for older
  // kernels that reject the flags.
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int rc = io_uring_queue_init_params(opts_.ring_entries, &ring_, &params);
  if (rc == -EINVAL) {
    params = {};
    rc = io_uring_queue_init_params(opts_.ring_entries, &ring_, &params);
  }
  if (rc < 0) fail("io_uring_queue_init", -rc);

  // liburing 2.3 has no io_uring_setup_buf_ring: map and register the ring by hand.
  const unsigned count = opts_.recv_buffer_count;
  if ((count & (count - 1)) != 0) throw std::invalid_argument("recv_buffer_count must be 2^n");
  buf_ring_bytes_ = count * sizeof(io_uring_buf);
  void* ring_mem = mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE,
                        MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (ring_mem == MAP_FAILED) fail("mmap buffer ring", errno);
  buf_ring_ = static_cast<io_uring_buf_ring*>(ring_mem);
  io_uring_buf_ring_init(buf_ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(buf_ring_);
  reg.ring_entries = count;
  reg.bgid = buffer_group_;
  rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc < 0) fail("io_uring_register_buf_ring", -rc);

  buffers_ = static_cast<std::uint8_t*>(
      mmap(nullptr, std::size_t{count} * opts_.recv_buffer_size, PROT_READ | PROT_WRITE,
           MAP_ANONYMOUS | MAP_PRIVATE, -1, 0));
  if (buffers_ == MAP_FAILED) fail("mmap receive buffers", errno);
  const int mask = io_uring_buf_ring_mask(count);
  for (unsigned i = 0; i < count; ++i) {
    io_uring_buf_ring_add(buf_ring_, buffers_ + std::size_t{i} * opts_.recv_buffer_size,
                          opts_.recv_buffer_size, static_cast<unsigned short>(i), mask,
                          static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(count));
  slots_.reserve(64);
}

event_loop::~event_loop() {
  io_uring_unregister_buf_ring(&ring_, buffer_group_);
  io_uring_queue_exit(&ring_);
  if (buffers_ != nullptr) {
    munmap(buffers_, std::size_t{opts_.recv_buffer_count} * opts_.recv_buffer_size);
  }
  if (buf_ring_ != nullptr) munmap(buf_ring_, buf_ring_bytes_);
}

std::uint32_t event_loop::register_target(completion_target* target) {
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    if (slot >= (1u << 24)) throw std::runtime_error("too many completion targets");
    slots_.push_back({});
  }
  slots_[slot].target = target;
  return slot;
}

void event_loop::unregister_target(std::uint32_t slot) {
  slots_[slot].target = nullptr;
  ++slots_[slot].generation;
  free_slots_.push_back(slot);
}

std::uint64_t event_loop::pack(std::uint32_t slot, std::uint32_t gen, op_kind kind) noexcept {
  return (std::uint64_t{gen} << 32) | (std::uint64_t{slot} << 8) |
         static_cast<std::uint64_t>(kind);
}

std::uint64_t event_loop::user_data(std::uint32_t slot, op_kind kind) const noexcept {
  return pack(slot, slots_[slot].generation, kind);
}

io_uring_sqe* event_loop::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

bool event_loop::accept_multishot(std::uint32_t slot, int listen_fd) {
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_multishot_accept(sqe, listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, user_data(slot, op_kind::accept));
  return true;
}

bool event_loop::recv_multishot(std::uint32_t slot, int fd) {
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = buffer_group_;
  io_uring_sqe_set_data64(sqe, user_data(slot, op_kind::recv));
  return true;
}

bool event_loop::send(std::uint32_t slot, int fd, const void* data, std::size_t len) {
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_send(sqe, fd, data, len, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, user_data(slot, op_kind::send));
  return true;
}

bool event_loop::connect(std::uint32_t slot, int fd, const sockaddr* addr, socklen_t len) {
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_connect(sqe, fd, addr, len);
  io_uring_sqe_set_data64(sqe, user_data(slot, op_kind::connect));
  return true;
}

bool event_loop::timeout(std::uint32_t slot, std::uint64_t nanoseconds) {
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) return false;
  // The timespec must outlive the submission; the kernel copies it at prep time on 5.x+ only
  // when submitted, so keep one per slot-kind in a small static arena is overkill: we submit at
  // once instead.
  __kernel_timespec ts{};
  ts.tv_sec = static_cast<long long>(nanoseconds / 1'000'000'000ull);
  ts.tv_nsec = static_cast<long long>(nanoseconds % 1'000'000'000ull);
  io_uring_prep_timeout(sqe, &ts, 0, 0);
  io_uring_sqe_set_data64(sqe, user_data(slot, op_kind::timeout));
  io_uring_submit(&ring_);
  return true;
}

bool event_loop::read_wake(std::uint32_t slot, int event_fd, std::uint64_t* value) {
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_read(sqe, event_fd, value, sizeof(*value), 0);
  io_uring_sqe_set_data64(sqe, user_data(slot, op_kind::wake));
  return true;
}

bool event_loop::cancel(std::uint32_t slot, op_kind kind) {
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_cancel64(sqe, user_data(slot, kind), 0);
  io_uring_sqe_set_data64(sqe, pack(0, 0, op_kind::cancel));
  return true;
}

bool event_loop::wake_other(int target_ring_fd) {
  io_uring_sqe* sqe = get_sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_msg_ring(sqe, target_ring_fd, 0, pack(0, 0, op_kind::cross_shard), 0);
  // Our own completion of the send is of no interest.
  io_uring_sqe_set_data64(sqe, pack(0, 0, op_kind::cancel));
  return true;
}

void event_loop::recycle_buffer(std::uint16_t bid) {
  io_uring_buf_ring_add(buf_ring_, buffers_ + std::size_t{bid} * opts_.recv_buffer_size,
                        opts_.recv_buffer_size, bid, io_uring_buf_ring_mask(opts_.recv_buffer_count),
                        0);
  io_uring_buf_ring_advance(buf_ring_, 1);
}

void event_loop::dispatch(io_uring_cqe* cqe) {
  const std::uint64_t ud = io_uring_cqe_get_data64(cqe);
  const auto kind = static_cast<op_kind>(ud & 0xff);
  const auto slot = static_cast<std::uint32_t>((ud >> 8) & 0xffffff);
  const auto gen = static_cast<std::uint32_t>(ud >> 32);
  std::span<const std::uint8_t> data;
  int buffer_id = -1;
  if ((cqe->flags & IORING_CQE_F_BUFFER) != 0) {
    buffer_id = static_cast<int>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    if (cqe->res > 0) {
      data = {buffers_ + std::size_t(buffer_id) * opts_.recv_buffer_size,
              static_cast<std::size_t>(cqe->res)};
    }
  }
  if (kind == op_kind::recv && cqe->res == -ENOBUFS) ++enobufs_;
  if (kind == op_kind::cross_shard) {
    if (cross_shard_handler_) cross_shard_handler_();
    return;
  }
  if (kind != op_kind::cancel && slot < slots_.size() && slots_[slot].generation == gen &&
      slots_[slot].target != nullptr) {
    slots_[slot].target->on_completion(kind, cqe->res, cqe->flags, data);
  }
  // The target has consumed (copied) what it keeps; the buffer goes straight back.
  if (buffer_id >= 0) recycle_buffer(static_cast<std::uint16_t>(buffer_id));
}

void event_loop::run(const std::function<void()>& after_batch) {
  while (!stopping_) {
    int rc = io_uring_submit_and_wait(&ring_, 1);
    if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EBUSY) {
      fail("io_uring_submit_and_wait", -rc);
    }
    ++loop_turns_;
    // Time from a wake-up to the next wait is the loop's work (its utilisation in /metrics).
    const auto woke = std::chrono::steady_clock::now();
    unsigned head;
    unsigned handled = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      dispatch(cqe);
      ++handled;
    }
    io_uring_cq_advance(&ring_, handled);
    completions_ += handled;
    after_batch();
    busy_ns_ += static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                             woke)
            .count());
  }
}

}  // namespace fogmesh::router::io
