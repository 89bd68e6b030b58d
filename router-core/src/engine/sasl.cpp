#include "engine/sasl.hpp"

#include <sodium.h>

#include <fstream>
#include <stdexcept>

namespace fogmesh::router::sasl {

namespace {
bool sodium_ready() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}
}  // namespace

std::optional<plain_credentials> parse_plain(amqp::bytes_view response) {
  std::string_view s(reinterpret_cast<const char*>(response.data()), response.size());
  const auto first = s.find('\0');
  if (first == std::string_view::npos) return std::nullopt;
  const auto second = s.find('\0', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  plain_credentials c;
  c.authzid = std::string(s.substr(0, first));
  c.authcid = std::string(s.substr(first + 1, second - first - 1));
  c.password = std::string(s.substr(second + 1));
  if (c.authcid.empty()) return std::nullopt;
  return c;
}

bool verify_user(const std::string& users_file, std::string_view user,
                 std::string_view password) {
  if (users_file.empty() || !sodium_ready()) return false;
  std::ifstream in(users_file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos || std::string_view(line).substr(0, colon) != user) continue;
    const std::string hash = line.substr(colon + 1);
    return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
  }
  return false;
}

std::string hash_password(std::string_view password) {
  if (!sodium_ready()) throw std::runtime_error("libsodium failed to initialise");
  char out[crypto_pwhash_STRBYTES];
  // Interactive cost: verification runs on a shard thread, so it must stay in the tens of ms.
  if (crypto_pwhash_str_alg(out, password.data(), password.size(),
                            crypto_pwhash_OPSLIMIT_INTERACTIVE, 16u << 20,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::runtime_error("out of memory while hashing the password");
  }
  return out;
}

}  // namespace fogmesh::router::sasl
