// The controller's HTTP server: ioFog v3 REST API under /api/v3 on a PostgreSQL database.
// Tests and benchmarks embed it in-process; main.cpp wraps it with option parsing and signals.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace fogmesh::controller {

struct server_options {
  std::string bind_address = "0.0.0.0";
  uint16_t port = 51121;  // 0 = let the OS choose; server::port() tells which
  // libpq connection string or URI ("postgresql://..." or "host=... dbname=...").
  std::string db_conninfo;
  // Worker threads running requests, one pool connection each (plus one for woken long-polls).
  // Every committed write waits for a WAL flush (10-20 ms on slow disks); PostgreSQL flushes
  // the commits that wait together at once, so more connections mean more commits per flush.
  int db_connections = 16;
  int io_threads = 1;
  // Agents silent for statusFrequency x 3 become UNKNOWN; this is how often that is checked.
  int liveness_interval_sec = 30;
  // Upper bound for ?wait= on GET /agent/config/changes.
  int max_long_poll_sec = 60;
  // Public ports are allocated from [public_ports_start, public_ports_end) on each public router
  // (upstream's PublicPorts:Range "6000-7000": 1,000 ports, the end excluded).
  int public_ports_start = 6000;
  int public_ports_end = 7000;
  std::string version = "3.0.4-fogmesh";
  // PEM certificate chain and private key: when set, the listener speaks HTTPS only.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class server {
 public:
  explicit server(server_options options);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Connects to the database, applies pending migrations, binds and starts serving on background
  // threads. Throws std::exception with a readable message on failure.
  void start();
  // The bound port (useful with port 0).
  uint16_t port() const;
  // Stops accepting, cancels long-polls, finishes in-flight requests and joins all threads.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace fogmesh::controller
