// The FTP client of ftp_upload.hpp on Boost.Asio. It runs on the calling (worker) thread with a
// private io_context: every operation is started asynchronously and the context is run for at
// most the step timeout, which gives each step a deadline that blocking socket calls lack.
#include "ftp_upload.hpp"

#include <algorithm>
#include <boost/asio.hpp>
#include <charconv>
#include <optional>

namespace fogmesh::controller {

namespace asio = boost::asio;
using asio::ip::tcp;

bool ftp_safe_argument(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

namespace {

// Replies longer than this are not FTP servers talking to us.
constexpr size_t max_reply_bytes = 64 * 1024;

struct ftp_reply {
  int code = 0;
  std::string text;  // every line of the reply, joined by a space, without CR/LF

  int kind() const { return code / 100; }  // 1 preliminary, 2 done, 3 more needed, 4/5 refused
};

class ftp_session {
 public:
  explicit ftp_session(std::chrono::milliseconds timeout) : timeout_(timeout) {}

  ~ftp_session() {
    boost::system::error_code ignored;
    data_.close(ignored);
    control_.close(ignored);
  }

  void connect(const std::string& host, uint16_t port) {
    boost::system::error_code ec;
    tcp::resolver resolver(io_);
    auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (ec) throw ftp_error("cannot resolve host '" + host + "': " + ec.message());
    run("connecting to " + host + ":" + std::to_string(port),
        [&](auto done) { asio::async_connect(control_, endpoints, done); });
  }

  ftp_reply read_reply(const std::string& step) {
    std::string line = read_line(step);
    if (line.size() < 3 ||
        !std::all_of(line.begin(), line.begin() + 3, [](char c) { return c >= '0' && c <= '9'; })) {
      throw ftp_error(step + ": not an FTP reply: '" + line.substr(0, 80) + "'");
    }
    ftp_reply reply{std::stoi(line.substr(0, 3)), line};
    // "123-" opens a multi-line reply, which ends with a line "123 ..." (RFC 959 4.2).
    if (line.size() > 3 && line[3] == '-') {
      const std::string code = line.substr(0, 3);
      do {
        line = read_line(step);
        reply.text += ' ' + line;
        if (reply.text.size() > max_reply_bytes) throw ftp_error(step + ": reply too long");
      } while (!(line.starts_with(code) && (line.size() == 3 || line[3] == ' ')));
    }
    return reply;
  }

  ftp_reply command(const std::string& line, const std::string& step) {
    std::string wire = line + "\r\n";
    run(step, [&](auto done) { asio::async_write(control_, asio::buffer(wire), done); });
    return read_reply(step);
  }

  // Fails unless the reply is of the wanted kind.
  static void require(const ftp_reply& reply, int kind, const std::string& step) {
    if (reply.kind() != kind) throw ftp_error(step + " refused: " + reply.text);
  }

  // Passive mode: EPSV (RFC 2428), else PASV. The data connection goes to the control
  // connection's peer whatever address PASV names, as curl does by default: a server (or
  // whoever answers for it) cannot point us at a third host.
  void open_data_connection() {
    auto peer = control_.remote_endpoint();
    ftp_reply r = command("EPSV", "EPSV");
    std::optional<uint16_t> port;
    if (r.code == 229) {
      port = epsv_port(r.text);
    } else {
      r = command("PASV", "PASV");
      require(r, 2, "PASV");
      port = pasv_port(r.text);
    }
    if (!port) throw ftp_error("cannot read the data port from '" + r.text + "'");
    tcp::endpoint ep(peer.address(), *port);
    run("opening the data connection to port " + std::to_string(*port),
        [&](auto done) { data_.async_connect(ep, done); });
  }

  void send_data(std::string_view content) {
    run("sending the file", [&](auto done) {
      asio::async_write(data_, asio::buffer(content.data(), content.size()), done);
    });
    // The end of the data connection is the end of the file (stream mode).
    boost::system::error_code ignored;
    data_.shutdown(tcp::socket::shutdown_send, ignored);
    data_.close(ignored);
  }

 private:
  // Starts an operation through `start(done)` and runs it for at most the step timeout. On
  // timeout the sockets are closed, which completes the operation with operation_aborted
  // before `result` goes out of scope.
  template <class Start>
  void run(const std::string& step, Start start) {
    std::optional<boost::system::error_code> result;
    start([&result](boost::system::error_code ec, auto&&...) { result = ec; });
    io_.restart();
    io_.run_for(timeout_);
    if (!result) {
      boost::system::error_code ignored;
      data_.close(ignored);
      control_.close(ignored);
      io_.restart();
      io_.run();
      auto ms = timeout_.count();
      throw ftp_error(
          step + ": no answer within " +
          (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms"));
    }
    if (*result == asio::error::eof) throw ftp_error(step + ": the server closed the connection");
    if (*result) throw ftp_error(step + ": " + result->message());
  }

  std::string read_line(const std::string& step) {
    if (auto eol = in_.find('\n'); eol == std::string::npos) {
      run(step, [&](auto done) {
        asio::async_read_until(control_, asio::dynamic_buffer(in_, max_reply_bytes), '\n', done);
      });
    }
    auto eol = in_.find('\n');
    std::string line = in_.substr(0, eol);
    in_.erase(0, eol + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }

  // "229 Entering Extended Passive Mode (|||6446|)": the delimiter is the character after '('.
  static std::optional<uint16_t> epsv_port(const std::string& text) {
    auto open = text.find('(');
    if (open == std::string::npos || open + 4 >= text.size()) return std::nullopt;
    char delim = text[open + 1];
    size_t start = open + 4;
    if (text[open + 2] != delim || text[open + 3] != delim) return std::nullopt;
    unsigned port = 0;
    auto [end, ec] = std::from_chars(text.data() + start, text.data() + text.size(), port);
    if (ec != std::errc{} || end == text.data() + text.size() || *end != delim || port == 0 ||
        port > 65535)
      return std::nullopt;
    return static_cast<uint16_t>(port);
  }

  // "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)": the last two numbers are the port.
  static std::optional<uint16_t> pasv_port(const std::string& text) {
    auto open = text.find('(');
    if (open == std::string::npos) return std::nullopt;
    unsigned n[6] = {};
    const char* p = text.data() + open + 1;
    const char* end = text.data() + text.size();
    for (int i = 0; i < 6; ++i) {
      auto [next, ec] = std::from_chars(p, end, n[i]);
      if (ec != std::errc{} || n[i] > 255 || next == end || *next != (i < 5 ? ',' : ')'))
        return std::nullopt;
      p = next + 1;
    }
    unsigned port = n[4] * 256 + n[5];
    if (port == 0) return std::nullopt;
    return static_cast<uint16_t>(port);
  }

  std::chrono::milliseconds timeout_;
  asio::io_context io_;
  tcp::socket control_{io_};
  tcp::socket data_{io_};
  std::string in_;  // control connection bytes read but not yet consumed
};

}  // namespace

void ftp_upload(const ftp_destination& to, const std::string& name, std::string_view content,
                std::chrono::milliseconds step_timeout) {
  for (const auto* arg : {&to.user, &to.password, &to.directory, &name}) {
    if (!ftp_safe_argument(*arg)) throw std::invalid_argument("FTP argument holds CR, LF or NUL");
  }
  std::string dir = to.directory;
  while (!dir.empty() && dir.back() == '/') dir.pop_back();
  std::string path = dir + "/" + name;

  ftp_session s(step_timeout);
  s.connect(to.host, to.port);
  ftp_session::require(s.read_reply("greeting"), 2, "greeting");
  ftp_reply r = s.command("USER " + to.user, "login");
  if (r.code == 331) r = s.command("PASS " + to.password, "login");
  // 230 logged in, 202 a PASS the server did not need; 332 would want an ACCT.
  if (r.kind() != 2) throw ftp_error("login refused: " + r.text);
  ftp_session::require(s.command("TYPE I", "TYPE I"), 2, "TYPE I");
  s.open_data_connection();
  // 125/150: the server takes the data connection; 4xx/5xx: no such directory, no permission.
  ftp_session::require(s.command("STOR " + path, "STOR " + path), 1, "STOR " + path);
  s.send_data(content);
  ftp_session::require(s.read_reply("storing " + path), 2, "storing " + path);
  try {
    s.command("QUIT", "QUIT");
  } catch (const ftp_error&) {
    // The file is stored; a server that hangs up without a goodbye changes nothing.
  }
}

}  // namespace fogmesh::controller
