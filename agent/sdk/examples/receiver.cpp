// Example microservice: prints the ioMessages routed to it, one line each
// ("from <publisher>: <content>"), and exits after --count of them (0: never).
//
//   fogmesh-sdk-receiver [--via socket|amqp] [--count N]
//
// socket: the agent's message WebSocket. amqp: consumes this microservice's router address
// directly (FOGMESH_ROUTER_URL; its spec should carry FOGMESH_MESSAGE_TRANSPORT=amqp).
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>

#include "fogmesh/sdk/microservice.hpp"

namespace sdk = fogmesh::sdk;

namespace {
void print(const sdk::io_message& m) {
  std::printf("from %s: %.*s\n", m.publisher.c_str(), static_cast<int>(m.content_data.size()),
              reinterpret_cast<const char*>(m.content_data.data()));
  std::fflush(stdout);
}
}  // namespace

int main(int argc, char** argv) {
  std::string via = "socket";
  long count = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--via")
      via = argv[i + 1];
    else if (flag == "--count")
      count = std::stol(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  try {
    auto env = sdk::environment::from_process();
    if (via == "socket") {
      sdk::message_socket socket(env);
      std::printf("ready\n");
      std::fflush(stdout);
      for (long received = 0; count == 0 || received < count;) {
        auto e = socket.next(std::chrono::seconds(3600));
        if (!e) continue;
        if (e->type == sdk::message_socket::event::kind::error) throw sdk::sdk_error(0, e->error);
        if (e->type != sdk::message_socket::event::kind::message) continue;
        print(e->message);
        ++received;
      }
    } else if (via == "amqp") {
      std::mutex mutex;
      std::condition_variable done;
      long received = 0;
      sdk::amqp_messenger messenger(env.router_url, env.self_name, [&](sdk::io_message m) {
        print(m);
        std::lock_guard lock(mutex);
        if (++received == count) done.notify_all();
      });
      if (!messenger.wait_ready(std::chrono::seconds(60)))
        throw sdk::sdk_error(0, "router not reachable within 60 s");
      std::printf("ready\n");
      std::fflush(stdout);
      std::unique_lock lock(mutex);
      done.wait(lock, [&] { return count != 0 && received >= count; });
    } else {
      std::fprintf(stderr, "--via must be socket or amqp\n");
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "receiver: %s\n", e.what());
    return 1;
  }
  return 0;
}
