// A private PostgreSQL cluster run from Debian's postgresql package (initdb/pg_ctl), used when the
// controller is started without --db, and by the tests as their throwaway database.
//
// The cluster listens only on a unix socket inside its directory (no TCP), with trust auth: the
// socket directory is mode 0700 and owned by the cluster's user, so only that user and root can
// connect. PostgreSQL refuses to run as root, so under root the cluster runs as `postgres`.
#pragma once

#include <string>

namespace fogmesh::controller {

struct embedded_postgres_options {
  std::string dir;  // holds pgdata/ and run/ (socket, log); created if missing
  std::string bin_dir = "/usr/lib/postgresql/15/bin";
  std::string run_as = "postgres";  // system user for the cluster when we are root
  bool durable = true;              // false: fsync=off etc. for throwaway test clusters
};

class embedded_postgres {
 public:
  explicit embedded_postgres(embedded_postgres_options options);
  ~embedded_postgres();  // stops the cluster if this object started it
  embedded_postgres(const embedded_postgres&) = delete;
  embedded_postgres& operator=(const embedded_postgres&) = delete;

  // Initialises the cluster on first use and starts it (or adopts one left running by a
  // previous process that was killed). Throws std::runtime_error with the tool's output.
  void start();
  void stop();
  // libpq connection string for the cluster's "fogmesh" database.
  std::string conninfo() const;

 private:
  embedded_postgres_options options_;
  bool started_ = false;
  std::string socket_dir_;
  int port_ = 5432;
};

}  // namespace fogmesh::controller
