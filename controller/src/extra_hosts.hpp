// Microservice extraHosts whose address is a template, as ioFog v3: ${Agents.<agent>},
// ${Apps.<app>.<msvc>.local} (the host of the agent running that microservice) and
// ${Apps.<app>.<msvc>.public.<port>} (the host of that public port's public router). Templates are
// checked when written and stored with their target; PostgreSQL resolves them when a list is
// rendered (extra_host_value(), schemas/sql/0019), so they follow hosts and moves.
#pragma once

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "validate.hpp"

namespace fogmesh::controller {

// Reads `extraHosts` [{name, address}] for `user_id`'s microservice: nullopt when absent, else
// the JSON to store. A malformed template, or one naming an agent, application, microservice or
// public port the user does not have, is a 400 with upstream's message.
std::optional<std::string> read_extra_hosts(pqxx::work& tx, body_reader& r, int64_t user_id);

// The agent's `extraHosts` ["name:address"] of microservice `m` (a SQL expression, a macro to be
// pasted into the queries' literals); entries whose target is gone are left out.
#define AGENT_EXTRA_HOSTS_SQL                                                           \
  "coalesce((SELECT json_agg((h ->> 'name') || ':' || x.v) FROM "                       \
  "jsonb_array_elements(m.extra_hosts) h, LATERAL (SELECT extra_host_value(h) AS v) x " \
  "WHERE x.v IS NOT NULL), '[]')"
// What users see: [{name, address (as given), value (resolved, null when its target is gone)}].
#define USER_EXTRA_HOSTS_SQL                                                                \
  "coalesce((SELECT json_agg(json_build_object('name', h ->> 'name', 'address', h ->> "     \
  "'address', 'value', extra_host_value(h))) FROM jsonb_array_elements(m.extra_hosts) h), " \
  "'[]')"

// The agents whose microservices' extraHosts resolve through fog `fog_uuid` (its host or
// address, a microservice it runs, a public port it hosts) re-read their microservices
// (microservice_config flag): called when that fog's host or address changes.
void raise_extra_host_dependents_of_fog(pqxx::work& tx, const std::string& fog_uuid);
// The same for extraHosts naming microservice `msvc_uuid`: called when it moves.
void raise_extra_host_dependents_of_msvc(pqxx::work& tx, const std::string& msvc_uuid);

}  // namespace fogmesh::controller
