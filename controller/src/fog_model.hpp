// The fog (agent node) record: which JSON fields map to which columns, who may write them, and
// the helpers the user-facing (/iofog) and agent-facing (/agent) handlers share.
#pragma once

#include <initializer_list>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "validate.hpp"

namespace fogmesh::controller {

// integer: PostgreSQL integer (32-bit); bigint: 64-bit (epoch-ms timestamps, byte counts,
// counters).
enum class field_type { string, integer, bigint, number, boolean, string_array, scalar_text };

struct fog_field {
  const char* json;
  const char* column;
  field_type type;
};

// Column/value pairs read from a request body, values as PostgreSQL text input (nullopt = NULL).
using column_values = std::vector<std::pair<std::string, std::optional<std::string>>>;

// Fields a user may set with POST/PATCH /iofog (in validation order).
const std::vector<fog_field>& fog_user_fields();
// Fields the agent may push with PATCH /agent/config.
const std::vector<fog_field>& fog_agent_config_fields();
// Fields of PUT /agent/status.
const std::vector<fog_field>& fog_status_fields();

// Reads every present field, type-checked; absent fields are skipped.
column_values read_fields(body_reader& r, const std::vector<fog_field>& fields);

// "SELECT ... AS \"jsonName\", ..." over table alias `f` producing the full fog JSON object.
const std::string& fog_json_columns();
// The JSON array of the edge resources linked to fog `f` (api_edge_resource.cpp).
const std::string& fog_edge_resources_sql();
// For lists: `LEFT JOIN (...) er` giving `er.list` (the same JSON, null when none) per fog `f`.
// One aggregate over the links instead of a subquery per fog, which was a third of the time of
// GET /iofog-list with 1,000 fogs.
const std::string& fog_edge_resources_join_sql();

// Replaces the images ({containerImage, fogTypeId 1|2}, one per fog type) of a microservice or
// catalog item: rows of `table` whose `owner_column` is `owner`.
void write_images(pqxx::work& tx, const std::string& table, const std::string& owner_column,
                  const std::string& owner, const boost::json::array& images);

// Fogs whose agents' remembered "no changes" answers (app.hpp, agent_poll_cache) end when the
// current request's transaction commits: raise_change() and token revocations add to it, and
// app::dispatch moves their change sequences at commit, so the next poll on this replica queries
// (other replicas hear of it through NOTIFY a moment later). "*" stands for every fog.
std::vector<std::string>& fogs_changed_by_request();

// Records a change for the agent (ChangeTracking row); commits wake its long-poll.
void raise_change(pqxx::work& tx, const std::string& fog_uuid,
                  std::initializer_list<const char*> flag_columns);
// The same for several agents in one statement (one NOTIFY batch).
void raise_changes(pqxx::work& tx, const std::vector<std::string>& fog_uuids,
                   std::initializer_list<const char*> flag_columns);

// A PostgreSQL array literal of the strings, quoted (for a $n::text[] parameter).
std::string pg_array_literal(const std::vector<std::string>& items);

// Until the transaction ends (or another call), raise_change() ignores this fog: used while a
// fog is created. An empty uuid ends it.
void quiet_changes(pqxx::work& tx, const std::string& fog_uuid);

// INSERT/UPDATE builders over column_values with positional parameters.
void exec_update(pqxx::work& tx, const std::string& table, const column_values& values,
                 const std::string& where_sql, const std::vector<std::string>& where_params);

}  // namespace fogmesh::controller
