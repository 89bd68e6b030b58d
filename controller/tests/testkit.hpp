// Test kit for the controller's API tests: a throwaway PostgreSQL cluster (the same embedded
// cluster code the controller uses, with fsync off), the server in-process on 127.0.0.1:0, a
// minimal blocking HTTP client, and a launcher for the real binary.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fogmesh/controller/embedded_postgres.hpp"
#include "fogmesh/controller/server.hpp"

namespace fogmesh::controller::test {

// mkdtemp'd directory (/tmp/fmctl-*) removed (recursively) on destruction.
//
// Test processes that die (abort, ctest's timeout, kill -9) skip that, and PostgreSQL clusters
// in such directories (a pg_cluster's, or the one a controller_process runs) would keep running.
// So each directory names its owner (file `owner`: pid, process start time, pid namespace), and
// is cleaned up, its cluster stopped, once that owner is gone: at once by a watchdog (a shell
// that waits for the owner's end of a pipe to close), else by reap_orphaned_dirs() at the next
// fixture start when the watchdog was killed too.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int watchdog_fd_ = -1;  // our end of the watchdog's pipe
  int watchdog_pid_ = -1;
};

// Stops the clusters in /tmp/fmctl-* directories whose owner process is gone and removes those
// directories. Directories of live owners, of other pid namespaces, and without an owner file
// are left alone. Returns how many were removed.
int reap_orphaned_dirs();

// Forks and execs argv, stdout and stderr into `log_file` ("" keeps ours). The child is killed
// when this process dies (PR_SET_PDEATHSIG), so a killed test leaves no server behind.
int spawn(const std::vector<std::string>& argv, const std::string& log_file = "");

// A self-signed certificate and key for localhost written into `dir` (cert.pem, key.pem).
std::pair<std::string, std::string> self_signed_cert(const std::string& dir);

class pg_cluster {
 public:
  pg_cluster();  // reaps orphaned clusters first
  ~pg_cluster();
  std::string conninfo() const { return pg_->conninfo(); }
  const std::string& dir() const { return dir_.path(); }
  // Runs one SQL statement and returns the first column of the first row as text ("" if none).
  std::string query(const std::string& sql) const;

 private:
  temp_dir dir_;
  std::unique_ptr<embedded_postgres> pg_;
};

struct http_result {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  std::string body;

  boost::json::value json() const;
  std::string header(const std::string& name) const;
};

// One request on a fresh connection (Connection: close). `auth` is sent as Authorization.
http_result http(uint16_t port, const std::string& method, const std::string& path,
                 const std::string& body = "", const std::string& auth = "",
                 const std::vector<std::pair<std::string, std::string>>& extra_headers = {},
                 int timeout_sec = 120);

// A TCP connection to 127.0.0.1:port (receive timeout timeout_sec); the caller closes it.
int connect_loopback(uint16_t port, int timeout_sec = 120);

// A port on 127.0.0.1 that nothing listens on (bound, then released).
uint16_t unused_port();

// A multipart/form-data upload of one file field, as iofogctl, the ECN Viewer and the agent
// send.
http_result upload(uint16_t port, const std::string& method, const std::string& path,
                   const std::string& field, const std::string& content, const std::string& auth);

// GET over TLS (certificate not verified), Connection: close.
http_result https_get(uint16_t port, const std::string& path);
http_result parse_response(const std::string& raw);

// A cluster plus an in-process server, shared by all tests of a suite.
class api_test : public ::testing::Test {
 public:
  static void SetUpTestSuite();
  static void TearDownTestSuite();

 protected:
  static uint16_t port();
  static pg_cluster& db();
  static server_options default_options(const std::string& conninfo);

  http_result get(const std::string& path, const std::string& auth = "") {
    return http(port(), "GET", path, "", auth);
  }
  http_result post(const std::string& path, const std::string& body, const std::string& auth = "") {
    return http(port(), "POST", path, body, auth);
  }
  http_result patch(const std::string& path, const std::string& body,
                    const std::string& auth = "") {
    return http(port(), "PATCH", path, body, auth);
  }
  http_result put(const std::string& path, const std::string& body, const std::string& auth = "") {
    return http(port(), "PUT", path, body, auth);
  }
  http_result del(const std::string& path, const std::string& auth = "",
                  const std::string& body = "") {
    return http(port(), "DELETE", path, body, auth);
  }

  // Signs up a fresh user (unique email) and returns its access token.
  std::string new_user_token();
  // Creates a fog for `token` and returns its uuid.
  std::string create_fog(const std::string& token, const std::string& name,
                         const std::string& extra_json = "");
  // Provisions an agent for the fog and returns the agent token.
  std::string provision_agent(const std::string& token, const std::string& fog_uuid);

  // The agent's change flags (GET /agent/config/changes), and their acknowledgement (none when
  // nothing is pending).
  boost::json::object changes(const std::string& agent);
  void ack(const std::string& agent);
  // The fog's router microservice (from its system application) or null, and its parsed config.
  boost::json::value router_msvc(const std::string& token, const std::string& fog);
  boost::json::value router_config(const std::string& token, const std::string& fog);
  static boost::json::value parse(const std::string& s) { return boost::json::parse(s); }
};

// Asserts a {name,message} error body.
void expect_error(const http_result& r, int status, const std::string& name,
                  const std::string& message_substring = "");

// A real FTP server (Debian's python3-pyftpdlib) on 127.0.0.1:port(), one user with write access
// to root(). `epsv` false: it refuses EPSV (500), so clients must fall back to PASV.
class ftp_server {
 public:
  ftp_server(const std::string& user, const std::string& password, bool epsv = true);
  ~ftp_server();  // SIGKILL
  uint16_t port() const { return port_; }
  std::string root() const { return dir_.path() + "/root"; }

 private:
  temp_dir dir_;
  int pid_ = -1;
  uint16_t port_ = 0;
};

// The fogmesh-controller binary as a child process (spawn()), embedded PostgreSQL.
class controller_process {
 public:
  explicit controller_process(const std::string& data_dir, std::vector<std::string> extra = {});
  ~controller_process();  // SIGKILL if still running
  uint16_t port() const { return port_; }
  int terminate();  // SIGTERM, wait, returns the exit status
  void kill9();     // SIGKILL the controller only (its PostgreSQL keeps running)

 private:
  int pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace fogmesh::controller::test
