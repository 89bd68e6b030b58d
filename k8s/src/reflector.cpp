#include "fogmesh/k8s/reflector.hpp"

#include <set>
#include <thread>

#include "fogmesh/common/log.hpp"

namespace fogmesh::k8s {

namespace {
std::shared_ptr<spdlog::logger> logger() {
  static auto l = log::get("k8s.watch");
  return l;
}

void sleep_unless_stopped(std::chrono::milliseconds d, const std::atomic<bool>& stop) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!stop && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}
}  // namespace

std::string object_key(const json::object& obj) {
  std::string ns = field(obj, {"metadata", "namespace"});
  std::string name = field(obj, {"metadata", "name"});
  return ns.empty() ? name : ns + "/" + name;
}

reflector::reflector(client& c, resource res, options opts,
                     std::function<void(const watch_event&)> on_event)
    : client_(c), res_(std::move(res)), opts_(std::move(opts)), on_event_(std::move(on_event)) {}

std::string reflector::resource_version() const {
  std::lock_guard lock(rv_mu_);
  return rv_;
}

std::string reflector::query() const {
  std::string q;
  if (!opts_.label_selector.empty()) q += "&labelSelector=" + url_encode(opts_.label_selector);
  if (!opts_.field_selector.empty()) q += "&fieldSelector=" + url_encode(opts_.field_selector);
  return q;
}

void reflector::relist() {
  auto list = client_.list(res_.path(opts_.namespace_), "limit=0" + query());
  std::map<std::string, std::string> now;
  for (auto& item : list["items"].as_array()) {
    auto& obj = item.as_object();
    // Items of a list carry no kind/apiVersion; consumers may want them.
    std::string key = object_key(obj);
    std::string rv = field(obj, {"metadata", "resourceVersion"});
    auto old = known_.find(key);
    std::string type = old == known_.end() ? "ADDED" : "MODIFIED";
    if (old == known_.end() || old->second != rv) on_event_({type, obj});
    now[key] = rv;
  }
  for (auto& [key, rv] : known_) {
    if (now.count(key)) continue;
    json::object gone;
    auto slash = key.find('/');
    json::object meta;
    if (slash != std::string::npos) {
      meta["namespace"] = key.substr(0, slash);
      meta["name"] = key.substr(slash + 1);
    } else {
      meta["name"] = key;
    }
    gone["metadata"] = meta;
    on_event_({"DELETED", gone});
  }
  known_ = std::move(now);
  {
    std::lock_guard lock(rv_mu_);
    rv_ = field(list, {"metadata", "resourceVersion"});
  }
  ++relists_;
  synced_ = true;
}

bool reflector::watch_once(const std::atomic<bool>& stop) {
  std::string q =
      "watch=1&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(opts_.timeout_seconds) +
      "&resourceVersion=" + url_encode(resource_version()) + query();
  ++watches_;
  bool gone = false;
  client_.stream(
      res_.path(opts_.namespace_) + "?" + q,
      [&](std::string_view line) {
        if (line.empty()) return true;
        json::value v;
        try {
          v = json::parse(line);
        } catch (const std::exception& e) {
          logger()->warn("{}: unparsable watch line ({}), reconnecting", res_.plural, e.what());
          return false;
        }
        auto& ev = v.as_object();
        std::string type = get_string(ev, "type");
        auto* obj = find_object(ev, "object");
        if (!obj) return true;
        if (type == "ERROR") {
          auto code = obj->find("code");
          if (code != obj->end() && code->value().is_int64() && code->value().as_int64() == 410) {
            gone = true;
          } else {
            logger()->warn("{}: watch error event: {}", res_.plural, get_string(*obj, "message"));
          }
          return false;
        }
        std::string rv = field(*obj, {"metadata", "resourceVersion"});
        if (type != "BOOKMARK") {
          std::string key = object_key(*obj);
          if (type == "DELETED") {
            known_.erase(key);
          } else {
            known_[key] = rv;
          }
          on_event_({type, *obj});
        }
        if (!rv.empty()) {
          std::lock_guard lock(rv_mu_);
          rv_ = rv;
        }
        return !stop;
      },
      [&] { return stop.load(); }, std::chrono::seconds(opts_.timeout_seconds + 30));
  return !gone;
}

void reflector::run(const std::atomic<bool>& stop) {
  backoff delay(std::chrono::seconds(10));
  bool need_list = true;
  while (!stop) {
    try {
      if (need_list) {
        relist();
        need_list = false;
        logger()->debug("{}: listed at resourceVersion {}", res_.plural, resource_version());
      }
      if (!watch_once(stop)) {
        logger()->info("{}: resourceVersion {} expired (410 Gone), relisting", res_.plural,
                       resource_version());
        need_list = true;
      }
      delay.reset();
    } catch (const api_error& e) {
      if (e.gone()) {
        need_list = true;
        continue;
      }
      auto d = delay.next();
      logger()->warn("{}: {} (retrying in {} ms)", res_.plural, e.what(), d.count());
      sleep_unless_stopped(d, stop);
    } catch (const std::exception& e) {
      auto d = delay.next();
      logger()->warn("{}: {} (retrying in {} ms)", res_.plural, e.what(), d.count());
      sleep_unless_stopped(d, stop);
    }
  }
}

}  // namespace fogmesh::k8s
