#include "management/metrics.hpp"

#include <cstdint>
#include <cstdio>
#include <map>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "management/entities.hpp"
#include "server/shard.hpp"

namespace fogmesh::router::management {

namespace {

// What one shard reports: management rows (the same numbers qdstat/fogmesh-stat show) and the
// counters management has no attribute for.
struct shard_snapshot {
  unsigned index = 0;
  value_list router, connections, links, addresses;
  std::uint64_t credit_stalls = 0;
  std::uint64_t busy_ns = 0;
  std::uint64_t loop_turns = 0;
  std::uint64_t completions = 0;
};

const entity_type& type_named(std::string_view name) {
  const entity_type* t = find_type(name);
  return *t;  // the names below are all in entity_types()
}

std::int64_t integer(const value_map& row, std::string_view key) {
  const value* v = find(row, key);
  if (v == nullptr) return 0;
  if (const auto* i = std::get_if<std::int64_t>(&v->v)) return *i;
  return 0;
}

std::string text(const value_map& row, std::string_view key) {
  const value* v = find(row, key);
  return v == nullptr || v->is_null() ? std::string() : v->to_text();
}

// Management's address keys carry qdrouterd's class and phase prefix ("M0orders"): metrics
// label the address as users wrote it, with the phase only where it is not 0.
std::pair<std::string, std::string> address_and_phase(const std::string& key) {
  if (key.size() >= 2 && key[0] == 'M' && key[1] >= '0' && key[1] <= '9') {
    return {key.substr(2), key[1] == '0' ? std::string() : std::string(1, key[1])};
  }
  return {key, std::string()};
}

class writer {
 public:
  // A metric family: HELP and TYPE once, then samples.
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  using labels = std::vector<std::pair<std::string_view, std::string>>;
  void sample(std::string_view name, const labels& labels, std::string_view number) {
    out_ += name;
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        out_ += escape_label(v);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += number;
    out_ += '\n';
  }
  void sample(std::string_view name, const labels& labels, std::int64_t number) {
    sample(name, labels, std::to_string(number));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// A metric family whose samples are one management attribute of each row.
struct row_metric {
  const char* metric;
  const char* type;
  const char* attribute;
  const char* help;
};

template <class Rows, class LabelsOf>
void write_families(writer& w, std::span<const row_metric> families, const Rows& rows,
                    LabelsOf labels_of) {
  for (const auto& f : families) {
    w.family(f.metric, f.type, f.help);
    for (const value_map* m : rows) w.sample(f.metric, labels_of(*m), integer(*m, f.attribute));
  }
}

std::vector<const value_map*> maps_of(const value_list& rows) {
  std::vector<const value_map*> out;
  for (const auto& row : rows) {
    if (const value_map* m = row.map()) out.push_back(m);
  }
  return out;
}

std::string render(std::vector<shard_snapshot> shards) {
  std::vector<value_list> router_rows, connection_rows, link_rows, address_rows;
  for (auto& s : shards) {
    router_rows.push_back(std::move(s.router));
    connection_rows.push_back(std::move(s.connections));
    link_rows.push_back(std::move(s.links));
    address_rows.push_back(std::move(s.addresses));
  }
  const value_list router = merge_rows(type_named("router"), std::move(router_rows));
  const value_list addresses = merge_rows(type_named("router.address"), std::move(address_rows));
  writer w;

  if (!router.empty() && router.front().map() != nullptr) {
    const value_map& r = *router.front().map();
    w.family("fogmesh_router_info", "gauge", "The router: id, mode and version (always 1).");
    w.sample("fogmesh_router_info",
             {{"id", text(r, "id")}, {"mode", text(r, "mode")}, {"version", text(r, "version")}},
             1);
    w.family("fogmesh_router_uptime_seconds", "gauge", "Seconds since the router started.");
    w.sample("fogmesh_router_uptime_seconds", {}, integer(r, "uptimeSeconds"));
    w.family("fogmesh_resident_memory_bytes", "gauge", "Resident set size of the router.");
    w.sample("fogmesh_resident_memory_bytes", {}, integer(r, "memoryUsage"));
    w.family("fogmesh_live_deliveries", "gauge",
             "Deliveries the router holds (in transit or awaiting settlement).");
    w.sample("fogmesh_live_deliveries", {}, integer(r, "liveDeliveries"));
    static constexpr row_metric counters[] = {
        {"fogmesh_deliveries_ingress_total", "counter", "deliveriesIngress",
         "Deliveries received from senders."},
        {"fogmesh_deliveries_egress_total", "counter", "deliveriesEgress",
         "Deliveries sent to receivers."},
        {"fogmesh_deliveries_released_total", "counter", "releasedDeliveries",
         "Deliveries released back to their sender."},
        {"fogmesh_deliveries_modified_total", "counter", "modifiedDeliveries",
         "Deliveries returned to their sender as modified (their path broke)."},
        {"fogmesh_deliveries_dropped_presettled_total", "counter", "droppedPresettledDeliveries",
         "Pre-settled deliveries dropped for want of a receiver."},
        {"fogmesh_deliveries_aborted_total", "counter", "deliveriesAborted",
         "Deliveries their sender aborted."},
    };
    write_families(w, counters, std::vector<const value_map*>{&r},
                   [](const value_map&) { return writer::labels{}; });
  }

  std::uint64_t stalls = 0;
  for (const auto& s : shards) stalls += s.credit_stalls;
  w.family("fogmesh_credit_stalls_total", "counter",
           "Deliveries queued on an outgoing link that had no credit (a receiver held them up).");
  w.sample("fogmesh_credit_stalls_total", {}, static_cast<std::int64_t>(stalls));

  std::map<std::string, std::int64_t> by_role;
  for (const auto& rows : connection_rows) {
    for (const auto& row : rows) {
      if (const value_map* m = row.map()) ++by_role[text(*m, "role")];
    }
  }
  w.family("fogmesh_connections", "gauge", "Open AMQP connections by role.");
  for (const char* role : {"normal", "inter-router", "edge", "route-container", "uplink"}) {
    auto it = by_role.find(role);
    w.sample("fogmesh_connections", {{"role", role}}, it == by_role.end() ? 0 : it->second);
  }

  w.family("fogmesh_shard_busy_seconds_total", "counter",
           "Time each shard's event loop spent handling completions; its rate is the shard's "
           "utilisation (1 = a full core).");
  for (const auto& s : shards) {
    const std::string shard = std::to_string(s.index);
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.6f", static_cast<double>(s.busy_ns) / 1e9);
    w.sample("fogmesh_shard_busy_seconds_total", {{"shard", shard}}, seconds);
  }
  w.family("fogmesh_shard_loop_turns_total", "counter",
           "Event loop wake-ups per shard (each handles a batch of completions).");
  for (const auto& s : shards) {
    w.sample("fogmesh_shard_loop_turns_total", {{"shard", std::to_string(s.index)}},
             static_cast<std::int64_t>(s.loop_turns));
  }
  w.family("fogmesh_shard_completions_total", "counter", "io_uring completions per shard.");
  for (const auto& s : shards) {
    w.sample("fogmesh_shard_completions_total", {{"shard", std::to_string(s.index)}},
             static_cast<std::int64_t>(s.completions));
  }

  static constexpr row_metric address_families[] = {
      {"fogmesh_address_deliveries_ingress_total", "counter", "deliveriesIngress",
       "Deliveries routed to each address."},
      {"fogmesh_address_deliveries_egress_total", "counter", "deliveriesEgress",
       "Deliveries sent from each address to its receivers."},
      {"fogmesh_address_dropped_total", "counter", "deliveriesDropped",
       "Deliveries to each address released or dropped for want of a receiver."},
      {"fogmesh_address_receivers", "gauge", "subscriberCount",
       "Consumers (receiver links and routes to other routers) of each address."},
  };
  write_families(w, address_families, maps_of(addresses), [](const value_map& m) {
    auto [address, phase] = address_and_phase(text(m, "key"));
    writer::labels labels{{"address", std::move(address)}};
    if (!phase.empty()) labels.emplace_back("phase", std::move(phase));
    return labels;
  });

  static constexpr row_metric link_families[] = {
      {"fogmesh_link_deliveries_total", "counter", "deliveryCount",
       "Deliveries that crossed each link."},
      {"fogmesh_link_released_total", "counter", "releasedCount",
       "Deliveries released on each link."},
      {"fogmesh_link_dropped_presettled_total", "counter", "droppedPresettledCount",
       "Pre-settled deliveries dropped on each link."},
      {"fogmesh_link_unsettled", "gauge", "unsettledCount", "Unsettled deliveries on each link."},
      {"fogmesh_link_undelivered", "gauge", "undeliveredCount",
       "Deliveries waiting on each outgoing link for credit."},
      {"fogmesh_link_credit", "gauge", "creditAvailable", "Credit available on each link."},
  };
  std::vector<const value_map*> links;
  for (const auto& rows : link_rows) {
    auto more = maps_of(rows);
    links.insert(links.end(), more.begin(), more.end());
  }
  write_families(w, link_families, links, [](const value_map& m) {
    return writer::labels{{"connection", text(m, "connectionId")},
                          {"link", text(m, "identity")},
                          {"dir", text(m, "linkDir")},
                          {"address", address_and_phase(text(m, "owningAddr")).first}};
  });
  return w.take();
}

}  // namespace

std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void collect_metrics(shard& origin, std::function<void(std::string)> done) {
  origin.gather<shard_snapshot>(
      [](shard& s) {
        shard_snapshot snap;
        snap.index = s.index();
        snap.router = shard_rows(s, type_named("router"));
        snap.connections = shard_rows(s, type_named("connection"));
        snap.links = shard_rows(s, type_named("router.link"));
        snap.addresses = shard_rows(s, type_named("router.address"));
        snap.credit_stalls = s.core().counters().credit_stalls;
        snap.busy_ns = s.loop().busy_ns();
        snap.loop_turns = s.loop().loop_turns();
        snap.completions = s.loop().completions();
        return snap;
      },
      [done = std::move(done)](std::vector<shard_snapshot> shards) {
        done(render(std::move(shards)));
      });
}

}  // namespace fogmesh::router::management
