// Deliveries that cross shards: two routing cores of one router, an in-router sender on shard 0
// and an in-router receiver on shard 1, the shards' cross messages carried by the test (what
// shard::post and the inbox do on the real threads). Checks that a delivery still arriving is
// streamed to the other shard (not buffered whole), that the sender is held back while the
// receiver does not read (bounded memory across shards) and resumes when it does, that
// `received` progress and the final outcome travel back, and that an abort reaches the receiver.
#include <gtest/gtest.h>

#include <deque>
#include <numeric>
#include <vector>

#include "routing/local_endpoint.hpp"
#include "routing/router_core.hpp"
#include "server/shard_group.hpp"

namespace fogmesh::router {
namespace {

struct recorder : local_endpoint::handler {
  std::vector<amqp::delivery_state> outcomes;
  std::vector<bool> settled;
  void on_outcome(link&, std::uint32_t, const amqp::delivery_state& s, bool final) override {
    outcomes.push_back(s);
    settled.push_back(final);
  }
};

class two_shards : public ::testing::Test {
 protected:
  shard_group group{2};
  std::deque<cross_message> inbox[2];
  router_core core0{"r", address_matcher({}), &group, 0,
                    [this](unsigned to, cross_message&& m) { inbox[to].push_back(std::move(m)); }};
  router_core core1{"r", address_matcher({}), &group, 1,
                    [this](unsigned to, cross_message&& m) { inbox[to].push_back(std::move(m)); }};
  std::vector<local_endpoint*> dirty;
  local_endpoint ep0{core0, "ep0", [this](local_endpoint& e) { dirty.push_back(&e); }};
  local_endpoint ep1{core1, "ep1", [this](local_endpoint& e) { dirty.push_back(&e); }};
  recorder sender_events, receiver_events;

  // Runs both "shards" until nothing is left to do: inboxes, then endpoint events.
  void settle_down() {
    for (int round = 0; round < 1000; ++round) {
      bool any = false;
      for (unsigned s = 0; s < 2; ++s) {
        while (!inbox[s].empty()) {
          cross_message m = std::move(inbox[s].front());
          inbox[s].pop_front();
          (s == 0 ? core0 : core1).on_cross_message(m);
          any = true;
        }
      }
      std::vector<local_endpoint*> now;
      now.swap(dirty);
      for (local_endpoint* e : now) e->flush();
      if (!any && now.empty()) return;
    }
    FAIL() << "cross-shard traffic did not settle";
  }

  static std::size_t bytes_in(const ring_deque<local_endpoint::incoming_delivery>& in) {
    return std::accumulate(in.begin(), in.end(), std::size_t{0},
                           [](std::size_t n, const auto& d) { return n + d.bytes.size(); });
  }
};

TEST_F(two_shards, streaming_delivery_flows_to_the_other_shard_with_back_pressure) {
  link* receiver = ep1.open_receiver("stream/addr", receiver_events, 10);
  ASSERT_NE(receiver, nullptr);
  link* sender = ep0.open_sender("stream/addr", sender_events);
  ASSERT_NE(sender, nullptr);
  settle_down();
  ASSERT_TRUE(ep0.can_start(*sender)) << "no credit for a sender whose consumer is on shard 1";

  const amqp::byte_buffer chunk(64 * 1024, 0x5a);
  ep0.send(*sender, chunk, /*first=*/true, /*more=*/true, false);
  settle_down();
  auto& in = ep1.incoming(*receiver);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_FALSE(in.front().complete);
  EXPECT_EQ(in.front().bytes.size(), chunk.size()) << "the first bytes were not streamed across";

  // The receiver does not read: the sender must be stopped after a bounded amount.
  std::size_t sent = chunk.size();
  while (ep0.window_open(*sender) && sent < 64u * 1024 * 1024) {
    ep0.send(*sender, chunk, false, true, false);
    sent += chunk.size();
    settle_down();
  }
  EXPECT_FALSE(ep0.window_open(*sender)) << "sender never held back; " << sent << " bytes taken";
  EXPECT_LT(sent, 4u * 1024 * 1024) << "far more than the windows allow went across";
  const std::size_t before = bytes_in(in);

  // The receiver reads everything it has: the window opens again and more bytes arrive.
  in.front().bytes.clear();
  ep1.consumed(*receiver);
  settle_down();
  EXPECT_TRUE(ep0.window_open(*sender)) << "the window did not open after the receiver read";
  EXPECT_GT(bytes_in(in), 0u) << "bytes held on shard 1 did not move on after the read";

  // Progress travels back unsettled; the last bytes complete it; the outcome travels back.
  amqp::delivery_state progress;
  progress.type = amqp::delivery_state::kind::received;
  progress.section_offset = before;
  ep1.update(*receiver, in.front().id, progress);
  settle_down();
  ASSERT_FALSE(sender_events.outcomes.empty()) << "received state lost between shards";
  EXPECT_EQ(sender_events.outcomes.back().type, amqp::delivery_state::kind::received);
  EXPECT_EQ(sender_events.outcomes.back().section_offset, before);
  EXPECT_FALSE(sender_events.settled.back());

  ep0.send(*sender, chunk, false, /*more=*/false, false);
  sent += chunk.size();
  settle_down();
  std::size_t received = before;
  for (int reads = 0; reads < 1000 && !in.front().complete; ++reads) {
    received += in.front().bytes.size();
    in.front().bytes.clear();
    ep1.consumed(*receiver);
    settle_down();
  }
  ASSERT_TRUE(in.front().complete) << "the last bytes never arrived";
  received += in.front().bytes.size();
  EXPECT_EQ(received, sent) << "bytes lost or duplicated between shards";
  amqp::delivery_state accepted;
  accepted.type = amqp::delivery_state::kind::accepted;
  ep1.settle(*receiver, in.front().id, accepted);
  settle_down();
  EXPECT_EQ(sender_events.outcomes.back().type, amqp::delivery_state::kind::accepted);
  EXPECT_TRUE(sender_events.settled.back());
  EXPECT_TRUE(ep0.window_open(*sender));
  EXPECT_EQ(sender->sess->pending_bytes, 0u) << "window accounting leaked";
}

TEST_F(two_shards, aborted_stream_reaches_the_receiver_and_frees_everything) {
  link* receiver = ep1.open_receiver("stream/abort", receiver_events, 10);
  link* sender = ep0.open_sender("stream/abort", sender_events);
  settle_down();
  ASSERT_TRUE(ep0.can_start(*sender));
  const amqp::byte_buffer chunk(32 * 1024, 1);
  ep0.send(*sender, chunk, true, true, false);
  settle_down();
  ep0.send(*sender, chunk, false, true, false);
  settle_down();
  ep0.abort(*sender);
  settle_down();
  auto& in = ep1.incoming(*receiver);
  ASSERT_FALSE(in.empty());
  EXPECT_TRUE(in.back().aborted) << "the receiver was not told the delivery was aborted";
  EXPECT_EQ(sender->sess->pending_bytes, 0u);
  in.clear();
  ep1.consumed(*receiver);
  settle_down();
  EXPECT_EQ(core1.live_deliveries(), 0u) << "the target shard kept the aborted delivery";
  EXPECT_EQ(core0.live_deliveries(), 0u) << "the origin shard kept the aborted delivery";
}

TEST_F(two_shards, receiver_leaving_mid_stream_returns_an_outcome_and_swallows_the_rest) {
  link* receiver = ep1.open_receiver("stream/gone", receiver_events, 10);
  link* sender = ep0.open_sender("stream/gone", sender_events);
  settle_down();
  const amqp::byte_buffer chunk(32 * 1024, 2);
  ep0.send(*sender, chunk, true, true, false);
  settle_down();
  ep1.close(*receiver);
  settle_down();
  ASSERT_FALSE(sender_events.outcomes.empty()) << "no outcome after the receiver left";
  EXPECT_EQ(sender_events.outcomes.back().type, amqp::delivery_state::kind::modified);
  // The sender finishes its delivery; nothing is held for it anywhere.
  ep0.send(*sender, chunk, false, true, false);
  settle_down();
  ep0.send(*sender, chunk, false, false, false);
  settle_down();
  EXPECT_EQ(sender->sess->pending_bytes, 0u);
  EXPECT_EQ(core1.live_deliveries(), 0u);
  EXPECT_EQ(core0.live_deliveries(), 0u);
}

}  // namespace
}  // namespace fogmesh::router
