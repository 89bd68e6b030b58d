#include "fogmesh/common/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <map>
#include <mutex>
#include <string>

namespace fogmesh::log {
namespace {

struct registry {
  std::mutex mutex;
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  spdlog::level::level_enum default_level = spdlog::level::info;
  std::map<std::string, spdlog::level::level_enum, std::less<>> module_levels;
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers;

  spdlog::level::level_enum level_for(std::string_view module) const {
    // Most specific configured prefix wins.
    spdlog::level::level_enum level = default_level;
    size_t best = 0;
    for (const auto& [name, lvl] : module_levels) {
      bool matches = module == name ||
                     (module.size() > name.size() && module.starts_with(name) &&
                      module[name.size()] == '.');
      if (matches && name.size() >= best) {
        best = name.size();
        level = lvl;
      }
    }
    return level;
  }
};

registry& reg() {
  static registry* r = [] {
    auto* created = new registry;  // leaked on purpose: loggers are used until exit
    created->sink->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %v");
    return created;
  }();
  return *r;
}

}  // namespace

bool parse_level(std::string_view name, spdlog::level::level_enum& out) {
  while (!name.empty() && name.back() == '+') name.remove_suffix(1);  // qdrouterd "info+"
  if (name == "trace") out = spdlog::level::trace;
  else if (name == "debug") out = spdlog::level::debug;
  else if (name == "info" || name == "notice") out = spdlog::level::info;
  else if (name == "warning" || name == "warn") out = spdlog::level::warn;
  else if (name == "error") out = spdlog::level::err;
  else if (name == "critical") out = spdlog::level::critical;
  else if (name == "off" || name == "none") out = spdlog::level::off;
  else return false;
  return true;
}

std::shared_ptr<spdlog::logger> get(std::string_view module) {
  auto& r = reg();
  std::lock_guard lock(r.mutex);
  if (auto it = r.loggers.find(module); it != r.loggers.end()) return it->second;
  auto logger = std::make_shared<spdlog::logger>(std::string(module), r.sink);
  logger->set_level(r.level_for(module));
  logger->flush_on(spdlog::level::warn);
  r.loggers.emplace(std::string(module), logger);
  return logger;
}

bool set_default_level(std::string_view level) {
  spdlog::level::level_enum lvl;
  if (!parse_level(level, lvl)) return false;
  auto& r = reg();
  std::lock_guard lock(r.mutex);
  r.default_level = lvl;
  for (auto& [name, logger] : r.loggers) logger->set_level(r.level_for(name));
  return true;
}

bool set_module_level(std::string_view module, std::string_view level) {
  spdlog::level::level_enum lvl;
  if (!parse_level(level, lvl)) return false;
  auto& r = reg();
  std::lock_guard lock(r.mutex);
  r.module_levels[std::string(module)] = lvl;
  for (auto& [name, logger] : r.loggers) logger->set_level(r.level_for(name));
  return true;
}

}  // namespace fogmesh::log
