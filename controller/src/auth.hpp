// Credentials: argon2id password hashes and random bearer tokens stored as SHA-256 digests.
#pragma once

#include <string>
#include <string_view>

namespace fogmesh::controller {

// libsodium's crypto_pwhash_str (argon2id, interactive limits): salt and parameters included.
std::string hash_password(std::string_view password);
bool verify_password(std::string_view password, const std::string& stored_hash);

// 32 bytes from the OS CSPRNG, hex-encoded (64 characters).
std::string new_token();
// Short human-typeable key for agent provisioning (8 characters from an unambiguous alphabet),
// from the CSPRNG. Single use and expiring, so 40 bits suffice.
std::string new_provision_key();
// Hex SHA-256 of a token: what the database stores and looks up (decode($1, 'hex')).
std::string token_digest_hex(std::string_view token);
// A random v4 UUID string.
std::string new_uuid();

// Extracts the token from an Authorization header: raw token (upstream) or "Bearer <token>".
std::string_view token_from_header(std::string_view header);

}  // namespace fogmesh::controller
