#include "fog_model.hpp"

#include <boost/json.hpp>

#include "db.hpp"

namespace fogmesh::controller {

namespace json = boost::json;

namespace {

using ft = field_type;

}  // namespace

std::string pg_array_literal(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

const std::vector<fog_field>& fog_user_fields() {
  static const std::vector<fog_field> fields = {
      {"name", "name", ft::string},
      {"location", "location", ft::string},
      {"latitude", "latitude", ft::number},
      {"longitude", "longitude", ft::number},
      {"description", "description", ft::string},
      {"host", "host", ft::string},
      {"tags", "tags", ft::string_array},
      {"timeZone", "time_zone", ft::string},
      {"networkInterface", "network_interface", ft::string},
      {"dockerUrl", "docker_url", ft::string},
      {"diskLimit", "disk_limit", ft::number},
      {"diskDirectory", "disk_directory", ft::string},
      {"memoryLimit", "memory_limit", ft::number},
      {"cpuLimit", "cpu_limit", ft::number},
      {"logLimit", "log_limit", ft::number},
      {"logDirectory", "log_directory", ft::string},
      {"logFileCount", "log_file_count", ft::integer},
      {"logLevel", "log_level", ft::string},
      {"statusFrequency", "status_frequency", ft::integer},
      {"changeFrequency", "change_frequency", ft::integer},
      {"deviceScanFrequency", "device_scan_frequency", ft::integer},
      {"bluetoothEnabled", "bluetooth_enabled", ft::boolean},
      {"watchdogEnabled", "watchdog_enabled", ft::boolean},
      {"abstractedHardwareEnabled", "abstracted_hardware_enabled", ft::boolean},
      {"fogType", "fog_type_id", ft::integer},
      {"dockerPruningFrequency", "docker_pruning_frequency", ft::integer},
      {"availableDiskThreshold", "available_disk_threshold", ft::number},
      {"isSystem", "is_system", ft::boolean},
      {"routerMode", "router_mode", ft::string},
      {"messagingPort", "messaging_port", ft::integer},
      {"interRouterPort", "inter_router_port", ft::integer},
      {"edgeRouterPort", "edge_router_port", ft::integer},
      {"upstreamRouters", "upstream_routers", ft::string_array},
      {"networkRouter", "network_router", ft::string},
  };
  return fields;
}

const std::vector<fog_field>& fog_agent_config_fields() {
  static const std::vector<fog_field> fields = {
      {"networkInterface", "network_interface", ft::string},
      {"dockerUrl", "docker_url", ft::string},
      {"diskLimit", "disk_limit", ft::number},
      {"diskDirectory", "disk_directory", ft::string},
      {"memoryLimit", "memory_limit", ft::number},
      {"cpuLimit", "cpu_limit", ft::number},
      {"logLimit", "log_limit", ft::number},
      {"logDirectory", "log_directory", ft::string},
      {"logFileCount", "log_file_count", ft::integer},
      {"statusFrequency", "status_frequency", ft::integer},
      {"changeFrequency", "change_frequency", ft::integer},
      {"deviceScanFrequency", "device_scan_frequency", ft::integer},
      {"watchdogEnabled", "watchdog_enabled", ft::boolean},
      {"latitude", "latitude", ft::number},
      {"longitude", "longitude", ft::number},
      {"gpsMode", "gps_mode", ft::string},
      {"dockerPruningFrequency", "docker_pruning_frequency", ft::integer},
      {"availableDiskThreshold", "available_disk_threshold", ft::number},
      {"logLevel", "log_level", ft::string},
      {"timeZone", "time_zone", ft::string},
  };
  return fields;
}

const std::vector<fog_field>& fog_status_fields() {
  static const std::vector<fog_field> fields = {
      {"daemonStatus", "daemon_status", ft::string},
      {"daemonOperatingDuration", "daemon_operating_duration", ft::bigint},
      {"daemonLastStart", "daemon_last_start", ft::bigint},
      {"memoryUsage", "memory_usage", ft::number},
      {"diskUsage", "disk_usage", ft::number},
      {"cpuUsage", "cpu_usage", ft::number},
      {"memoryViolation", "memory_violation", ft::scalar_text},
      {"diskViolation", "disk_violation", ft::scalar_text},
      {"cpuViolation", "cpu_violation", ft::scalar_text},
      {"systemAvailableDisk", "system_available_disk", ft::bigint},
      {"systemAvailableMemory", "system_available_memory", ft::bigint},
      {"systemTotalCpu", "system_total_cpu", ft::number},
      {"securityStatus", "security_status", ft::string},
      {"securityViolationInfo", "security_violation_info", ft::string},
      {"microserviceStatus", "catalog_item_status", ft::string},
      {"repositoryCount", "repository_count", ft::integer},
      {"repositoryStatus", "repository_status", ft::string},
      {"systemTime", "system_time", ft::bigint},
      {"lastStatusTime", "last_status_time", ft::bigint},
      {"ipAddress", "ip_address", ft::string},
      {"ipAddressExternal", "ip_address_external", ft::string},
      {"processedMessages", "processed_messages", ft::bigint},
      {"microserviceMessageCounts", "catalog_item_message_counts", ft::string},
      {"messageSpeed", "message_speed", ft::number},
      {"lastCommandTime", "last_command_time", ft::bigint},
      {"tunnelStatus", "tunnel", ft::string},
      {"version", "version", ft::string},
      {"isReadyToUpgrade", "is_ready_to_upgrade", ft::boolean},
      {"isReadyToRollback", "is_ready_to_rollback", ft::boolean},
  };
  return fields;
}

column_values read_fields(body_reader& r, const std::vector<fog_field>& fields) {
  column_values out;
  for (const auto& f : fields) {
    const auto& obj = r.object();
    auto it = obj.find(f.json);
    if (it == obj.end()) continue;
    if (it->value().is_null()) {
      // Explicit null clears optional text columns; for NOT NULL ones it is a type error.
      if (f.type == ft::string || f.type == ft::scalar_text) {
        out.emplace_back(f.column, std::nullopt);
        continue;
      }
    }
    std::optional<std::string> v;
    switch (f.type) {
      case ft::string:
        v = r.str(f.json);
        break;
      case ft::integer:
        // Ranges beyond PostgreSQL's integer are type errors too.
        v = std::to_string(*r.integer(f.json, true, -2147483648LL, 2147483647LL));
        break;
      case ft::bigint:
        v = std::to_string(*r.integer(f.json, true));
        break;
      case ft::number: {
        double d = *r.number(f.json, true);
        v = json::serialize(json::value(d));
        break;
      }
      case ft::boolean:
        v = *r.boolean(f.json, true) ? "true" : "false";
        break;
      case ft::string_array:
        v = pg_array_literal(*r.string_array(f.json, true));
        break;
      case ft::scalar_text: {
        const auto& val = it->value();
        if (val.is_string()) {
          v = std::string(val.as_string());
        } else if (val.is_bool() || val.is_number()) {
          v = json::serialize(val);
        } else {
          throw_type_error(f.json, "string");
        }
        break;
      }
    }
    out.emplace_back(f.column, std::move(v));
  }
  return out;
}

const std::string& fog_json_columns() {
  static const std::string columns = [] {
    std::vector<std::pair<const char*, const char*>> cols = {
        {"uuid", "uuid"},
        {"name", "name"},
        {"location", "location"},
        {"gpsMode", "gps_mode"},
        {"latitude", "latitude"},
        {"longitude", "longitude"},
        {"description", "description"},
        {"host", "host"},
        {"lastActive", "last_active"},
        {"daemonStatus", "daemon_status"},
        {"daemonOperatingDuration", "daemon_operating_duration"},
        {"daemonLastStart", "daemon_last_start"},
        {"memoryUsage", "memory_usage"},
        {"diskUsage", "disk_usage"},
        {"cpuUsage", "cpu_usage"},
        {"memoryViolation", "memory_violation"},
        {"diskViolation", "disk_violation"},
        {"cpuViolation", "cpu_violation"},
        {"systemAvailableDisk", "system_available_disk"},
        {"systemAvailableMemory", "system_available_memory"},
        {"systemTotalCpu", "system_total_cpu"},
        {"securityStatus", "security_status"},
        {"securityViolationInfo", "security_violation_info"},
        {"catalogItemStatus", "catalog_item_status"},
        {"repositoryCount", "repository_count"},
        {"repositoryStatus", "repository_status"},
        {"systemTime", "system_time"},
        {"lastStatusTime", "last_status_time"},
        {"ipAddress", "ip_address"},
        {"ipAddressExternal", "ip_address_external"},
        {"processedMessages", "processed_messages"},
        {"catalogItemMessageCounts", "catalog_item_message_counts"},
        {"messageSpeed", "message_speed"},
        {"lastCommandTime", "last_command_time"},
        {"networkInterface", "network_interface"},
        {"dockerUrl", "docker_url"},
        {"diskLimit", "disk_limit"},
        {"diskDirectory", "disk_directory"},
        {"memoryLimit", "memory_limit"},
        {"cpuLimit", "cpu_limit"},
        {"logLimit", "log_limit"},
        {"logDirectory", "log_directory"},
        {"bluetoothEnabled", "bluetooth_enabled"},
        {"abstractedHardwareEnabled", "abstracted_hardware_enabled"},
        {"logFileCount", "log_file_count"},
        {"version", "version"},
        {"isReadyToUpgrade", "is_ready_to_upgrade"},
        {"isReadyToRollback", "is_ready_to_rollback"},
        {"statusFrequency", "status_frequency"},
        {"changeFrequency", "change_frequency"},
        {"deviceScanFrequency", "device_scan_frequency"},
        {"tunnel", "tunnel"},
        {"isSystem", "is_system"},
        {"routerMode", "router_mode"},
        {"messagingPort", "messaging_port"},
        {"interRouterPort", "inter_router_port"},
        {"edgeRouterPort", "edge_router_port"},
        {"upstreamRouters", "upstream_routers"},
        {"networkRouter", "network_router"},
        {"watchdogEnabled", "watchdog_enabled"},
        {"dockerPruningFrequency", "docker_pruning_frequency"},
        {"availableDiskThreshold", "available_disk_threshold"},
        {"logLevel", "log_level"},
        {"timeZone", "time_zone"},
        {"warningMessage", "warning_message"},
        {"fogTypeId", "fog_type_id"},
        {"tags", "tags"},
        {"userId", "user_id"},
        {"createdAt", "created_at"},
        {"updatedAt", "updated_at"},
    };
    std::string s;
    for (const auto& [j, c] : cols) {
      if (!s.empty()) s += ", ";
      // Arrays as JSON already: result_to_json_array (GET /iofog-list) has no array parser.
      bool array = std::string_view(c) == "tags" || std::string_view(c) == "upstream_routers";
      s += array ? "to_json(f." : "f.";
      s += c;
      if (array) s += ')';
      s += " AS \"";
      s += j;
      s += '"';
    }
    s += ", " + fog_edge_resources_sql() + " AS \"edgeResources\"";
    return s;
  }();
  return columns;
}

void raise_change(pqxx::work& tx, const std::string& fog_uuid,
                  std::initializer_list<const char*> flag_columns) {
  raise_changes(tx, {fog_uuid}, flag_columns);
}

void raise_changes(pqxx::work& tx, const std::vector<std::string>& fog_uuids,
                   std::initializer_list<const char*> flag_columns) {
  if (fog_uuids.empty()) return;
  std::string cols = "fog_uuid";
  std::string vals = "f";
  for (const char* c : flag_columns) {
    cols += ", ";
    cols += c;
    vals += ", true";
  }
  auto& changed = fogs_changed_by_request();
  changed.insert(changed.end(), fog_uuids.begin(), fog_uuids.end());
  // A fog being created (see quiet_changes) gets no rows: no agent runs it yet, and each row's
  // NOTIFY would wake a later long-poll of its new agent for nothing.
  pexec0(tx,
         "INSERT INTO change_tracking (" + cols + ") SELECT " + vals +
             " FROM unnest($1::text[]) f"
             " WHERE f IS DISTINCT FROM current_setting('fogmesh.quiet_fog', true)",
         pg_array_literal(fog_uuids));
}

std::vector<std::string>& fogs_changed_by_request() {
  thread_local std::vector<std::string> fogs;
  return fogs;
}

void write_images(pqxx::work& tx, const std::string& table, const std::string& owner_column,
                  const std::string& owner, const boost::json::array& images) {
  pexec0(tx, "DELETE FROM " + table + " WHERE " + owner_column + "::text = $1", owner);
  for (const auto& img : images) {
    if (!img.is_object()) throw_type_error("images", "object");
    body_reader ir(img.as_object());
    auto image = ir.str("containerImage", true, 1);
    auto type = ir.integer("fogTypeId", true, 1, 2);
    try {
      pexec0(tx,
             "INSERT INTO " + table + " (" + owner_column +
                 ", fog_type_id, container_image) VALUES ($1, $2, $3)",
             owner, *type, *image);
    } catch (const pqxx::unique_violation&) {
      throw validation_error("Duplicate image for fogTypeId " + std::to_string(*type));
    }
  }
}

void quiet_changes(pqxx::work& tx, const std::string& fog_uuid) {
  pexec(tx, "SELECT set_config('fogmesh.quiet_fog', $1, true)", fog_uuid);
}

void exec_update(pqxx::work& tx, const std::string& table, const column_values& values,
                 const std::string& where_sql, const std::vector<std::string>& where_params) {
  if (values.empty()) return;
  std::vector<std::optional<std::string>> params;
  for (const auto& w : where_params) params.emplace_back(w);
  std::string sql = "UPDATE " + table + " SET ";
  bool first = true;
  for (const auto& [col, val] : values) {
    params.push_back(val);
    if (!first) sql += ", ";
    first = false;
    sql += col + " = $" + std::to_string(params.size());
  }
  if (table == "fogs") sql += ", updated_at = now()";
  sql += " WHERE " + where_sql;
  pexec0(tx, sql, pqxx::prepare::make_dynamic_params(params));
}

}  // namespace fogmesh::controller
