#!/usr/bin/python3
"""httpListener -> AMQP -> httpConnector inside one fogmesh-router (proxy/README.md "HTTP
mapping"), against a small Python HTTP/1.1 server in this process.

Checked: requests on one keep-alive client connection; pipelined requests answered in order;
a chunked upload of 3 MiB echoed back byte for byte (streamed through the router as data
sections, written to the server chunked); a 2 MiB response; a HEAD; 502 from a connector whose
target is down; 400 for a malformed request (and the connection closed); many requests from
parallel clients; the router healthy afterwards (SIGTERM exits 0).
"""
import hashlib
import http.client
import http.server
import os
import socket
import threading

import harness


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body, content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_GET(self):
        if self.path == "/big":
            self._send(200, hashlib.sha256(b"big").digest() * (2 * 1024 * 1024 // 32),
                       "application/octet-stream")
        else:
            self._send(200, ("path=%s host=%s" % (self.path, self.headers.get("Host"))).encode())

    do_HEAD = do_GET

    def do_POST(self):
        body = self._body()
        self._send(200, body, self.headers.get("Content-Type", "application/octet-stream"))


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a connection the router resets at shutdown is no test failure


def start_server():
    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def wait_serving(port, timeout=30):
    import time
    end = time.monotonic() + harness.deadline(timeout)
    last = None
    while time.monotonic() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=harness.deadline(10))
            c.request("GET", "/ready")
            r = c.getresponse()
            r.read()
            c.close()
            if r.status == 200:
                return
            last = r.status
        except OSError as e:
            last = e
        time.sleep(0.1)
    harness.fail("httpListener on %d did not answer within %ss (last %r)" % (port, timeout, last))


def read_response(f):
    """(status, headers dict lower-case, body) of one response from a socket file."""
    line = f.readline()
    harness.check(line.startswith(b"HTTP/1.1 "), "status line %r" % line)
    status = int(line.split()[1])
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b""):
            break
        k, v = h.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = f.read(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int(f.readline().strip(), 16)
            if size == 0:
                f.readline()
                break
            parts.append(f.read(size))
            f.readline()
        body = b"".join(parts)
    else:
        body = f.read()
    return status, headers, body


def test(args):
    server = start_server()
    p_http, p_down = harness.free_port(), harness.free_port()
    dead_port = harness.free_port()
    extra = """
httpListener {
    name: web-in
    host: 127.0.0.1
    port: %d
    address: svc/web
    protocolVersion: HTTP1
}
httpConnector {
    name: web-out
    host: 127.0.0.1
    port: %d
    address: svc/web
}
httpListener {
    name: down-in
    host: 127.0.0.1
    port: %d
    address: svc/down
}
httpConnector {
    name: down-out
    host: 127.0.0.1
    port: %d
    address: svc/down
}
""" % (p_http, server.server_address[1], p_down, dead_port)
    with harness.Router(args, extra=extra) as router:
        if "built without the proxy adaptors" in router.log():
            harness.skip("this fogmesh-router was built without proxy/")
        wait_serving(p_http)

        # Keep-alive: several requests on one client connection.
        c = http.client.HTTPConnection("127.0.0.1", p_http, timeout=harness.deadline(30))
        for i in range(5):
            c.request("GET", "/ka/%d" % i, headers={"Host": "svc.example"})
            r = c.getresponse()
            body = r.read()
            harness.check(r.status == 200 and body == ("path=/ka/%d host=svc.example" % i).encode(),
                          "keep-alive request %d: %s %r" % (i, r.status, body))
        first_sock = c.sock
        c.request("HEAD", "/head")
        r = c.getresponse()
        harness.check(r.status == 200 and r.read() == b"", "HEAD: %s" % r.status)
        harness.check(c.sock is first_sock, "the client connection was not kept alive")

        # A large response, then a chunked upload echoed back.
        c.request("GET", "/big")
        r = c.getresponse()
        big = r.read()
        harness.check(big == hashlib.sha256(b"big").digest() * (2 * 1024 * 1024 // 32),
                      "2 MiB response: %d bytes" % len(big))
        upload = os.urandom(3 * 1024 * 1024)

        def chunks():
            for i in range(0, len(upload), 100000):
                yield upload[i:i + 100000]

        c.request("POST", "/echo", body=chunks(), encode_chunked=True,
                  headers={"Content-Type": "application/x-test"})
        r = c.getresponse()
        echoed = r.read()
        harness.check(r.status == 200 and echoed == upload,
                      "chunked upload: status %s, %d of %d bytes back" % (r.status, len(echoed),
                                                                          len(upload)))
        harness.check(r.getheader("Content-Type") == "application/x-test",
                      "content-type %r" % r.getheader("Content-Type"))
        c.close()

        # Pipelining: three requests in one write, answered in order.
        s = socket.create_connection(("127.0.0.1", p_http), timeout=harness.deadline(30))
        s.sendall(b"".join(b"GET /pipe/%d HTTP/1.1\r\nHost: p\r\n\r\n" % i for i in range(3)))
        f = s.makefile("rb")
        for i in range(3):
            status, _, body = read_response(f)
            harness.check(status == 200 and body == b"path=/pipe/%d host=p" % i,
                          "pipelined response %d: %s %r" % (i, status, body))
        s.close()

        # 502: the connector's target is down.
        c = http.client.HTTPConnection("127.0.0.1", p_down, timeout=harness.deadline(30))
        c.request("GET", "/x")
        r = c.getresponse()
        r.read()
        harness.check(r.status == 502, "target down: status %s, expected 502" % r.status)
        c.close()

        # 400: a malformed request is answered and the connection closed.
        s = socket.create_connection(("127.0.0.1", p_http), timeout=harness.deadline(30))
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")
        f = s.makefile("rb")
        status, _, _ = read_response(f)
        harness.check(status == 400, "malformed request: status %s, expected 400" % status)
        harness.check(f.read() == b"", "connection not closed after 400")
        s.close()

        # Parallel clients.
        errors = []

        def client(n):
            try:
                cc = http.client.HTTPConnection("127.0.0.1", p_http, timeout=harness.deadline(60))
                for i in range(20):
                    cc.request("POST", "/echo", body=b"%d-%d" % (n, i))
                    rr = cc.getresponse()
                    if rr.read() != b"%d-%d" % (n, i):
                        raise AssertionError("client %d request %d" % (n, i))
                cc.close()
            except Exception as e:
                errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(harness.deadline(120))
        harness.check(not errors, "parallel clients: %s" % errors[:5])
        wait_serving(p_http)
    server.shutdown()


if __name__ == "__main__":
    harness.main(test)
