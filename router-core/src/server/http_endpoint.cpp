#include "server/http_endpoint.hpp"

#include <cstring>

#include "fogmesh/common/log.hpp"
#include "fogmesh/router/config.hpp"
#include "management/metrics.hpp"
#include "server/shard.hpp"

namespace fogmesh::router {

namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("router.http");
  return l;
}

constexpr std::size_t max_head = 8192;

}  // namespace

http_endpoint_connection::http_endpoint_connection(shard& owner, int fd,
                                                   const listener_config& listener,
                                                   std::string peer)
    : owner_(owner),
      socket_(std::make_unique<io::stream_socket>(owner.loop(), fd, this)),
      peer_(std::move(peer)),
      metrics_(listener.metrics),
      healthz_(listener.health_z) {
  socket_->set_reading(true);
}

http_endpoint_connection::~http_endpoint_connection() {
  *alive_ = false;
  if (socket_) socket_->close(true);
}

void http_endpoint_connection::close() {
  *alive_ = false;
  if (socket_ && !socket_->closing()) socket_->close(!answered_);
  done_ = true;
}

bool http_endpoint_connection::parse_request_line(std::string_view head, request_line& out) {
  const std::size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return false;
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return false;
  const std::string_view version = line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return false;
  const std::string_view method = line.substr(0, sp1);
  for (char c : method) {
    if (c < 'A' || c > 'Z') return false;
  }
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (target.front() != '/') return false;
  target = target.substr(0, target.find('?'));  // scrapers may add parameters; none apply
  out.method.assign(method);
  out.path.assign(target);
  return true;
}

void http_endpoint_connection::on_socket_data(std::span<const std::uint8_t> data) {
  if (answered_) return;  // one request per connection: anything after it is ignored
  head_.append(reinterpret_cast<const char*>(data.data()), data.size());
  if (head_.find("\r\n\r\n") != std::string::npos) {
    handle_request();
  } else if (head_.size() > max_head) {
    respond(431, "Request Header Fields Too Large", "text/plain", "request head over 8 KiB\n");
  }
}

void http_endpoint_connection::handle_request() {
  request_line req;
  if (!parse_request_line(head_, req)) {
    respond(400, "Bad Request", "text/plain", "not an HTTP/1.x request\n");
    return;
  }
  const bool head_only = req.method == "HEAD";
  if (req.method != "GET" && !head_only) {
    respond(405, "Method Not Allowed", "text/plain", "only GET and HEAD\n");
    return;
  }
  if (req.path == "/healthz" && healthz_) {
    respond(200, "OK", "text/plain", "ok\n", head_only);
    return;
  }
  if (req.path == "/metrics" && metrics_) {
    answered_ = true;  // the answer comes once every shard reported
    management::collect_metrics(owner_, [this, alive = alive_, head_only](std::string text) {
      if (!*alive) return;
      answered_ = false;
      respond(200, "OK", "text/plain; version=0.0.4; charset=utf-8", std::move(text), head_only);
    });
    return;
  }
  respond(404, "Not Found", "text/plain", "no such path; try /metrics or /healthz\n", head_only);
}

void http_endpoint_connection::respond(int status, std::string_view reason,
                                       std::string_view content_type, std::string body,
                                       bool head_only) {
  if (answered_ || !socket_) return;
  answered_ = true;
  if (status >= 400) logger()->debug("{}: HTTP {} for '{}'", peer_, status, head_.substr(0, 80));
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
                    "\r\nContent-Type: " + std::string(content_type) +
                    "\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\nConnection: close\r\n\r\n";
  if (!head_only) out += body;
  socket_->set_reading(false);
  socket_->write(out);
  socket_->close(false);  // FIN once the answer is out
  done_ = true;
}

void http_endpoint_connection::on_socket_eof() {
  if (!answered_) close();  // went away before asking anything (or mid-request)
}

void http_endpoint_connection::on_socket_error(int err, bool) {
  logger()->debug("{}: {}", peer_, std::strerror(err));
  close();
}

void http_endpoint_connection::on_socket_writable() {}

}  // namespace fogmesh::router
