#include "engine/failover.hpp"

#include "management/value.hpp"

namespace fogmesh::router {

failover_address parse_failover_url(std::string_view url) {
  failover_address a;
  if (auto scheme = url.find("://"); scheme != std::string_view::npos) {
    a.scheme.assign(url.substr(0, scheme));
    url.remove_prefix(scheme + 3);
  }
  if (!url.empty() && url.front() == '[') {
    const auto close = url.find(']');
    a.host.assign(url.substr(1, close == std::string_view::npos ? url.npos : close - 1));
    if (close != std::string_view::npos && close + 1 < url.size() && url[close + 1] == ':') {
      a.port.assign(url.substr(close + 2));
    }
  } else if (auto colon = url.rfind(':'); colon != std::string_view::npos) {
    a.host.assign(url.substr(0, colon));
    a.port.assign(url.substr(colon + 1));
  } else {
    a.host.assign(url);
  }
  return a;
}

std::string to_url(const failover_address& a) {
  std::string out;
  if (!a.scheme.empty()) out += a.scheme + "://";
  const bool v6 = a.host.find(':') != std::string::npos;
  out += v6 ? "[" + a.host + "]" : a.host;
  out += ":" + a.port;
  return out;
}

void encode_open_properties(amqp::byte_buffer& out, std::string_view product,
                            std::string_view version,
                            const std::vector<std::string>& failover_urls) {
  amqp::encoder enc(out);
  const auto m = enc.begin_map();
  enc.write_symbol("product");
  enc.write_string(product);
  enc.write_symbol("version");
  enc.write_string(version);
  std::uint32_t count = 4;
  if (!failover_urls.empty()) {
    enc.write_symbol("failover-server-list");
    const auto list = enc.begin_list();
    for (const auto& url : failover_urls) {
      const failover_address a = parse_failover_url(url);
      const auto entry = enc.begin_map();
      std::uint32_t n = 4;
      enc.write_symbol("network-host");
      enc.write_string(a.host);
      enc.write_symbol("port");
      enc.write_string(a.port);
      if (!a.scheme.empty()) {
        enc.write_symbol("scheme");
        enc.write_string(a.scheme);
        n += 2;
      }
      enc.end_map(entry, n);
    }
    enc.end_list(list, static_cast<std::uint32_t>(failover_urls.size()));
    count += 2;
  }
  enc.end_map(m, count);
}

std::vector<failover_address> read_failover_list(amqp::bytes_view properties) {
  std::vector<failover_address> out;
  if (properties.empty()) return out;
  amqp::decoder dec(properties);
  auto decoded = management::decode(dec);
  if (!decoded) return out;
  const management::value_map* map = decoded->map();
  if (map == nullptr) return out;
  const management::value* list = management::find(*map, "failover-server-list");
  if (list == nullptr || list->list() == nullptr) return out;
  for (const auto& item : *list->list()) {
    const management::value_map* entry = item.map();
    if (entry == nullptr) continue;
    const management::value* host = management::find(*entry, "network-host");
    if (host == nullptr || host->is_null()) continue;
    failover_address a;
    a.host = host->to_text();
    if (const management::value* port = management::find(*entry, "port"); port && !port->is_null()) {
      a.port = port->to_text();
    }
    if (const management::value* scheme = management::find(*entry, "scheme");
        scheme && !scheme->is_null()) {
      a.scheme = scheme->to_text();
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace fogmesh::router
