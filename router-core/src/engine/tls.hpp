// TLS for AMQP connections on OpenSSL memory BIOs: the shard thread feeds ciphertext it received
// and gets plaintext back, and turns plaintext output into ciphertext to send — OpenSSL never
// touches the socket, so TLS costs no extra thread or syscall and works with io_uring.
//
// Thread: a tls_stream belongs to one connection on one shard. A tls_context is immutable after
// creation and may be shared by the connections of a listener.
#pragma once

#include <memory>
#include <string>

#include "amqp/codec.hpp"
#include "fogmesh/router/config.hpp"

using SSL_CTX = struct ssl_ctx_st;
using SSL = struct ssl_st;
using BIO = struct bio_st;

namespace fogmesh::router {

class tls_context {
 public:
  // Server-side context from an sslProfile: certificate chain, private key (with password or
  // passwordFile), optional CA file for client certificates (then peers are asked for one),
  // cipher list and protocol versions ("TLSv1.2 TLSv1.3"). Throws std::runtime_error naming the
  // profile and the OpenSSL reason.
  static std::shared_ptr<tls_context> make_server(const ssl_profile_config& profile,
                                                  bool require_client_certificate);
  ~tls_context();
  SSL_CTX* native() const noexcept { return ctx_; }

 private:
  explicit tls_context(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

class tls_stream {
 public:
  explicit tls_stream(std::shared_ptr<tls_context> context);
  ~tls_stream();
  tls_stream(const tls_stream&) = delete;
  tls_stream& operator=(const tls_stream&) = delete;

  // Feeds received ciphertext; appends the plaintext it yields to `plain`. Returns false when
  // the peer's TLS is broken (handshake failure, bad record): the connection must be dropped.
  bool receive(amqp::bytes_view cipher, amqp::byte_buffer& plain);
  // Encrypts plaintext and appends ciphertext (plus any pending handshake bytes) to `cipher`.
  bool send(amqp::bytes_view plain, amqp::byte_buffer& cipher);
  // Moves pending handshake/alert bytes to `cipher`.
  void drain(amqp::byte_buffer& cipher);
  bool handshake_done() const;
  // Subject of a verified client certificate ("" when none).
  std::string peer_identity() const;
  const std::string& last_error() const noexcept { return error_; }

 private:
  std::shared_ptr<tls_context> context_;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;   // ciphertext from the peer, read by OpenSSL
  BIO* out_ = nullptr;  // ciphertext for the peer, written by OpenSSL
  amqp::byte_buffer pending_plain_;  // plaintext SSL_write could not take yet (handshake)
  std::string error_;
};

}  // namespace fogmesh::router
