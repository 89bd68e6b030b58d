// Remote hosts over the system OpenSSH client (ssh/scp): BatchMode (never a password prompt),
// host keys accepted on first use into ~/.fogmesh/known_hosts and checked afterwards
// (StrictHostKeyChecking=accept-new), a connect timeout. Errors name the host, the step and
// ssh's own message.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace fogmesh::ctl {

struct ssh_target {
  std::string host;
  std::string user = "root";
  std::string key_file;  // private key (-i)
  int port = 22;
  std::string label() const;  // user@host:port
};

// ssh or scp failed: "STEP on user@host:port: ssh exited N: <ssh's stderr>".
class ssh_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Quotes `s` for a POSIX shell ('...').
std::string shell_quote(const std::string& s);

// Runs `command` with the remote user's shell; returns its stdout (stderr goes into errors).
std::string ssh_run(const ssh_target& t, const std::string& step, const std::string& command);

// Copies a local file to `remote_path` (scp).
void scp_to(const ssh_target& t, const std::string& step, const std::string& local_file,
            const std::string& remote_path);

}  // namespace fogmesh::ctl
