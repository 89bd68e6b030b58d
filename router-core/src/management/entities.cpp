#include "management/entities.hpp"

#include <algorithm>
#include <charconv>
#include <mutex>
#include <cstdio>
#include <unistd.h>

#include "engine/amqp_connection.hpp"
#include "fogmesh/common/log.hpp"
#include "fogmesh/router/version.hpp"
#include "mesh/mesh_agent.hpp"
#include "server/shard.hpp"

namespace fogmesh::router::management {

namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("router.management");
  return l;
}

const std::vector<std::string> config_operations = {"CREATE", "READ", "UPDATE", "DELETE",
                                                    "QUERY"};
const std::vector<std::string> state_operations = {"READ", "QUERY"};

// Secrets are accepted on CREATE but never read back.
bool secret(std::string_view attribute) {
  return attribute == "saslPassword" || attribute == "password";
}

std::vector<entity_type> build_types() {
  std::vector<entity_type> types;
  types.push_back({"router",
                   "",
                   true,
                   {"identity", "name", "type", "id", "mode", "version", "workerThreads",
                    "uptimeSeconds", "connectionCount", "linkCount", "addrCount", "nodeCount",
                    "linkRouteCount", "autoLinkCount", "deliveriesIngress", "deliveriesEgress",
                    "deliveriesTransit", "releasedDeliveries", "modifiedDeliveries",
                    "droppedPresettledDeliveries", "deliveriesAborted", "liveDeliveries",
                    "memoryUsage"},
                   state_operations,
                   {"connectionCount", "linkCount", "deliveriesIngress", "deliveriesEgress",
                    "releasedDeliveries", "modifiedDeliveries", "droppedPresettledDeliveries",
                    "deliveriesAborted", "liveDeliveries"}});
  types.push_back({"connection",
                   "",
                   true,
                   {"identity", "name", "type", "host", "role", "dir", "container",
                    "isAuthenticated", "user", "isEncrypted", "operStatus", "sessionCount",
                    "linkCount", "shard"},
                   state_operations,
                   {}});
  types.push_back({"router.link",
                   "",
                   true,
                   {"identity", "name", "type", "linkName", "linkType", "linkDir", "owningAddr",
                    "capacity", "creditAvailable", "undeliveredCount", "unsettledCount",
                    "deliveryCount", "releasedCount", "droppedPresettledCount", "connectionId",
                    "operStatus", "adminStatus"},
                   state_operations,
                   {}});
  types.push_back({"router.address",
                   "",
                   true,
                   {"identity", "name", "type", "key", "distribution", "subscriberCount",
                    "remoteCount", "containerCount", "deliveriesIngress", "deliveriesEgress",
                    "priority", "deliveriesDropped"},  // the last one is fogmesh's
                   state_operations,
                   {"subscriberCount", "deliveriesIngress", "deliveriesEgress",
                    "deliveriesDropped"}});
  // Other routers of the mesh as shard 0's routing agent knows them (interior routers only).
  types.push_back({"router.node",
                   "",
                   true,
                   {"identity", "name", "type", "id", "protocolVersion", "instance",
                    "linkState", "nextHop", "address", "cost"},
                   state_operations,
                   {}});
  for (const entity_schema& schema : config_schema()) {
    if (schema.name == "router") continue;
    entity_type t;
    t.name = schema.long_name;
    t.config_name = schema.name;
    t.attributes = {"identity", "name", "type"};
    for (const auto& a : schema.attributes) {
      if (!a.alias_of.empty() || a.name == "name" || secret(a.name)) continue;
      t.attributes.push_back(a.name);
    }
    t.operations = config_operations;
    types.push_back(std::move(t));
  }
  return types;
}

response error(int status, std::string description) {
  response r;
  r.status = status;
  r.description = std::move(description);
  return r;
}

value typed_attribute(const entity_schema* schema, const config_attribute& a) {
  const attribute_schema* as = schema != nullptr ? schema->find(a.name) : nullptr;
  if (as != nullptr && as->type == attribute_type::integer) {
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(a.value.data(), a.value.data() + a.value.size(), n);
    if (ec == std::errc{} && p == a.value.data() + a.value.size()) return value{n};
  }
  if (as != nullptr && as->type == attribute_type::boolean) {
    if (a.value == "true" || a.value == "yes" || a.value == "1") return value{true};
    if (a.value == "false" || a.value == "no" || a.value == "0") return value{false};
  }
  return value{a.value};
}

value_map row_of(const entity_type& type, const config_entity& e) {
  const entity_schema* schema = find_entity_schema(type.config_name);
  value_map row;
  std::string name;
  for (const auto& a : e.attributes) {
    if (a.name == "name") name = a.value;
  }
  row.emplace_back("identity", value{name});
  row.emplace_back("name", value{name});
  row.emplace_back("type", value{std::string(type_prefix) + type.name});
  for (const auto& a : e.attributes) {
    if (a.name == "name" || secret(a.name)) continue;
    row.emplace_back(a.name, typed_attribute(schema, a));
  }
  // Defaults for what the entity did not set, as qdrouterd reports them.
  if (schema != nullptr) {
    for (const auto& as : schema->attributes) {
      if (as.default_value.empty() || !as.alias_of.empty() || find(row, as.name) != nullptr) {
        continue;
      }
      row.emplace_back(as.name, typed_attribute(schema, {as.name, as.default_value, false, 0}));
    }
  }
  return row;
}

std::string entity_name(const config_entity& e) {
  for (const auto& a : e.attributes) {
    if (a.name == "name") return a.value;
  }
  return {};
}

// Resident set size of the process (qdrouterd's router.memoryUsage).
std::int64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long pages = 0, resident = 0;
  const int n = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<std::int64_t>(resident) * sysconf(_SC_PAGESIZE) : 0;
}

const char* role_name(connection_role r) {
  switch (r) {
    case connection_role::inter_router: return "inter-router";
    case connection_role::edge: return "edge";
    case connection_role::route_container: return "route-container";
    case connection_role::uplink: return "uplink";
    case connection_role::normal: break;
  }
  return "normal";
}

const char* distribution_name(distribution d) {
  switch (d) {
    case distribution::closest: return "closest";
    case distribution::multicast: return "multicast";
    case distribution::unavailable: return "unavailable";
    case distribution::balanced: break;
  }
  return "balanced";
}

const char* mode_name(router_mode m) {
  switch (m) {
    case router_mode::interior: return "interior";
    case router_mode::edge: return "edge";
    case router_mode::standalone: break;
  }
  return "standalone";
}

// qdrouterd's address keys: class letter + phase digit + address ("M0queue").
std::string address_key(const std::string& table_key, int* phase_out = nullptr) {
  const auto sep = table_key.find('\x1f');
  const std::string address = table_key.substr(0, sep);
  const int phase = sep == std::string::npos ? 0 : std::atoi(table_key.c_str() + sep + 1);
  if (phase_out != nullptr) *phase_out = phase;
  return "M" + std::to_string(phase) + address;
}

}  // namespace

const std::vector<entity_type>& entity_types() {
  static const std::vector<entity_type> types = build_types();
  return types;
}

const entity_type* find_type(std::string_view name) {
  for (std::string_view prefix : {type_prefix, std::string_view("io.skupper.router.")}) {
    if (name.starts_with(prefix)) {
      name.remove_prefix(prefix.size());
      break;
    }
  }
  for (const auto& t : entity_types()) {
    if (t.name == name || (!t.config_name.empty() && t.config_name == name)) return &t;
  }
  return nullptr;
}

value type_catalogue() {
  value_map m;
  for (const auto& t : entity_types()) {
    value_list parents{value{"org.amqp.management"}};
    if (!t.config_name.empty()) {
      parents.push_back(value{std::string(type_prefix) + "configurationEntity"});
    } else {
      parents.push_back(value{std::string(type_prefix) + "operationalEntity"});
    }
    m.emplace_back(std::string(type_prefix) + t.name, value{std::move(parents)});
  }
  return value{std::move(m)};
}

value attribute_catalogue() {
  value_map m;
  for (const auto& t : entity_types()) {
    value_list names(t.attributes.begin(), t.attributes.end());
    m.emplace_back(std::string(type_prefix) + t.name, value{std::move(names)});
  }
  return value{std::move(m)};
}

value operation_catalogue() {
  value_map m;
  for (const auto& t : entity_types()) {
    value_list ops(t.operations.begin(), t.operations.end());
    m.emplace_back(std::string(type_prefix) + t.name, value{std::move(ops)});
  }
  return value{std::move(m)};
}

value_list config_rows(shard_group& group, const entity_type& type) {
  value_list rows;
  std::lock_guard lock(group.config_mutex);
  for (const auto& e : group.entities) {
    const entity_schema* schema = find_entity_schema(e.type);
    if (schema == nullptr || schema->name != type.config_name) continue;
    rows.push_back(value{row_of(type, e)});
  }
  return rows;
}

value_list shard_rows(shard& s, const entity_type& type) {
  value_list rows;
  const std::string full_type = std::string(type_prefix) + type.name;
  router_core& core = s.core();
  if (type.name == "router") {
    const auto& c = core.counters();
    std::size_t links = 0;
    for (const auto& conn : s.connections()) links += conn->link_count();
    const auto& settings = s.config().router;
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::steady_clock::now() - s.group().started);
    value_map r;
    r.emplace_back("identity", value{"router/" + settings.id});
    r.emplace_back("name", value{"router/" + settings.id});
    r.emplace_back("type", value{full_type});
    r.emplace_back("id", value{settings.id});
    r.emplace_back("mode", value{mode_name(settings.mode)});
    r.emplace_back("version", value{version()});
    r.emplace_back("workerThreads", value{s.group().size()});
    r.emplace_back("uptimeSeconds", value{static_cast<std::int64_t>(uptime.count())});
    r.emplace_back("connectionCount", value{s.connection_count()});
    r.emplace_back("linkCount", value{links});
    r.emplace_back("addrCount", value{core.addresses().entries().size()});
    r.emplace_back("nodeCount", value{s.mesh() != nullptr ? s.mesh()->node_count() : 0});
    {
      std::lock_guard lock(s.group().config_mutex);
      r.emplace_back("linkRouteCount", value{s.group().config.link_routes.size()});
      r.emplace_back("autoLinkCount", value{s.group().config.auto_links.size()});
    }
    r.emplace_back("deliveriesIngress", value{c.deliveries_ingress});
    r.emplace_back("deliveriesEgress", value{c.deliveries_egress});
    r.emplace_back("deliveriesTransit", value{0});
    r.emplace_back("releasedDeliveries", value{c.deliveries_released});
    r.emplace_back("modifiedDeliveries", value{c.deliveries_modified});
    r.emplace_back("droppedPresettledDeliveries", value{c.dropped_presettled});
    r.emplace_back("deliveriesAborted", value{c.deliveries_aborted});
    r.emplace_back("liveDeliveries", value{core.live_deliveries()});
    r.emplace_back("memoryUsage", value{resident_bytes()});
    rows.push_back(value{std::move(r)});
  } else if (type.name == "connection") {
    for (const auto& conn : s.connections()) {
      if (conn->closed()) continue;
      const connection_settings& cs = conn->settings();
      value_map r;
      r.emplace_back("identity", value{std::to_string(conn->id())});
      r.emplace_back("name", value{"connection/" + conn->peer()});
      r.emplace_back("type", value{full_type});
      r.emplace_back("host", value{conn->peer()});
      r.emplace_back("role", value{role_name(cs.role)});
      r.emplace_back("dir", value{cs.client ? "out" : "in"});
      r.emplace_back("container", value{conn->container_id()});
      r.emplace_back("isAuthenticated", value{conn->user() != "anonymous"});
      r.emplace_back("user", value{conn->user()});
      r.emplace_back("isEncrypted", value{conn->encrypted()});
      r.emplace_back("operStatus", value{conn->opened() ? "up" : "down"});
      r.emplace_back("sessionCount", value{conn->session_count()});
      r.emplace_back("linkCount", value{conn->link_count()});
      r.emplace_back("shard", value{s.index()});
      rows.push_back(value{std::move(r)});
    }
  } else if (type.name == "router.link") {
    for (const auto& conn : s.connections()) {
      if (conn->closed()) continue;
      conn->for_each_link([&](const link& l) {
        const bool in = l.kind == link_kind::incoming;
        const std::string identity = std::to_string(conn->id()) + "." + std::to_string(l.id);
        value_map r;
        r.emplace_back("identity", value{identity});
        r.emplace_back("name", value{l.name});
        r.emplace_back("type", value{full_type});
        r.emplace_back("linkName", value{l.name});
        r.emplace_back("linkType", value{conn->settings().role == connection_role::inter_router
                                             ? "inter-router"
                                             : "endpoint"});
        r.emplace_back("linkDir", value{in ? "in" : "out"});
        r.emplace_back("owningAddr",
                       l.addr != nullptr ? value{address_key(l.addr->name)} : value{});
        r.emplace_back("capacity", value{in ? l.capacity : 0u});
        r.emplace_back("creditAvailable", value{in ? l.credit_outstanding : l.credit});
        r.emplace_back("undeliveredCount", value{l.queue.size()});
        r.emplace_back("unsettledCount",
                       value{in ? l.sess->in_unsettled.size() : std::size_t{l.unsettled}});
        r.emplace_back("deliveryCount", value{l.deliveries});
        r.emplace_back("releasedCount", value{l.released});
        r.emplace_back("droppedPresettledCount", value{l.dropped_presettled});
        r.emplace_back("connectionId", value{conn->id()});
        r.emplace_back("operStatus", value{"up"});
        r.emplace_back("adminStatus", value{"enabled"});
        rows.push_back(value{std::move(r)});
      });
    }
  } else if (type.name == "router.node") {
    if (s.mesh() != nullptr) rows = s.mesh()->node_rows();
  } else if (type.name == "router.address") {
    for (const auto& [key, a] : core.addresses().entries()) {
      int phase = 0;
      const std::string k = address_key(key, &phase);
      value_map r;
      r.emplace_back("identity", value{k});
      r.emplace_back("name", value{k});
      r.emplace_back("type", value{full_type});
      r.emplace_back("key", value{k});
      r.emplace_back("distribution", value{distribution_name(a->dist)});
      r.emplace_back("subscriberCount", value{a->consumers.size()});
      r.emplace_back("remoteCount", value{0});
      r.emplace_back("containerCount", value{0});
      r.emplace_back("deliveriesIngress", value{a->deliveries_in});
      r.emplace_back("deliveriesEgress", value{a->deliveries_out});
      r.emplace_back("priority", a->priority ? value{*a->priority} : value{-1});
      r.emplace_back("deliveriesDropped", value{a->dropped});
      rows.push_back(value{std::move(r)});
    }
  }
  return rows;
}

value_list merge_rows(const entity_type& type, std::vector<value_list> per_shard) {
  value_list merged;
  for (auto& rows : per_shard) {
    for (auto& row : rows) {
      if (type.summed.empty()) {
        merged.push_back(std::move(row));
        continue;
      }
      // Rows with the same identity (the router itself, an address used on several shards)
      // are one entity: add their counters.
      const value* id = find(*row.map(), "identity");
      auto same = std::find_if(merged.begin(), merged.end(), [&](const value& m) {
        const value* other = find(*m.map(), "identity");
        return id != nullptr && other != nullptr && other->to_text() == id->to_text();
      });
      if (same == merged.end()) {
        merged.push_back(std::move(row));
        continue;
      }
      auto& target = std::get<value_map>(same->v);
      for (const auto& attribute : type.summed) {
        const value* add = find(*row.map(), attribute);
        for (auto& [k, v] : target) {
          if (k != attribute || add == nullptr) continue;
          const auto* a = std::get_if<std::int64_t>(&v.v);
          const auto* b = std::get_if<std::int64_t>(&add->v);
          // Counters wrap rather than overflow (UB) in the sum.
          if (a != nullptr && b != nullptr) {
            v = value{static_cast<std::int64_t>(static_cast<std::uint64_t>(*a) +
                                                static_cast<std::uint64_t>(*b))};
          }
        }
      }
    }
  }
  return merged;
}

response query_response(const request& req, const value_list& rows) {
  std::vector<std::string> names;
  if (const value_map* body = req.body.map()) {
    if (const value* requested = find(*body, "attributeNames"); requested && requested->list()) {
      for (const auto& n : *requested->list()) names.push_back(n.to_text());
    }
  }
  if (names.empty()) {
    // Every attribute that any row has, in first-seen order.
    for (const auto& row : rows) {
      for (const auto& [k, v] : *row.map()) {
        if (std::find(names.begin(), names.end(), k) == names.end()) names.push_back(k);
      }
    }
  }
  std::int64_t offset = 0, count = -1;
  if (const value* o = find(req.properties, "offset")) {
    if (const auto* n = std::get_if<std::int64_t>(&o->v)) offset = std::max<std::int64_t>(0, *n);
  }
  if (const value* c = find(req.properties, "count")) {
    if (const auto* n = std::get_if<std::int64_t>(&c->v)) count = *n;
  }
  value_list results;
  for (std::size_t i = static_cast<std::size_t>(offset); i < rows.size(); ++i) {
    if (count >= 0 && static_cast<std::int64_t>(results.size()) >= count) break;
    value_list out;
    for (const auto& n : names) {
      const value* v = find(*rows[i].map(), n);
      out.push_back(v != nullptr ? *v : value{});
    }
    results.push_back(value{std::move(out)});
  }
  value_map body;
  body.emplace_back("attributeNames", value{value_list(names.begin(), names.end())});
  body.emplace_back("results", value{std::move(results)});
  response r;
  r.body = value{std::move(body)};
  return r;
}

response read_response(const request& req, const value_list& rows) {
  if (req.name.empty() && req.identity.empty()) {
    return error(400, "Bad Request: READ needs a name or identity");
  }
  for (const auto& row : rows) {
    const value* name = find(*row.map(), "name");
    const value* identity = find(*row.map(), "identity");
    if ((!req.name.empty() && name != nullptr && name->to_text() == req.name) ||
        (!req.identity.empty() && identity != nullptr && identity->to_text() == req.identity)) {
      response r;
      r.body = row;
      return r;
    }
  }
  return error(404, "Not Found: no " + req.type + " named '" +
                        (req.name.empty() ? req.identity : req.name) + "'");
}

// ---- CREATE / DELETE ----------------------------------------------------------------------

namespace {

bool changeable(const entity_type& t) {
  return t.config_name == "listener" || t.config_name == "connector" ||
         t.config_name == "address" || find_adaptor(t.config_name) != nullptr;
}

// Pushes the new address configuration to every shard.
void publish_addresses(shard& origin, const router_config& cfg) {
  for (unsigned i = 0; i < origin.group().size(); ++i) {
    origin.post_task(i, [addresses = cfg.addresses,
                         dist = cfg.router.default_distribution](shard& s) {
      s.set_addresses(addresses, dist);
    });
  }
}

response create(shard& origin, const entity_type& type, const request& req) {
  shard_group& group = origin.group();
  config_entity entity;
  entity.type = type.config_name;
  std::string name = req.name;
  if (const value_map* body = req.body.map()) {
    for (const auto& [k, v] : *body) {
      if (k == "type" || k == "identity") continue;
      if (k == "name") {
        if (name.empty()) name = v.to_text();
        continue;
      }
      if (v.is_null()) continue;
      config_attribute a;
      a.name = k;
      a.value = v.to_text();
      a.structured = v.map() != nullptr || v.list() != nullptr;
      entity.attributes.push_back(std::move(a));
    }
  } else if (!req.body.is_null()) {
    return error(400, "Bad Request: CREATE body must be a map of attributes");
  }
  if (name.empty()) return error(400, "Bad Request: CREATE needs a name");
  entity.attributes.push_back({"name", name, false, 0});

  std::unique_lock lock(group.config_mutex);
  for (const auto& e : group.entities) {
    const entity_schema* schema = find_entity_schema(e.type);
    if (schema != nullptr && schema->name == type.config_name && entity_name(e) == name) {
      return error(400, "Bad Request: " + type.name + " '" + name + "' already exists");
    }
  }
  // Type-check with the config loader, alongside the existing sslProfiles it may refer to.
  std::vector<config_entity> check;
  for (const auto& e : group.entities) {
    if (const auto* s = find_entity_schema(e.type); s != nullptr && s->name == "sslProfile") {
      check.push_back(e);
    }
  }
  check.push_back(entity);
  router_config typed;
  try {
    typed = build_config(check);
  } catch (const config_error& e) {
    return error(400, std::string("Bad Request: ") + e.what());
  }

  value_map row = row_of(type, entity);
  if (type.config_name == "listener") {
    const listener_config& l = typed.listeners.back();
    std::vector<listener_endpoint> endpoints;
    std::uint16_t port = 0;
    try {
      for (unsigned i = 0; i < group.size(); ++i) {
        endpoints.push_back(bind_listener(l, group.config, port));
        port = endpoints.back().bound_port;
      }
    } catch (const std::system_error& e) {
      for (auto& ep : endpoints) ::close(ep.fd);
      return error(400, std::string("Bad Request: ") + e.what());
    }
    for (unsigned i = 0; i < group.size(); ++i) {
      origin.post_task(i, [ep = endpoints[i]](shard& s) { s.add_listener(ep); });
    }
    group.config.listeners.push_back(l);
    for (auto& [k, v] : row) {
      if (k == "port") v = value{std::to_string(port)};  // the port actually bound (port 0)
    }
    logger()->info("listener '{}' created on {}:{}", name, l.host.empty() ? "*" : l.host, port);
  } else if (type.config_name == "connector") {
    const connector_config& c = typed.connectors.back();
    origin.post_task(0, [c](shard& s) { s.add_connector(c); });
    group.config.connectors.push_back(c);
    logger()->info("connector '{}' created to {}:{}", name, c.host, c.port);
  } else if (const adaptor_type* adaptor = find_adaptor(type.config_name)) {
    generic_entity g = typed.other.back();
    try {
      adaptor->validate(g);
    } catch (const std::exception& e) {
      return error(400, std::string("Bad Request: ") + e.what());
    }
    for (unsigned i = 0; i < group.size(); ++i) {
      origin.post_task(i, [g](shard& s) { s.add_adaptor(g); });
    }
    group.config.other.push_back(std::move(g));
    logger()->info("{} '{}' created", type.config_name, name);
  } else {
    group.config.addresses.push_back(typed.addresses.back());
    publish_addresses(origin, group.config);
    logger()->info("address '{}' created", name);
  }
  group.entities.push_back(std::move(entity));
  response r;
  r.status = 201;
  r.description = "Created";
  r.body = value{std::move(row)};
  return r;
}

response remove(shard& origin, const entity_type& type, const request& req) {
  shard_group& group = origin.group();
  const std::string& name = !req.name.empty() ? req.name : req.identity;
  if (name.empty()) return error(400, "Bad Request: DELETE needs a name or identity");
  std::unique_lock lock(group.config_mutex);
  auto it = std::find_if(group.entities.begin(), group.entities.end(), [&](const auto& e) {
    const entity_schema* schema = find_entity_schema(e.type);
    return schema != nullptr && schema->name == type.config_name && entity_name(e) == name;
  });
  if (it == group.entities.end()) {
    return error(404, "Not Found: no " + type.name + " named '" + name + "'");
  }
  group.entities.erase(it);
  if (type.config_name == "listener") {
    std::erase_if(group.config.listeners, [&](const auto& l) { return l.name == name; });
    for (unsigned i = 0; i < group.size(); ++i) {
      origin.post_task(i, [name](shard& s) { s.remove_listener(name); });
    }
  } else if (type.config_name == "connector") {
    std::erase_if(group.config.connectors, [&](const auto& c) { return c.name == name; });
    origin.post_task(0, [name](shard& s) { s.remove_connector(name); });
  } else if (find_adaptor(type.config_name) != nullptr) {
    std::erase_if(group.config.other, [&](const generic_entity& g) {
      auto it = g.attributes.find("name");
      return g.type == type.config_name && it != g.attributes.end() && it->second == name;
    });
    for (unsigned i = 0; i < group.size(); ++i) {
      origin.post_task(i, [name](shard& s) { s.remove_adaptor(name); });
    }
  } else {
    std::erase_if(group.config.addresses, [&](const auto& a) { return a.name == name; });
    publish_addresses(origin, group.config);
  }
  logger()->info("{} '{}' deleted", type.name, name);
  response r;
  r.status = 204;
  r.description = "No Content";
  return r;
}

}  // namespace

response change_entity(shard& origin, const entity_type& type, const request& req) {
  if (type.config_name.empty()) {
    return error(405, "Method Not Allowed: " + type.name + " is run-time state; it cannot be " +
                          "created, updated or deleted");
  }
  if (req.operation == "UPDATE") {
    return error(501, "Not Implemented: UPDATE (delete and create the entity instead)");
  }
  if (!changeable(type)) {
    return error(501, "Not Implemented: " + type.name + " cannot be changed at run time yet; " +
                          "change the configuration file and restart");
  }
  return req.operation == "CREATE" ? create(origin, type, req) : remove(origin, type, req);
}

}  // namespace fogmesh::router::management
