#include "engine/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fogmesh::router {

namespace {

std::string openssl_error() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown error" : out;
}

int password_callback(char* buf, int size, int, void* userdata) {
  const auto* password = static_cast<const std::string*>(userdata);
  const int n = std::min<int>(size, static_cast<int>(password->size()));
  std::memcpy(buf, password->data(), static_cast<std::size_t>(n));
  return n;
}

int protocol_version(const std::string& name) {
  if (name == "TLSv1.2") return TLS1_2_VERSION;
  if (name == "TLSv1.3") return TLS1_3_VERSION;
  if (name == "TLSv1.1") return TLS1_1_VERSION;
  if (name == "TLSv1") return TLS1_VERSION;
  return 0;
}

}  // namespace

std::shared_ptr<tls_context> tls_context::make_server(const ssl_profile_config& profile,
                                                      bool require_client_certificate) {
  auto fail = [&](const std::string& what) -> std::runtime_error {
    return std::runtime_error("sslProfile '" + profile.name + "': " + what + ": " +
                              openssl_error());
  };
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) throw fail("cannot create TLS context");
  std::shared_ptr<tls_context> result(new tls_context(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (!profile.protocols.empty()) {
    std::istringstream words(profile.protocols);
    std::string w;
    int lowest = 0, highest = 0;
    while (words >> w) {
      int v = protocol_version(w);
      if (v == 0) throw std::runtime_error("sslProfile '" + profile.name + "': unknown protocol " + w);
      lowest = lowest == 0 ? v : std::min(lowest, v);
      highest = std::max(highest, v);
    }
    SSL_CTX_set_min_proto_version(ctx, lowest);
    SSL_CTX_set_max_proto_version(ctx, highest);
  }
  if (!profile.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, profile.ciphers.c_str()) != 1) {
    throw fail("bad ciphers");
  }
  std::string password = profile.password;
  if (!profile.password_file.empty()) {
    std::ifstream in(profile.password_file);
    if (!in) throw std::runtime_error("sslProfile '" + profile.name + "': cannot read passwordFile " + profile.password_file);
    std::getline(in, password);
  }
  static thread_local std::string callback_password;
  callback_password = password;
  SSL_CTX_set_default_passwd_cb(ctx, password_callback);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, &callback_password);
  if (profile.cert_file.empty() ||
      SSL_CTX_use_certificate_chain_file(ctx, profile.cert_file.c_str()) != 1) {
    throw fail("cannot load certFile '" + profile.cert_file + "'");
  }
  const std::string& key = profile.private_key_file.empty() ? profile.cert_file
                                                            : profile.private_key_file;
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw fail("cannot load privateKeyFile '" + key + "'");
  }
  if (SSL_CTX_check_private_key(ctx) != 1) throw fail("private key does not match certificate");
  SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
  if (!profile.ca_cert_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, profile.ca_cert_file.c_str(), nullptr) != 1) {
      throw fail("cannot load caCertFile '" + profile.ca_cert_file + "'");
    }
    int mode = SSL_VERIFY_PEER;
    if (require_client_certificate) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, nullptr);
  }
  return result;
}

tls_context::~tls_context() { SSL_CTX_free(ctx_); }

tls_stream::tls_stream(std::shared_ptr<tls_context> context) : context_(std::move(context)) {
  ssl_ = SSL_new(context_->native());
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl_, in_, out_);  // ssl_ owns both BIOs now
  SSL_set_accept_state(ssl_);
}

tls_stream::~tls_stream() { SSL_free(ssl_); }

bool tls_stream::handshake_done() const { return SSL_is_init_finished(ssl_) == 1; }

bool tls_stream::receive(amqp::bytes_view cipher, amqp::byte_buffer& plain) {
  if (!cipher.empty() && BIO_write(in_, cipher.data(), static_cast<int>(cipher.size())) <= 0) {
    error_ = "BIO_write failed";
    return false;
  }
  for (;;) {
    const std::size_t start = plain.size();
    plain.resize(start + 16384);
    const int n = SSL_read(ssl_, plain.data() + start, 16384);
    if (n > 0) {
      plain.resize(start + static_cast<std::size_t>(n));
      continue;
    }
    plain.resize(start);
    const int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
    if (err == SSL_ERROR_ZERO_RETURN) break;  // close_notify: the socket EOF follows
    error_ = openssl_error();
    return false;
  }
  // Plaintext held back during the handshake goes out on the connection's next send().
  return true;
}

bool tls_stream::send(amqp::bytes_view plain, amqp::byte_buffer& cipher) {
  if (!handshake_done()) {
    pending_plain_.insert(pending_plain_.end(), plain.begin(), plain.end());
    drain(cipher);
    return true;
  }
  if (!pending_plain_.empty()) {
    amqp::byte_buffer held;
    held.swap(pending_plain_);
    if (!send(held, cipher)) return false;
  }
  std::size_t offset = 0;
  while (offset < plain.size()) {
    const int n = SSL_write(ssl_, plain.data() + offset, static_cast<int>(plain.size() - offset));
    if (n <= 0) {
      error_ = openssl_error();
      return false;
    }
    offset += static_cast<std::size_t>(n);
  }
  drain(cipher);
  return true;
}

void tls_stream::drain(amqp::byte_buffer& cipher) {
  const std::size_t pending = BIO_ctrl_pending(out_);
  if (pending == 0) return;
  const std::size_t start = cipher.size();
  cipher.resize(start + pending);
  const int n = BIO_read(out_, cipher.data() + start, static_cast<int>(pending));
  cipher.resize(start + static_cast<std::size_t>(std::max(n, 0)));
}

std::string tls_stream::peer_identity() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr || SSL_get_verify_result(ssl_) != X509_V_OK) return {};
  char cn[256] = {};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0) {
    return cn;
  }
  char* line = X509_NAME_oneline(X509_get_subject_name(cert), nullptr, 0);
  std::string subject = line != nullptr ? line : "";
  OPENSSL_free(line);
  return subject;
}

}  // namespace fogmesh::router
