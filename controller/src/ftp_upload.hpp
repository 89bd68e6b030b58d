// A small FTP client for one job: storing a file on a server a user names (upstream's "post the
// strace buffer to FTP", PUT /microservices/:uuid/strace). RFC 959 with RFC 2428's EPSV:
// USER/PASS, TYPE I, passive mode (EPSV, else PASV), STOR, QUIT. No active mode (it needs the
// server to connect back to us, which firewalls and NAT break) and no FTPS (upstream has none).
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace fogmesh::controller {

struct ftp_destination {
  std::string host;
  uint16_t port = 21;
  std::string user;
  std::string password;
  std::string directory;  // the file is stored as directory + "/" + name, as upstream does
};

// Why an upload failed, naming the step and the server's reply or the socket error. Never
// contains the password.
class ftp_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// True when `s` can go into an FTP command line: a CR or LF would end the command early and let
// the rest run as a command of its own, a NUL ends it in many servers.
bool ftp_safe_argument(std::string_view s);

// Stores `content` as `to.directory + "/" + name` (binary). Every step (connecting, each reply,
// sending the file) must finish within `step_timeout`, else the connection is dropped and an
// ftp_error says which step timed out. Host names are resolved by getaddrinfo, which keeps its
// own timeouts (resolv.conf). Throws ftp_error; std::invalid_argument for an unsafe argument.
void ftp_upload(const ftp_destination& to, const std::string& name, std::string_view content,
                std::chrono::milliseconds step_timeout = std::chrono::seconds(15));

}  // namespace fogmesh::controller
