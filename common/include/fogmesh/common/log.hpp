// Logging: one named spdlog logger per module ("router.amqp", "router.io", ...), all writing to
// stderr (journald picks stderr up under systemd). Levels are set globally or per module from
// the router's `log` config entities.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string_view>

namespace fogmesh::log {

// Returns the logger for a module, creating it on first use. Thread-safe; cache the pointer.
std::shared_ptr<spdlog::logger> get(std::string_view module);

// Sets the level of every existing and future logger ("trace", "debug", "info", "warning",
// "error", "critical", "off"). Returns false for an unknown level name.
bool set_default_level(std::string_view level);
// Sets the level of one module (and of modules below it: "router" covers "router.amqp").
bool set_module_level(std::string_view module, std::string_view level);
// Parses a level name; accepts qdrouterd's names too ("warning", "notice"→info, "trace+" etc.).
bool parse_level(std::string_view name, spdlog::level::level_enum& out);

}  // namespace fogmesh::log
