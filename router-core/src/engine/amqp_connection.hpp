// One AMQP 1.0 connection on one shard: socket I/O through the shard's event_loop, the protocol
// state machine (protocol headers, SASL, open/begin/attach/.../close, heartbeats), and the
// session/link bookkeeping. Routing decisions are delegated to router_core; this class only
// turns frames into calls on it and its calls back into frames.
//
// Thread: the owning shard thread only. Never blocks.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "amqp/frame.hpp"
#include "engine/failover.hpp"
#include "engine/tls.hpp"
#include "io/event_loop.hpp"
#include "routing/link_owner.hpp"
#include "routing/model.hpp"

namespace fogmesh::router {

class shard;
class router_core;

class amqp_connection final : public io::completion_target, public link_owner {
 public:
  using clock = std::chrono::steady_clock;

  amqp_connection(shard& owner, int fd, std::uint64_t id, std::string peer,
                  connection_settings settings);
  ~amqp_connection() override;

  void start();  // registers with the loop and starts receiving

  // io::completion_target
  void on_completion(io::op_kind kind, int res, std::uint32_t flags,
                     std::span<const std::uint8_t> data) override;

  // Called once per loop batch by the shard for connections with pending work.
  void flush();
  // Periodic housekeeping: heartbeats and idle-timeout. Returns false when the connection closed.
  void tick(clock::time_point now);
  // Graceful shutdown: release what is unsettled, send close, then drop the socket.
  void shutdown(const std::string& condition, const std::string& description);

  bool closed() const noexcept { return state_ == state::closed; }
  std::uint64_t id() const noexcept { return id_; }
  const std::string& peer() const noexcept { return peer_; }
  const std::string& container_id() const noexcept { return remote_container_; }
  // Connector connections: the failover-server-list of the peer's open frame.
  const std::vector<failover_address>& learned_failover() const noexcept {
    return learned_failover_;
  }
  const std::string& user() const noexcept { return user_; }
  const connection_settings& settings() const noexcept override { return settings_; }
  std::size_t session_count() const noexcept;
  std::size_t link_count() const noexcept;
  bool encrypted() const noexcept { return tls_ != nullptr; }
  template <class F>
  void for_each_link(F&& f) const {
    for (const auto& s : sessions_) {
      if (!s) continue;
      for (const link* l : s->links_by_handle) {
        if (l != nullptr) f(*l);
      }
    }
  }

  // --- used by router_core -------------------------------------------------------------
  // True while the socket is keeping up (unsent output below the high-water mark).
  bool writable() const noexcept override { return out_.size() < high_water_; }
  std::uint32_t peer_max_frame_size() const noexcept { return peer_max_frame_size_; }
  // Writes the transfer frames of `bytes` for delivery d on link l; `first` adds delivery-id,
  // tag, format and settled; `more` marks the delivery as continuing after these bytes.
  write_result write_transfer(link& l, delivery& d, amqp::bytes_view bytes, bool first,
                              bool more) override;
  void write_abort(link& l) override;
  void write_flow(link& l, bool echo = false) override;
  // Queues a disposition for coalescing within this batch.
  void queue_disposition(session& s, amqp::role role, std::uint32_t id, bool settled,
                         const amqp::delivery_state& state) override;
  void write_detach(link& l, bool closed, const amqp::error* err);
  void mark_blocked(link& l) override;
  void resume_blocked();
  // Re-opens a session's incoming window once held bytes drained (sends a flow if worth it).
  void window_may_open(session& s) override;
  bool opened() const noexcept { return state_ == state::opened; }
  // Router-initiated links (auto-links, link routes) on a connection we opened as a client
  // or on any open connection: begins a session on first use, sends the attach and returns the
  // link; the peer's attach completes it.
  // `like`: the attach a link-routed peer sent; its termini (filters, durability,
  // capabilities...), receiver settle mode and properties are passed on, with `address` on
  // the far terminus.
  link* attach_link(link_kind kind, const std::string& name, const std::string& address,
                    amqp::sender_settle_mode snd_mode, const amqp::attach* like = nullptr);
  // Whether a link of this name is attached or being attached on this connection.
  bool has_link_named(const std::string& name) const;
  const amqp::attach* unanswered_attach(const link& l) const override;
  // Detaches a router-initiated or peer link from our side (e.g. its link-route partner left).
  void detach_link(link& l, const amqp::error* err) override;
  // Sends the deferred attach reply of a link-routed link once its partner answered.
  void complete_attach(link& l, bool accepted, const amqp::error* err,
                       const amqp::attach* answer) override;
  amqp::attach attach_reply(const amqp::attach& a, const link& l, bool accepted,
                            const amqp::attach* answer = nullptr);

 private:
  enum class state { header, sasl, amqp_header, open, opened, closing, closed };
  void client_start();
  void write_client_open();
  session& router_session();
  session& new_session();  // on the lowest free channel of ours

  void on_received(std::span<const std::uint8_t> data);  // socket bytes (TLS or not)
  void on_bytes(std::span<const std::uint8_t> data);     // AMQP bytes
  // Consumes as many complete units (headers/frames) as possible; returns bytes consumed.
  std::size_t process(std::span<const std::uint8_t> data);
  bool handle_protocol_header(std::span<const std::uint8_t> data);
  void handle_sasl_frame(const amqp::frame_view& frame);
  void handle_amqp_frame(const amqp::frame_view& frame);
  void handle_open(const amqp::open& o);
  void handle_begin(std::uint16_t channel, const amqp::begin& b);
  void handle_attach(session& s, amqp::attach& a);
  void handle_flow(session* s, const amqp::flow& f);
  void handle_transfer(session& s, const amqp::transfer& t, amqp::bytes_view payload);
  void handle_disposition(session& s, const amqp::disposition& d);
  void handle_detach(session& s, const amqp::detach& d);
  void handle_end(std::uint16_t channel, const amqp::end& e);
  void handle_close(const amqp::close& c);

  session* session_by_remote(std::uint16_t channel);
  void end_session(session& s, const amqp::error* err);
  void drop_link(link& l);
  void flush_dispositions(session& s);
  void write_session_flow(session& s);
  // The incoming window to advertise now: room left for held bytes, in frames.
  std::uint32_t free_window(const session& s) const;
  void fill_session_fields(amqp::flow& f, session& s);
  std::uint32_t window_frames() const;

  // Protocol violation: send close with the error, then drop after the close is written.
  void fail(const std::string& condition, const std::string& description) override;
  void teardown();       // releases everything routed through this connection
  void close_socket();
  void start_send();
  void sent(int res);  // a send finished (res bytes or -errno), synchronously or as a CQE
  bool sasl_verify_plain(amqp::bytes_view response);

  shard& owner_;
  router_core& core_;
  int fd_;
  std::uint32_t slot_ = 0;
  std::uint64_t id_;
  std::string peer_;
  connection_settings settings_;
  state state_ = state::header;
  bool sasl_done_ = false;
  std::vector<failover_address> learned_failover_;
  std::string remote_container_;
  std::string remote_hostname_;
  std::string user_ = "anonymous";

  std::uint32_t peer_max_frame_size_ = amqp::min_max_frame_size;
  std::uint16_t peer_channel_max_ = 0;
  std::uint32_t peer_idle_timeout_ms_ = 0;
  clock::time_point last_input_;
  clock::time_point last_output_;

  std::vector<std::unique_ptr<session>> sessions_;    // index = our channel
  std::vector<session*> sessions_by_remote_;          // index = remote channel

  std::unique_ptr<tls_stream> tls_;
  bool tls_decided_ = false;
  amqp::byte_buffer tls_plain_;   // decrypted input of one receive
  amqp::byte_buffer tls_cipher_;  // encrypted output waiting for the socket
  amqp::byte_buffer carry_;       // an incomplete frame carried to the next receive
  amqp::byte_buffer out_;         // frames produced this batch
  amqp::byte_buffer sending_;     // frames handed to the kernel
  std::size_t sending_offset_ = 0;
  bool send_in_flight_ = false;
  bool recv_armed_ = false;
  bool close_after_flush_ = false;
  bool socket_closed_ = false;
  bool dirty_ = false;
  std::size_t high_water_ = 4u << 20;
  std::vector<link*> blocked_links_;
  amqp::byte_buffer scratch_;
  std::uint64_t next_link_id_ = 1;
  session* router_session_ = nullptr;   // session for router-initiated links
  std::unordered_map<link*, amqp::attach> pending_attach_;  // link-routed attaches awaiting
  bool closed_notified_ = false;

  friend class shard;
  friend class router_core;
};

}  // namespace fogmesh::router
