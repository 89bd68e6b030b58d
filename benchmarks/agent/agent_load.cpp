// Load tool for the agent benchmarks: a microservice (env as its agent gives it: SELFNAME,
// FOGMESH_LOCAL_API_*, FOGMESH_ROUTER_URL) that sends or receives ioMessages through the SDK as
// fast as the path allows.
//
//   agent_load send    --via amqp|socket --count N [--size BYTES] [--to UUID] [--window W]
//   agent_load receive --via amqp|socket --count N
//
// Every message carries its index as sequencenumber; the receiver counts distinct indexes (the
// message socket may resend what was not acknowledged within 2 s) and prints one line:
//   received N msgs in S s = R msg/s (duplicates D)
// timed from its first message to its last, so start-up and connection set-up are not counted.
// The sender prints "sent N msgs in S s = R msg/s", over AMQP followed by "(repeated X, rejected
// Y)": deliveries the router settled released/modified and the SDK sent again (a source of
// duplicates at the receiver: "modified" may follow a delivery), and rejected ones.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "fogmesh/sdk/microservice.hpp"

namespace sdk = fogmesh::sdk;
using clock_type = std::chrono::steady_clock;

namespace {

struct counter {
  explicit counter(long n) : seen(static_cast<size_t>(n), false), total(n) {}
  // Returns true when the last distinct message arrived.
  bool add(int32_t index) {
    if (index < 0 || index >= total) return false;
    auto now = clock_type::now();
    if (distinct == 0 && duplicates == 0) first = now;
    if (seen[static_cast<size_t>(index)]) {
      ++duplicates;
      return false;
    }
    seen[static_cast<size_t>(index)] = true;
    last = now;
    return ++distinct == total;
  }
  void report() const {
    double seconds = std::chrono::duration<double>(last - first).count();
    std::printf("received %ld msgs in %.3f s = %.0f msg/s (duplicates %ld)\n", distinct, seconds,
                seconds > 0 ? static_cast<double>(distinct) / seconds : 0.0, duplicates);
    std::fflush(stdout);
  }
  std::vector<bool> seen;
  long total;
  long distinct = 0;
  long duplicates = 0;
  clock_type::time_point first{}, last{};
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(
        stderr,
        "usage: agent_load send|receive --via amqp|socket --count N [--size B] [--to UUID]\n");
    return 2;
  }
  std::string mode = argv[1], via = "socket", to;
  long count = 100000, size = 1024, window = 1000;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--via")
      via = argv[i + 1];
    else if (flag == "--count")
      count = std::stol(argv[i + 1]);
    else if (flag == "--size")
      size = std::stol(argv[i + 1]);
    else if (flag == "--to")
      to = argv[i + 1];
    else if (flag == "--window")
      window = std::stol(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  try {
    auto env = sdk::environment::from_process();
    if (mode == "send") {
      auto message = sdk::make_message(env.self_name, "bench", "binary",
                                       std::vector<uint8_t>(static_cast<size_t>(size), 0x5a));
      auto start = clock_type::now();
      std::string settled;  // AMQP: what the router did not accept at once
      if (via == "amqp") {
        sdk::amqp_messenger messenger(env.router_url, env.self_name);
        if (!messenger.wait_ready(std::chrono::seconds(60)))
          throw sdk::sdk_error(0, "router not reachable");
        start = clock_type::now();
        for (long i = 0; i < count; ++i) {
          message.sequence_number = static_cast<int32_t>(i);
          message.id.clear();
          message.timestamp = 0;
          messenger.send(to, message);
        }
        if (!messenger.flush(std::chrono::seconds(300)))
          throw sdk::sdk_error(0, "not all messages settled");
        settled = " (repeated " + std::to_string(messenger.resent()) + ", rejected " +
                  std::to_string(messenger.rejected()) + ")";
      } else {
        sdk::message_socket socket(env);
        start = clock_type::now();
        long outstanding = 0;
        auto take_receipt = [&] {
          auto e = socket.next(std::chrono::seconds(60));
          if (!e) throw sdk::sdk_error(0, "no receipt within 60 s");
          if (e->type == sdk::message_socket::event::kind::error) throw sdk::sdk_error(0, e->error);
          if (e->type == sdk::message_socket::event::kind::receipt) --outstanding;
        };
        for (long i = 0; i < count; ++i) {
          while (outstanding >= window) take_receipt();
          message.sequence_number = static_cast<int32_t>(i);
          socket.publish(message);
          ++outstanding;
        }
        while (outstanding > 0) take_receipt();
      }
      double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
      std::printf("sent %ld msgs in %.3f s = %.0f msg/s%s\n", count, seconds,
                  static_cast<double>(count) / seconds, settled.c_str());
      return 0;
    }
    if (mode != "receive") throw sdk::sdk_error(0, "mode must be send or receive");
    counter got(count);
    if (via == "amqp") {
      std::mutex mutex;
      std::condition_variable done;
      bool finished = false;
      sdk::amqp_messenger messenger(env.router_url, env.self_name, [&](sdk::io_message m) {
        if (got.add(m.sequence_number)) {
          std::lock_guard lock(mutex);
          finished = true;
          done.notify_all();
        }
      });
      if (!messenger.wait_ready(std::chrono::seconds(60)))
        throw sdk::sdk_error(0, "router not reachable");
      std::printf("ready\n");
      std::fflush(stdout);
      std::unique_lock lock(mutex);
      if (!done.wait_for(lock, std::chrono::seconds(600), [&] { return finished; })) {
        got.report();
        throw sdk::sdk_error(0, "not all messages arrived within 600 s");
      }
    } else {
      sdk::message_socket socket(env);
      std::printf("ready\n");
      std::fflush(stdout);
      for (;;) {
        auto e = socket.next(std::chrono::seconds(60));
        if (!e) {
          got.report();
          throw sdk::sdk_error(0, "no message for 60 s");
        }
        if (e->type == sdk::message_socket::event::kind::message &&
            got.add(e->message.sequence_number))
          break;
      }
    }
    got.report();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "agent_load: %s\n", e.what());
    return 1;
  }
  return 0;
}
