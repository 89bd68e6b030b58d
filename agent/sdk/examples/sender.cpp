// Example microservice: publishes text ioMessages ("hello 1", "hello 2", ...) as its agent's
// routes direct them. Run by an agent (it reads SELFNAME and FOGMESH_LOCAL_API_* from the
// environment), or by hand with those set.
//
//   fogmesh-sdk-sender [--via rest|socket|amqp] [--count N] [--interval-ms MS] [--to UUID]
//
// rest and socket go through the agent, which applies the routes; amqp sends straight to the
// router address of --to (FOGMESH_ROUTER_URL).
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "fogmesh/sdk/microservice.hpp"

namespace sdk = fogmesh::sdk;

int main(int argc, char** argv) {
  std::string via = "socket", to;
  long count = 10, interval_ms = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--via")
      via = argv[i + 1];
    else if (flag == "--count")
      count = std::stol(argv[i + 1]);
    else if (flag == "--interval-ms")
      interval_ms = std::stol(argv[i + 1]);
    else if (flag == "--to")
      to = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  try {
    auto env = sdk::environment::from_process();
    sdk::local_api_client api(env);
    std::printf("config: %s\n", api.get_config().c_str());
    auto message_for = [&](long i) {
      std::string text = "hello " + std::to_string(i);
      return sdk::make_message(env.self_name, "text", "utf-8", {text.begin(), text.end()});
    };
    if (via == "rest") {
      for (long i = 1; i <= count; ++i) {
        auto receipt = api.publish(message_for(i));
        std::printf("published %ld as %s\n", i, receipt.id.c_str());
        std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
      }
    } else if (via == "socket") {
      sdk::message_socket socket(env);
      for (long i = 1; i <= count; ++i) {
        socket.publish(message_for(i));
        // Wait for this message's receipt: the agent has taken it.
        for (;;) {
          auto e = socket.next(std::chrono::seconds(30));
          if (!e) throw sdk::sdk_error(0, "no receipt from the agent within 30 s");
          if (e->type == sdk::message_socket::event::kind::error) throw sdk::sdk_error(0, e->error);
          if (e->type == sdk::message_socket::event::kind::receipt) {
            std::printf("published %ld as %s\n", i, e->receipt.id.c_str());
            break;
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
      }
    } else if (via == "amqp") {
      if (to.empty()) throw sdk::sdk_error(0, "--via amqp needs --to RECEIVER_UUID");
      sdk::amqp_messenger messenger(env.router_url, env.self_name);
      for (long i = 1; i <= count; ++i) {
        messenger.send(to, message_for(i));
        std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
      }
      if (!messenger.flush(std::chrono::seconds(60)))
        throw sdk::sdk_error(0, "the router took no messages within 60 s");
      std::printf("published %ld to %s over AMQP\n", count, to.c_str());
    } else {
      std::fprintf(stderr, "--via must be rest, socket or amqp\n");
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sender: %s\n", e.what());
    return 1;
  }
  return 0;
}
