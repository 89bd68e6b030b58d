#include "routing/address_table.hpp"

namespace fogmesh::router {

namespace {

bool is_separator(char c) { return c == '.' || c == '/'; }

// Splits into tokens on '.' and '/'.
std::vector<std::string_view> tokens(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || is_separator(s[i])) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

bool match_tokens(const std::vector<std::string_view>& pat, std::size_t pi,
                  const std::vector<std::string_view>& addr, std::size_t ai) {
  while (pi < pat.size()) {
    if (pat[pi] == "#") {
      // Zero or more tokens: try every split point.
      for (std::size_t skip = ai; skip <= addr.size(); ++skip) {
        if (match_tokens(pat, pi + 1, addr, skip)) return true;
      }
      return false;
    }
    if (ai >= addr.size()) return false;
    if (pat[pi] != "*" && pat[pi] != addr[ai]) return false;
    ++pi;
    ++ai;
  }
  return ai == addr.size();
}

}  // namespace

address_matcher::address_matcher(std::vector<address_config> configs, distribution default_dist)
    : configs_(std::move(configs)), default_(default_dist) {}

bool address_matcher::prefix_matches(std::string_view prefix, std::string_view address) {
  if (!address.starts_with(prefix)) return false;
  if (address.size() == prefix.size() || prefix.empty()) return true;
  return is_separator(address[prefix.size()]) || is_separator(prefix.back());
}

bool address_matcher::pattern_matches(std::string_view pattern, std::string_view address) {
  return match_tokens(tokens(pattern), 0, tokens(address), 0);
}

const address_config* address_matcher::match(std::string_view address) const {
  // Longest matching prefix wins; a pattern is consulted only when no prefix matches.
  const address_config* best = nullptr;
  for (const auto& c : configs_) {
    if (!c.prefix.empty() && prefix_matches(c.prefix, address) &&
        (best == nullptr || c.prefix.size() > best->prefix.size())) {
      best = &c;
    }
  }
  if (best != nullptr) return best;
  for (const auto& c : configs_) {
    if (!c.pattern.empty() && pattern_matches(c.pattern, address)) return &c;
  }
  return nullptr;
}

address_entry& address_table::get(std::string_view name) {
  auto it = entries_.find(std::string(name));
  if (it != entries_.end()) return *it->second;
  auto entry = std::make_unique<address_entry>();
  entry->name = std::string(name);
  const std::string_view base = name.substr(0, name.find('\x1f'));
  if (const address_config* cfg = matcher_.match(base)) {
    entry->dist = cfg->dist;
    entry->priority = cfg->priority;
  } else {
    entry->dist = matcher_.default_distribution();
  }
  auto& ref = *entry;
  entries_.emplace(entry->name, std::move(entry));
  return ref;
}

address_entry* address_table::find(std::string_view name) {
  auto it = entries_.find(std::string(name));
  return it == entries_.end() ? nullptr : it->second.get();
}

void address_table::release_if_unused(address_entry& entry) {
  if (entry.consumers.empty() && entry.producers.empty()) entries_.erase(entry.name);
}

}  // namespace fogmesh::router
