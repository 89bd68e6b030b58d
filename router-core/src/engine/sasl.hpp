// SASL helpers for the server side: PLAIN credentials parsing and verification against a users
// file. The file holds one `user:hash` per line (`#` comments), where hash is an argon2id string
// from libsodium (`fogmesh-router --hash-password` prints one). Passwords are never stored in a
// reversible form.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "amqp/codec.hpp"

namespace fogmesh::router::sasl {

struct plain_credentials {
  std::string authzid;
  std::string authcid;
  std::string password;
};

// Parses a PLAIN initial response: authzid NUL authcid NUL password (RFC 4616).
std::optional<plain_credentials> parse_plain(amqp::bytes_view response);

// True when users_file has `user` with a hash matching `password`. Reads the file on each call
// (authentication is rare and the file may be rotated without restarting the router).
bool verify_user(const std::string& users_file, std::string_view user, std::string_view password);

// Returns an argon2id hash string for password (for the users file). Throws on failure.
std::string hash_password(std::string_view password);

}  // namespace fogmesh::router::sasl
