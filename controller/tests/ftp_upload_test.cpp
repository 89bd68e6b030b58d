// The controller's FTP client (src/ftp_upload.*) against a real FTP server (pyftpdlib): EPSV and
// the PASV fallback, refused logins and paths, and the failures that have no FTP reply at all
// (nothing listening, a server that never answers).
#include "ftp_upload.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "testkit.hpp"

namespace fogmesh::controller::test {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string upload_error(const ftp_destination& to, const std::string& name,
                         std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
  try {
    ftp_upload(to, name, "data", timeout);
  } catch (const ftp_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "the upload did not fail";
  return "";
}

TEST(ftp_upload_test, StoresBinaryFileWithEpsvAndPasv) {
  std::string content("line 1\r\nline 2\n\0\xff binary", 25);
  content += std::string(300000, 'x');  // more than one socket buffer
  for (bool epsv : {true, false}) {
    SCOPED_TRACE(epsv ? "EPSV" : "EPSV refused, PASV");
    ftp_server ftp("tracer", "s3cret pass", epsv);
    fs::create_directory(ftp.root() + "/traces");
    ftp_destination to{"127.0.0.1", ftp.port(), "tracer", "s3cret pass", "/traces/"};
    ftp_upload(to, "trace-1", content);
    EXPECT_EQ(slurp(ftp.root() + "/traces/trace-1"), content);  // byte for byte (TYPE I)
    // Again: the file is replaced. An empty file is a file too.
    ftp_upload(to, "trace-1", "");
    ASSERT_TRUE(fs::exists(ftp.root() + "/traces/trace-1"));
    EXPECT_EQ(fs::file_size(ftp.root() + "/traces/trace-1"), 0u);
  }
}

TEST(ftp_upload_test, RefusalsNameTheReply) {
  ftp_server ftp("tracer", "right");
  ftp_destination to{"127.0.0.1", ftp.port(), "tracer", "wrong", "/"};
  std::string e = upload_error(to, "t");
  EXPECT_NE(e.find("login refused: 530"), std::string::npos) << e;
  EXPECT_EQ(e.find("wrong"), std::string::npos) << "the password leaks: " << e;
  EXPECT_FALSE(fs::exists(ftp.root() + "/t"));

  to.password = "right";
  to.directory = "/no/such/dir";
  e = upload_error(to, "t");
  EXPECT_NE(e.find("STOR /no/such/dir/t refused: 55"), std::string::npos) << e;

  EXPECT_THROW(ftp_upload({"127.0.0.1", ftp.port(), "tracer", "right\r\nDELE x", "/"}, "t", ""),
               std::invalid_argument);
  EXPECT_FALSE(ftp_safe_argument("a\nb"));
  EXPECT_TRUE(ftp_safe_argument("/dir with spaces"));
}

TEST(ftp_upload_test, NoServer) {
  uint16_t port = unused_port();
  std::string e = upload_error({"127.0.0.1", port, "u", "p", "/"}, "t");
  EXPECT_EQ(e, "connecting to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
  e = upload_error({"no-such-host.invalid", 21, "u", "p", "/"}, "t");
  EXPECT_NE(e.find("cannot resolve host 'no-such-host.invalid'"), std::string::npos) << e;
}

TEST(ftp_upload_test, SilentServerTimesOut) {
  // Accepts connections (the kernel does, from the backlog) and never says a word.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  auto start = std::chrono::steady_clock::now();
  std::string e =
      upload_error({"127.0.0.1", ntohs(a.sin_port), "u", "p", "/"}, "t", std::chrono::seconds(1));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(e, "greeting: no answer within 1 s");
  EXPECT_LT(took, std::chrono::seconds(10));  // a bound, not a measurement
  ::close(fd);
}

}  // namespace
}  // namespace fogmesh::controller::test
