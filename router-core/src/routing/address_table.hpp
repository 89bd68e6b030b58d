// Addresses known to one shard: for each, its distribution (from the `address` config entities,
// matched by prefix or pattern) and the links that consume from it or produce to it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fogmesh/router/config.hpp"

namespace fogmesh::router {

struct link;

struct address_entry {
  std::string name;
  distribution dist = distribution::balanced;
  std::optional<int> priority;
  std::vector<link*> consumers;  // outgoing links (peer receivers)
  std::vector<link*> producers;  // incoming links with this target
  std::size_t next_consumer = 0; // round-robin cursor for closest ties
  std::uint32_t local_consumers = 0;  // consumers that are not links to other routers
  std::uint32_t mesh_links = 0;       // consumers that are links to neighbour routers
  std::uint32_t local_producers = 0;  // senders that are not links from other routers
  std::uint64_t deliveries_in = 0;
  std::uint64_t deliveries_out = 0;
  std::uint64_t dropped = 0;  // released or dropped for want of a receiver
};

// Matches an address against configured prefixes/patterns (qdrouterd semantics: prefixes match
// whole tokens, patterns use `*` for one token and `#` for zero or more; tokens are separated by
// `.` or `/`).
class address_matcher {
 public:
  explicit address_matcher(std::vector<address_config> configs,
                           distribution default_dist = distribution::balanced);
  // The configuration that applies to address, or nullptr (then the default distribution).
  const address_config* match(std::string_view address) const;
  distribution default_distribution() const noexcept { return default_; }

  static bool prefix_matches(std::string_view prefix, std::string_view address);
  static bool pattern_matches(std::string_view pattern, std::string_view address);

 private:
  std::vector<address_config> configs_;
  distribution default_;
};

class address_table {
 public:
  explicit address_table(address_matcher matcher) : matcher_(std::move(matcher)) {}

  // The table key of an address phase: phase 0 is the address itself.
  static std::string phase_key(const std::string& address, int phase) {
    return phase == 0 ? address : address + '\x1f' + std::to_string(phase);
  }
  // Returns the entry for name, creating it with its configured distribution.
  address_entry& get(std::string_view name);
  address_entry* find(std::string_view name);
  // Drops an entry that has no links left.
  void release_if_unused(address_entry& entry);
  const std::unordered_map<std::string, std::unique_ptr<address_entry>>& entries() const {
    return entries_;
  }
  const address_matcher& matcher() const noexcept { return matcher_; }
  // New address configuration (management): applies to addresses from their next first use;
  // entries in use keep the distribution they started with, as in qdrouterd.
  void set_matcher(address_matcher matcher) { matcher_ = std::move(matcher); }

 private:
  address_matcher matcher_;
  std::unordered_map<std::string, std::unique_ptr<address_entry>> entries_;
};

}  // namespace fogmesh::router
