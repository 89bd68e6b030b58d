// Failover addresses as qdrouterd exchanges them: a listener's `failoverUrls` are advertised in
// the open frame's `failover-server-list` property (a list of maps {network-host, port,
// scheme}); a connector that receives one adds those addresses to the ones it tries when its
// connection is lost, so an edge router (or a Proton client) finds another interior without
// being configured with it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "amqp/codec.hpp"

namespace fogmesh::router {

struct failover_address {
  std::string scheme;  // "amqp", "amqps"; empty when the URL had none
  std::string host;
  std::string port = "amqp";
};

// "amqp://host:port", "host:port", "host", "[::1]:5672".
failover_address parse_failover_url(std::string_view url);
std::string to_url(const failover_address& a);

// Writes the open frame's properties map: product, version, and failover-server-list when
// `failover_urls` is not empty.
void encode_open_properties(amqp::byte_buffer& out, std::string_view product,
                            std::string_view version, const std::vector<std::string>& failover_urls);
// Reads failover-server-list from an open frame's encoded properties (empty when absent or
// malformed: a peer's odd properties never break the connection).
std::vector<failover_address> read_failover_list(amqp::bytes_view properties);

}  // namespace fogmesh::router
