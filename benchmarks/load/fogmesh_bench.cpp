// fogmesh-bench: end-to-end AMQP 1.0 throughput/latency load tool. Sender and receiver run in
// one thread of one process, so one-way latency is measured with a single CLOCK_MONOTONIC and
// the tool costs at most one core (the other is left to the router under test on a 2-vCPU box).
//
// Modes:
//   --url HOST:PORT      sender and receiver connect to a router at HOST:PORT.
//   --direct             no router: the tool listens on a free loopback port and its sender
//                        connects to it; the accepted side is the receiver (client ceiling).
//   --idle-connections N open N connections to --url, hold them open (router RSS tests).
// Engines (--engine): `native` speaks AMQP with fogmesh's own codec over epoll (the default: a
// Proton client spends ~85% of its time in Proton's object bookkeeping, which capped the
// direct ceiling below what the router forwards); `proton` is a Proton C proactor client.
#include <getopt.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench_support.hpp"

namespace fogmesh::bench {
namespace {

void usage(FILE* out) {
  std::fprintf(
      out,
      "usage: fogmesh-bench (--url HOST:PORT | --direct) [options]\n"
      "       fogmesh-bench --url HOST:PORT --idle-connections N [--hold SECONDS]\n"
      "  --url HOST:PORT        router to use: sender and receiver both connect there\n"
      "  --send-url HOST:PORT   the sender connects here instead (e.g. another router of a mesh)\n"
      "  --direct               no router: sender connects to the tool's own loopback listener\n"
      "  --engine native|proton AMQP client: fogmesh's codec over epoll (default) or Proton C\n"
      "  --address ADDR         link address (default bench)\n"
      "  --size BYTES           Data body size, >= 16 (default 100)\n"
      "  --credit N             receiver credit window (default 1000)\n"
      "  --settle MODE          unsettled (receiver accepts) | presettled (default unsettled)\n"
      "  --count N              measured messages to send (default 1000000 if no --duration)\n"
      "  --duration SECONDS     send for this long instead of a count\n"
      "  --rate MSGS_PER_SEC    pace sending (0 = as fast as credit allows)\n"
      "  --warmup SECONDS       send (unmeasured) for this long first\n"
      "  --sasl none|anonymous  SASL layer on client connections (default none)\n"
      "  --stall-timeout SECS   fail if nothing arrives for this long (default 10)\n"
      "  --json                 print one JSON object with the results\n"
      "  --idle-connections N   open N idle connections to --url and hold them\n"
      "  --hold SECONDS         how long to hold idle connections (default 10)\n"
      "exit status: 0 ok, 1 error (connection failure, lost/duplicated messages)\n");
}

bool parse_number(const char* s, double* out) {
  char* end = nullptr;
  *out = std::strtod(s, &end);
  return end != s && *end == '\0' && *out >= 0;
}

int parse_options(int argc, char** argv, options* opt) {
  enum : int {
    kUrl = 1000,
    kSendUrl,
    kDirect,
    kEngine,
    kAddress,
    kSize,
    kCredit,
    kSettle,
    kCount,
    kDuration,
    kRate,
    kWarmup,
    kJson,
    kSasl,
    kIdle,
    kHold,
    kStall,
    kHelp
  };
  static const option long_opts[] = {
      {"url", required_argument, nullptr, kUrl},
      {"send-url", required_argument, nullptr, kSendUrl},
      {"direct", no_argument, nullptr, kDirect},
      {"engine", required_argument, nullptr, kEngine},
      {"address", required_argument, nullptr, kAddress},
      {"size", required_argument, nullptr, kSize},
      {"credit", required_argument, nullptr, kCredit},
      {"settle", required_argument, nullptr, kSettle},
      {"count", required_argument, nullptr, kCount},
      {"duration", required_argument, nullptr, kDuration},
      {"rate", required_argument, nullptr, kRate},
      {"warmup", required_argument, nullptr, kWarmup},
      {"json", no_argument, nullptr, kJson},
      {"sasl", required_argument, nullptr, kSasl},
      {"idle-connections", required_argument, nullptr, kIdle},
      {"hold", required_argument, nullptr, kHold},
      {"stall-timeout", required_argument, nullptr, kStall},
      {"help", no_argument, nullptr, kHelp},
      {nullptr, 0, nullptr, 0},
  };
  int c = 0;
  while ((c = getopt_long(argc, argv, "h", long_opts, nullptr)) != -1) {
    double v = 0;
    const bool numeric = c == kSize || c == kCredit || c == kCount || c == kDuration ||
                         c == kRate || c == kWarmup || c == kIdle || c == kHold || c == kStall;
    if (numeric && !parse_number(optarg, &v)) {
      std::fprintf(stderr, "fogmesh-bench: invalid number '%s'\n", optarg);
      return 1;
    }
    switch (c) {
      case kUrl:
        opt->url = optarg;
        break;
      case kSendUrl:
        opt->send_url = optarg;
        break;
      case kDirect:
        opt->direct = true;
        break;
      case kAddress:
        opt->address = optarg;
        break;
      case kSize:
        opt->size = static_cast<size_t>(v);
        break;
      case kCredit:
        opt->credit = static_cast<int>(v);
        break;
      case kCount:
        opt->count = static_cast<uint64_t>(v);
        break;
      case kDuration:
        opt->duration_s = v;
        break;
      case kRate:
        opt->rate = v;
        break;
      case kWarmup:
        opt->warmup_s = v;
        break;
      case kJson:
        opt->json = true;
        break;
      case kIdle:
        opt->idle_connections = static_cast<int>(v);
        break;
      case kHold:
        opt->hold_s = v;
        break;
      case kStall:
        opt->stall_timeout_s = v;
        break;
      case kEngine:
        if (std::strcmp(optarg, "native") == 0) {
          opt->engine = engine_kind::native;
        } else if (std::strcmp(optarg, "proton") == 0) {
          opt->engine = engine_kind::proton;
        } else {
          std::fprintf(stderr, "fogmesh-bench: --engine must be native or proton\n");
          return 1;
        }
        break;
      case kSettle:
        if (std::strcmp(optarg, "unsettled") == 0) {
          opt->settle = settle_mode::unsettled;
        } else if (std::strcmp(optarg, "presettled") == 0) {
          opt->settle = settle_mode::presettled;
        } else {
          std::fprintf(stderr, "fogmesh-bench: --settle must be unsettled or presettled\n");
          return 1;
        }
        break;
      case kSasl:
        if (std::strcmp(optarg, "none") == 0 || std::strcmp(optarg, "anonymous") == 0) {
          opt->sasl = std::strcmp(optarg, "anonymous") == 0;
        } else {
          std::fprintf(stderr, "fogmesh-bench: --sasl must be none or anonymous\n");
          return 1;
        }
        break;
      case kHelp:
      case 'h':
        usage(stdout);
        std::exit(0);
      default:
        usage(stderr);
        return 1;
    }
  }
  if (optind < argc) {
    std::fprintf(stderr, "fogmesh-bench: unexpected argument '%s'\n", argv[optind]);
    return 1;
  }
  if (opt->direct == !opt->url.empty()) {
    std::fprintf(stderr, "fogmesh-bench: give exactly one of --url HOST:PORT or --direct\n");
    return 1;
  }
  if (!opt->direct) {
    if (!split_host_port(opt->url, &opt->host, &opt->port)) {
      std::fprintf(stderr, "fogmesh-bench: --url must be HOST:PORT, got '%s'\n", opt->url.c_str());
      return 1;
    }
    opt->send_host = opt->host;
    opt->send_port = opt->port;
    if (!opt->send_url.empty() &&
        !split_host_port(opt->send_url, &opt->send_host, &opt->send_port)) {
      std::fprintf(stderr, "fogmesh-bench: --send-url must be HOST:PORT, got '%s'\n",
                   opt->send_url.c_str());
      return 1;
    }
  }
  if (opt->idle_connections > 0) {
    if (opt->direct) {
      std::fprintf(stderr, "fogmesh-bench: --idle-connections needs --url\n");
      return 1;
    }
    return 0;
  }
  if (opt->size < kStampBytes) {
    std::fprintf(stderr, "fogmesh-bench: --size must be at least %zu (timestamp + sequence)\n",
                 kStampBytes);
    return 1;
  }
  if (opt->credit < 1) {
    std::fprintf(stderr, "fogmesh-bench: --credit must be at least 1\n");
    return 1;
  }
  if (opt->count > 0 && opt->duration_s > 0) {
    std::fprintf(stderr, "fogmesh-bench: give --count or --duration, not both\n");
    return 1;
  }
  if (opt->count == 0 && opt->duration_s == 0) {
    opt->count = 1'000'000;
  }
  return 0;
}

}  // namespace
}  // namespace fogmesh::bench

int main(int argc, char** argv) {
  using namespace fogmesh::bench;
  options opt;
  if (int rc = parse_options(argc, argv, &opt); rc != 0) {
    return rc;
  }
  if (opt.idle_connections > 0) {
    return run_idle_connections(opt);
  }
  return opt.engine == engine_kind::native ? run_native_load(opt) : run_proton_load(opt);
}
