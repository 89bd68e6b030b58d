// One io_uring per shard thread. The loop owns the ring, one provided-buffer ring for all
// receives of its connections, and the bookkeeping that turns CQEs back into calls on the
// owning object (a "completion target") without ever storing a raw pointer that could dangle:
// user_data carries (target slot, generation, op kind).
//
// Thread: only the shard thread that created the loop may call it (the ring is set up with
// SINGLE_ISSUER | DEFER_TASKRUN). Never blocks except in run()'s wait for completions.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <functional>
#include <span>
#include <system_error>
#include <vector>

namespace fogmesh::router::io {

enum class op_kind : std::uint8_t {
  accept = 1,
  recv,
  send,
  connect,
  timeout,
  wake,    // eventfd read used to interrupt the loop (stop, cross-thread work)
  cancel,  // completion of a cancel request (ignored)
  close,
  cross_shard,  // MSG_RING from another shard: its inbox has work for us
};

// Something that receives completions: a listener, a connection, the loop's own timer.
class completion_target {
 public:
  virtual ~completion_target() = default;
  // res: CQE result (bytes or -errno); flags: CQE flags. `data` is set for recv completions
  // that selected a provided buffer: the bytes are valid only during the call.
  virtual void on_completion(op_kind kind, int res, std::uint32_t flags,
                             std::span<const std::uint8_t> data) = 0;
};

class event_loop {
 public:
  struct options {
    unsigned ring_entries = 1024;
    unsigned recv_buffer_size = 16384;
    unsigned recv_buffer_count = 256;  // power of two
  };

  explicit event_loop(const options& opts);
  ~event_loop();
  event_loop(const event_loop&) = delete;
  event_loop& operator=(const event_loop&) = delete;

  // Registers a target and returns its slot; the slot's generation changes on unregister so
  // late completions of a dead target are dropped.
  std::uint32_t register_target(completion_target* target);
  void unregister_target(std::uint32_t slot);

  // Operations. Each returns false when no SQE could be obtained even after submitting.
  bool accept_multishot(std::uint32_t slot, int listen_fd);
  bool recv_multishot(std::uint32_t slot, int fd);
  bool send(std::uint32_t slot, int fd, const void* data, std::size_t len);
  bool connect(std::uint32_t slot, int fd, const sockaddr* addr, socklen_t len);
  bool timeout(std::uint32_t slot, std::uint64_t nanoseconds);
  bool read_wake(std::uint32_t slot, int event_fd, std::uint64_t* value);
  // Cancels every pending op of `slot` with `kind` on fd (used to pause a multishot recv).
  bool cancel(std::uint32_t slot, op_kind kind);

  // Posts a completion to another shard's ring (IORING_OP_MSG_RING); that loop then calls its
  // cross-shard handler. Submitted with the next batch, like every other op.
  bool wake_other(int target_ring_fd);
  void set_cross_shard_handler(std::function<void()> handler) {
    cross_shard_handler_ = std::move(handler);
  }
  int ring_fd() const noexcept { return ring_.ring_fd; }

  // Runs until stop() is called: submit, wait for at least one completion, dispatch all ready
  // completions, then call `after_batch` (the shard flushes output there) and repeat.
  void run(const std::function<void()>& after_batch);
  void stop() noexcept { stopping_ = true; }
  bool stopping() const noexcept { return stopping_; }

  // Counters for metrics.
  std::uint64_t loop_turns() const noexcept { return loop_turns_; }
  std::uint64_t completions() const noexcept { return completions_; }
  std::uint64_t enobufs() const noexcept { return enobufs_; }
  // Nanoseconds spent handling completions (not waiting for them).
  std::uint64_t busy_ns() const noexcept { return busy_ns_; }

 private:
  io_uring_sqe* get_sqe();
  static std::uint64_t pack(std::uint32_t slot, std::uint32_t gen, op_kind kind) noexcept;
  std::uint64_t user_data(std::uint32_t slot, op_kind kind) const noexcept;
  void dispatch(io_uring_cqe* cqe);
  void recycle_buffer(std::uint16_t bid);

  struct slot_entry {
    completion_target* target = nullptr;
    std::uint32_t generation = 0;
  };

  io_uring ring_{};
  options opts_;
  io_uring_buf_ring* buf_ring_ = nullptr;
  std::size_t buf_ring_bytes_ = 0;
  std::uint8_t* buffers_ = nullptr;
  static constexpr std::uint16_t buffer_group_ = 1;
  std::vector<slot_entry> slots_;
  std::function<void()> cross_shard_handler_;
  std::vector<std::uint32_t> free_slots_;
  bool stopping_ = false;
  std::uint64_t loop_turns_ = 0;
  std::uint64_t completions_ = 0;
  std::uint64_t enobufs_ = 0;
  std::uint64_t busy_ns_ = 0;
};

}  // namespace fogmesh::router::io
