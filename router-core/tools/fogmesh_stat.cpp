// fogmesh-stat: a router's state as tables, like qdstat, over AMQP management ($management).
// It speaks to any router with qdrouterd's management entities (fogmesh-router, qdrouterd).
//
//   fogmesh-stat [-b HOST:PORT] (-g | -c | -l | -a | -n | -m) [--router ID] [--json]
//
// Proton C++ is the client library (the router's own engine is not a client).
#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/duration.hpp>
#include <proton/error_condition.hpp>
#include <proton/message.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/sender.hpp>
#include <proton/source.hpp>
#include <proton/source_options.hpp>
#include <proton/transport.hpp>
#include <proton/types.hpp>
#include <proton/work_queue.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr const char* type_prefix = "org.apache.qpid.dispatch.";

struct view {
  const char* option;
  const char* entity;
  const char* title;
  std::vector<std::pair<std::string, std::string>> columns;  // attribute, heading
  bool key_value = false;  // one entity shown as attribute/value lines
};

const std::vector<view>& views() {
  static const std::vector<view> v = {
      {"-g", "router", "Router Statistics",
       {{"id", "Router Id"}, {"mode", "Mode"}, {"version", "Version"},
        {"workerThreads", "Worker Threads"}, {"uptimeSeconds", "Uptime (s)"},
        {"connectionCount", "Connections"}, {"linkCount", "Links"}, {"addrCount", "Addresses"},
        {"nodeCount", "Nodes"}, {"linkRouteCount", "Link Routes"},
        {"autoLinkCount", "Auto Links"}, {"deliveriesIngress", "Ingress Deliveries"},
        {"deliveriesEgress", "Egress Deliveries"}, {"releasedDeliveries", "Released"},
        {"modifiedDeliveries", "Modified"},
        {"droppedPresettledDeliveries", "Dropped Presettled"},
        {"deliveriesAborted", "Aborted"}},
       true},
      {"-c", "connection", "Connections",
       {{"identity", "id"}, {"host", "host"}, {"container", "container"}, {"role", "role"},
        {"dir", "dir"}, {"user", "user"}, {"isEncrypted", "encrypted"},
        {"linkCount", "links"}}},
      {"-l", "router.link", "Router Links",
       {{"linkType", "type"}, {"linkDir", "dir"}, {"connectionId", "conn id"},
        {"identity", "id"}, {"owningAddr", "addr"}, {"capacity", "cap"},
        {"creditAvailable", "credit"}, {"undeliveredCount", "undel"},
        {"unsettledCount", "unsett"}, {"deliveryCount", "deliv"}, {"releasedCount", "rel"}}},
      {"-a", "router.address", "Router Addresses",
       {{"key", "addr"}, {"distribution", "distrib"}, {"subscriberCount", "local"},
        {"remoteCount", "remote"}, {"deliveriesIngress", "in"},
        {"deliveriesEgress", "out"}}},
      {"-n", "router.node", "Routers in the Network",
       {{"id", "router-id"}, {"nextHop", "next-hop"}, {"cost", "cost"}}},
      {"-m", "router", "Memory",
       {{"memoryUsage", "Memory Usage (bytes)"}, {"liveDeliveries", "Deliveries In Flight"}},
       true},
  };
  return v;
}

std::string text(const proton::value& v) {
  using proton::type_id;
  switch (v.type()) {
    case proton::NULL_TYPE: return "-";
    case proton::STRING: return proton::get<std::string>(v);
    case proton::SYMBOL: return proton::get<proton::symbol>(v);
    case proton::BOOLEAN: return proton::get<bool>(v) ? "true" : "false";
    case proton::LIST: {
      std::string out;
      for (const auto& item : proton::get<std::vector<proton::value>>(v)) {
        if (!out.empty()) out += ",";
        out += text(item);
      }
      return out;
    }
    default: {
      std::ostringstream s;
      s << v;
      return s.str();
    }
  }
}

class stat_client : public proton::messaging_handler {
 public:
  stat_client(std::string url, std::string node, const view& v, bool json)
      : url_(std::move(url)), node_(std::move(node)), view_(v), json_(json) {}

  int status = 1;
  std::string error;

  void on_container_start(proton::container& c) override {
    c.connect(url_, proton::connection_options().idle_timeout(proton::duration(30000)));
    c.schedule(proton::duration(1000), [this, &c] { tick(c); });
  }
  // Once a second until answered: repeat the request every 2 s (a remote router's answer can
  // only come back once the mesh knows our reply address), give up after 15 s. No timer is
  // left pending once done, so run() returns at once.
  void tick(proton::container& c) {
    if (done_) return;
    if (++seconds_ >= 15) {
      done_ = true;
      error = "no answer from " + node_ + " at " + url_ + " within 15 s";
      c.stop();
      return;
    }
    if (sent_ && seconds_ % 2 == 0) send_request();
    c.schedule(proton::duration(1000), [this, &c] { tick(c); });
  }
  void on_connection_open(proton::connection& conn) override {
    conn.open_receiver("", proton::receiver_options().source(
                               proton::source_options().dynamic(true)));
  }
  void on_receiver_open(proton::receiver& r) override {
    reply_to_ = r.source().address();
    r.connection().open_sender(node_);
  }
  void on_sendable(proton::sender& s) override {
    if (sent_) return;
    sent_ = true;
    sender_ = s;
    send_request();
  }
  // A remote router's answer travels back to our reply address, which the mesh learns about a
  // moment after we attach it: until an answer comes, ask again every 2 s.
  void send_request() {
    if (done_) return;
    proton::message m;
    m.reply_to(reply_to_);
    m.correlation_id(std::string("fogmesh-stat"));
    m.properties().put("operation", std::string("QUERY"));
    m.properties().put("type", std::string("org.amqp.management"));
    m.properties().put("entityType", std::string(type_prefix) + view_.entity);
    std::vector<proton::value> names;
    for (const auto& [attribute, heading] : view_.columns) names.emplace_back(attribute);
    std::map<std::string, proton::value> body;
    body["attributeNames"] = names;
    m.body(body);
    if (sender_.credit() > 0) sender_.send(m);
  }
  void on_message(proton::delivery& d, proton::message& m) override {
    if (done_) return;  // an answer to a repeated request
    done_ = true;
    try {
      const auto code = m.properties().get("statusCode");
      const auto status_code = code.empty() ? 0 : proton::coerce<std::int64_t>(code);
      if (status_code != 200) {
        error = "management answered " + std::to_string(status_code) + " " +
                text(m.properties().get("statusDescription"));
      } else {
        print(m.body());
        status = 0;
      }
    } catch (const std::exception& e) {
      error = std::string("unexpected answer: ") + e.what();
    }
    d.connection().close();
  }
  void on_transport_error(proton::transport& t) override {
    if (error.empty()) error = t.error().what();
    t.connection().container().stop();
  }
  void on_transport_close(proton::transport& t) override { t.connection().container().stop(); }
  void on_sender_error(proton::sender& s) override {
    error = "cannot reach " + node_ + ": " + s.error().what();
    s.connection().close();
  }

 private:
  void print(const proton::value& body) {
    auto map = proton::get<std::map<std::string, proton::value>>(body);
    auto names = proton::get<std::vector<proton::value>>(map["attributeNames"]);
    auto results = proton::get<std::vector<proton::value>>(map["results"]);
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : results) {
      std::vector<std::string> row;
      for (const auto& cell : proton::get<std::vector<proton::value>>(r)) row.push_back(text(cell));
      rows.push_back(std::move(row));
    }
    if (json_) {
      std::cout << "[";
      for (std::size_t i = 0; i < rows.size(); ++i) {
        std::cout << (i ? ",\n {" : "{");
        for (std::size_t c = 0; c < names.size() && c < rows[i].size(); ++c) {
          std::cout << (c ? ", " : "") << "\"" << text(names[c]) << "\": \"" << rows[i][c]
                    << "\"";
        }
        std::cout << "}";
      }
      std::cout << "]\n";
      return;
    }
    std::cout << view_.title << "\n\n";
    if (view_.key_value) {
      std::size_t width = 0;
      for (const auto& [a, heading] : view_.columns) width = std::max(width, heading.size());
      for (const auto& row : rows) {
        for (std::size_t c = 0; c < view_.columns.size() && c < row.size(); ++c) {
          std::printf("  %-*s  %s\n", static_cast<int>(width), view_.columns[c].second.c_str(),
                      row[c].c_str());
        }
      }
      return;
    }
    std::vector<std::size_t> widths;
    for (const auto& [a, heading] : view_.columns) widths.push_back(heading.size());
    for (const auto& row : rows) {
      for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c) {
        widths[c] = std::max(widths[c], row[c].size());
      }
    }
    auto line = [&](const std::vector<std::string>& cells) {
      std::string out = " ";
      for (std::size_t c = 0; c < widths.size(); ++c) {
        std::string cell = c < cells.size() ? cells[c] : "";
        cell.resize(widths[c], ' ');
        out += cell + "  ";
      }
      while (!out.empty() && out.back() == ' ') out.pop_back();
      std::cout << out << "\n";
    };
    std::vector<std::string> headings;
    for (const auto& [a, heading] : view_.columns) headings.push_back(heading);
    line(headings);
    std::vector<std::string> rule;
    for (auto w : widths) rule.emplace_back(w, '=');
    line(rule);
    for (const auto& row : rows) line(row);
  }

  std::string url_, node_;
  const view& view_;
  bool json_;
  std::string reply_to_;
  proton::sender sender_;
  bool sent_ = false, done_ = false;
  int seconds_ = 0;
};

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: fogmesh-stat [-b HOST:PORT] OPTION [--router ID] [--json]\n"
               "Shows a router's state over AMQP management (like qdstat).\n"
               "  -b, --bus HOST:PORT  router to connect to (default 127.0.0.1:5672)\n"
               "  -g, --general        router statistics\n"
               "  -c, --connections    connections\n"
               "  -l, --links          router links\n"
               "  -a, --address        router addresses\n"
               "  -n, --nodes          other routers of the mesh\n"
               "  -m, --memory         memory use\n"
               "  --router ID          ask router ID of the mesh instead (through the one at -b)\n"
               "  --json               rows as JSON objects\n"
               "  -h, --help           this text\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string bus = "127.0.0.1:5672", router;
  const view* chosen = nullptr;
  bool json = false;
  const std::map<std::string, std::string> long_names = {
      {"--general", "-g"}, {"--connections", "-c"}, {"--links", "-l"},
      {"--address", "-a"}, {"--nodes", "-n"},       {"--memory", "-m"}};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (auto it = long_names.find(a); it != long_names.end()) a = it->second;
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else if ((a == "-b" || a == "--bus") && i + 1 < argc) {
      bus = argv[++i];
    } else if (a == "--router" && i + 1 < argc) {
      router = argv[++i];
    } else if (a == "--json") {
      json = true;
    } else {
      auto it = std::find_if(views().begin(), views().end(),
                             [&](const view& v) { return a == v.option; });
      if (it == views().end()) {
        std::fprintf(stderr, "fogmesh-stat: unknown option '%s'\n", argv[i]);
        usage(stderr);
        return 2;
      }
      if (chosen != nullptr) {
        std::fprintf(stderr, "fogmesh-stat: give one of -g -c -l -a -n -m\n");
        return 2;
      }
      chosen = &*it;
    }
  }
  if (chosen == nullptr) {
    usage(stderr);
    return 2;
  }
  const std::string node = router.empty() ? "$management" : "_topo/0/" + router + "/$management";
  stat_client client("amqp://" + bus, node, *chosen, json);
  try {
    proton::container(client, "fogmesh-stat").run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fogmesh-stat: %s\n", e.what());
    return 1;
  }
  if (client.status != 0) {
    std::fprintf(stderr, "fogmesh-stat: %s\n",
                 client.error.empty() ? "no answer" : client.error.c_str());
  }
  return client.status;
}
