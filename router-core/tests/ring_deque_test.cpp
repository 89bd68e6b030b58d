#include "routing/ring_deque.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace fogmesh::router {
namespace {

TEST(ring_deque, EmptyAllocatesNothing) {
  ring_deque<int*> q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.capacity(), 0u);
  EXPECT_EQ(q.begin(), q.end());
}

TEST(ring_deque, FifoAcrossWrapAndGrowth) {
  ring_deque<int> q;
  int next_in = 0, next_out = 0;
  // Push and pop in uneven runs so the head wraps around several capacities.
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < round % 7 + 3; ++i) q.push_back(next_in++);
    for (int i = 0; i < round % 5 + 1 && !q.empty(); ++i) {
      EXPECT_EQ(q.front(), next_out++);
      q.pop_front();
    }
    ASSERT_EQ(q.size(), static_cast<std::size_t>(next_in - next_out));
    if (!q.empty()) {
      EXPECT_EQ(q.back(), next_in - 1);
    }
  }
  int expect = next_out;
  for (int v : q) EXPECT_EQ(v, expect++);
  EXPECT_EQ(expect, next_in);
}

TEST(ring_deque, MatchesStdDequeUnderRandomOperations) {
  std::mt19937 rng(7);
  ring_deque<std::string> q;
  std::deque<std::string> model;
  for (int step = 0; step < 20000; ++step) {
    switch (rng() % 6) {
      case 0:
      case 1:
      case 2: {
        std::string v = "value-" + std::to_string(step);
        q.push_back(v);
        model.push_back(v);
        break;
      }
      case 3:
        if (!model.empty()) {
          q.pop_front();
          model.pop_front();
        }
        break;
      case 4:
        if (!model.empty()) {
          q.pop_back();
          model.pop_back();
        }
        break;
      case 5:
        if (!model.empty()) {
          const std::string victim = model[rng() % model.size()];
          q.remove(victim);
          std::erase(model, victim);
        }
        break;
    }
    ASSERT_EQ(q.size(), model.size());
    for (std::size_t i = 0; i < model.size(); i += 17) ASSERT_EQ(q[i], model[i]);
  }
}

TEST(ring_deque, RemoveKeepsOrderOfTheOthers) {
  ring_deque<int> q;
  for (int v : {1, 2, 3, 2, 4, 2}) q.push_back(v);
  q.remove(2);
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[0], 1);
  EXPECT_EQ(q[1], 3);
  EXPECT_EQ(q[2], 4);
}

TEST(ring_deque, InsertKeepsTheOrderAroundIt) {
  ring_deque<int> q;
  // Wrapped storage: pop from the front so the inserts cross the end of the buffer.
  for (int v = 0; v < 6; ++v) q.push_back(v);
  for (int i = 0; i < 4; ++i) q.pop_front();   // 4 5
  for (int v = 6; v < 9; ++v) q.push_back(v);  // 4 5 6 7 8
  q.insert(2, 50);                             // 4 5 50 6 7 8
  q.insert(0, 40);                             // 40 4 5 50 6 7 8
  q.insert(q.size(), 80);                      // ... 8 80
  const std::vector<int> expected{40, 4, 5, 50, 6, 7, 8, 80};
  ASSERT_EQ(q.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(q[i], expected[i]) << i;
}

TEST(ring_deque, LargeBufferGoesBackWhenDrained) {
  ring_deque<int> q;
  for (int i = 0; i < 1000; ++i) q.push_back(i);
  EXPECT_GE(q.capacity(), 1000u);
  while (!q.empty()) q.pop_front();
  EXPECT_EQ(q.capacity(), 0u);
  // A small one is kept for the next burst.
  for (int i = 0; i < 10; ++i) q.push_back(i);
  q.clear();
  EXPECT_GT(q.capacity(), 0u);
}

TEST(ring_deque, OwnsMoveOnlyElementsAndSwaps) {
  ring_deque<std::unique_ptr<int>> a, b;
  for (int i = 0; i < 9; ++i) a.emplace_back(std::make_unique<int>(i));
  a.pop_front();
  a.swap(b);
  EXPECT_TRUE(a.empty());
  ASSERT_EQ(b.size(), 8u);
  EXPECT_EQ(*b.front(), 1);
  ring_deque<std::unique_ptr<int>> c(std::move(b));
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(*c.back(), 8);
  c.pop_back();
  EXPECT_EQ(*c.back(), 7);
}

}  // namespace
}  // namespace fogmesh::router
