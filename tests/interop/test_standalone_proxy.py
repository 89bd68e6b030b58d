#!/usr/bin/python3
"""fogmesh-proxy (standalone, ioFog's proxy microservice) against fogmesh-router.

Two proxies connect to the router's ordinary listener as plain AMQP clients (role uplink), as
ioFog's proxies connect to its router's messaging port:
  proxy A: tcp:PA=>amqp:svc/echo, http:PH=>amqp:svc/web, http:PP=>amqp:svc/probe
  proxy B: amqp:svc/echo=>tcp:ECHO, amqp:svc/web=>http:WEB
Checked: 1 MiB echoed intact through A -> router -> B -> echo server (TCP mapping, per-connection
reply addresses that the router can route); HTTP GET and POST through A -> B -> a Python server;
the HTTP mapping message by message with Proton: a request arriving at svc/probe has skupper's
shape (subject = method, to = host/path, reply-to, correlation-id, lower-case headers) and the
Proton answer becomes the HTTP response; a Proton request sent to svc/web is answered by B with
a response message (subject = status, same correlation-id, body); after the router restarts on
the same port both proxies reconnect and traffic flows again; bad mappings are refused with a
message; SIGTERM stops the proxies with exit 0.
"""
import hashlib
import http.client
import http.server
import os
import socket
import subprocess
import threading
import time

from proton import Message
from proton.handlers import MessagingHandler

import harness


class Web(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._send(("GET %s" % self.path).encode())

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._send(b"POST " + hashlib.sha256(body).hexdigest().encode())


def start_web():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Web)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_echo():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)

    def one(conn):
        with conn:
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        return
                    conn.sendall(data)
            except OSError:
                return  # the proxy reset the stream (e.g. its router went away)

    def serve():
        while True:
            try:
                conn, _ = s.accept()
            except OSError:
                return
            threading.Thread(target=one, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return s


def proxy_binary():
    path = os.environ.get("FOGMESH_PROXY")
    if not path:
        harness.skip("FOGMESH_PROXY not set (the proxy component is not in this build)")
    return path


def start_proxy(router_port, name, mappings):
    return harness.Process([proxy_binary(), "--router", "127.0.0.1:%d" % router_port,
                            "--id", name, mappings], name, ready_pattern=r"uplink to '.*' open")


def echo_round_trip(port, payload):
    s = socket.create_connection(("127.0.0.1", port), timeout=harness.deadline(30))
    try:
        received = []

        def reader():
            try:
                while True:
                    data = s.recv(65536)
                    if not data:
                        return
                    received.append(data)
            except OSError:
                return  # reset: what arrived so far is the answer

        t = threading.Thread(target=reader)
        t.start()
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        t.join(harness.deadline(60))
        return b"".join(received)
    finally:
        s.close()


def wait_echo(port, timeout=30):
    """The proxies' links reach the router asynchronously: retry until the path carries bytes."""
    end = time.monotonic() + harness.deadline(timeout)
    last = None
    while time.monotonic() < end:
        try:
            if echo_round_trip(port, b"ping") == b"ping":
                return
        except OSError as e:
            last = e
        time.sleep(0.2)
    harness.fail("no echo through the proxies on %d within %ss (last error %r)" %
                 (port, timeout, last))


def http_request(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=harness.deadline(30))
    try:
        c.request(method, path, body=body)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class ProbeResponder(MessagingHandler):
    """Receives one HTTP request message at svc/probe, records it, answers through reply-to."""

    def __init__(self, url, ready):
        super().__init__()
        self.url = url
        self.ready = ready
        self.request = None

    def on_start(self, event):
        self.conn = event.container.connect(self.url)
        event.container.create_receiver(self.conn, "svc/probe")
        self.replier = event.container.create_sender(self.conn, None)

    def on_link_opened(self, event):
        if event.receiver:
            self.ready.set()

    def on_message(self, event):
        m = event.message
        self.request = m
        self.replier.send(Message(address=m.reply_to, subject="200",
                                  correlation_id=m.correlation_id, content_type="text/plain",
                                  properties={"x-answered-by": "proton"}, body=b"pong"))

    def on_settled(self, event):
        if event.link == self.replier:
            self.conn.close()


class ProtonRequester(MessagingHandler):
    """Sends one skupper-shaped HTTP request message to svc/web and waits for the response."""

    def __init__(self, url):
        super().__init__()
        self.url = url
        self.response = None

    def on_start(self, event):
        self.conn = event.container.connect(self.url)
        self.receiver = event.container.create_receiver(self.conn, None, dynamic=True)

    def on_link_opened(self, event):
        if event.receiver == self.receiver:
            sender = event.container.create_sender(self.conn, "svc/web")
            sender.send(Message(address="example.org/from-proton?x=1", subject="GET",
                                reply_to=self.receiver.remote_source.address, correlation_id=7,
                                properties={"accept": "*/*"}, body=None))

    def on_message(self, event):
        self.response = event.message
        self.conn.close()

    def progress(self):
        return "response %r" % (self.response,)


def bad_mapping_refused():
    r = subprocess.run([proxy_binary(), "http:notaport=>amqp:Q"], capture_output=True,
                       text=True, timeout=30)
    harness.check(r.returncode != 0, "a bad mapping was accepted")
    harness.check("notaport" in r.stderr, "the error does not name the bad mapping: %r" % r.stderr)
    r = subprocess.run([proxy_binary()], capture_output=True, text=True, timeout=30)
    harness.check(r.returncode == 2 and "no mappings" in r.stderr,
                  "no mappings: exit %s, %r" % (r.returncode, r.stderr))
    r = subprocess.run([proxy_binary(), "--print-config", "--router", "r1:5673",
                        "tcp:7000=>amqp:T"], capture_output=True, text=True, timeout=30)
    harness.check(r.returncode == 0 and "role: uplink" in r.stdout and "port: 5673" in r.stdout
                  and "tcpListener" in r.stdout, "--print-config printed %r" % r.stdout)


def test(args):
    bad_mapping_refused()
    web = start_web()
    echo = start_echo()
    router_port = harness.free_port()
    router = harness.Router(args, listeners=[{"port": router_port}])
    pa, ph, pp = harness.free_port(), harness.free_port(), harness.free_port()
    a = start_proxy(router_port, "proxy-a",
                    "tcp:127.0.0.1:%d=>amqp:svc/echo,http:127.0.0.1:%d=>amqp:svc/web,"
                    "http:127.0.0.1:%d=>amqp:svc/probe" % (pa, ph, pp))
    b = start_proxy(router_port, "proxy-b",
                    "amqp:svc/echo=>tcp:127.0.0.1:%d,amqp:svc/web=>http:127.0.0.1:%d" %
                    (echo.getsockname()[1], web.server_address[1]))

    wait_echo(pa)
    payload = os.urandom(1 << 20)
    got = echo_round_trip(pa, payload)
    harness.check(got == payload, "1 MiB echo: %d bytes back, intact=%s" % (len(got), got == payload))
    harness.log("1 MiB echoed through proxy A -> router -> proxy B")

    status, body = http_request(ph, "GET", "/orders?id=5")
    harness.check((status, body) == (200, b"GET /orders?id=5"), "GET: %s %r" % (status, body))
    upload = os.urandom(300 * 1024)
    status, body = http_request(ph, "POST", "/upload", upload)
    harness.check((status, body) == (200, b"POST " + hashlib.sha256(upload).hexdigest().encode()),
                  "POST: %s %r" % (status, body))
    harness.log("HTTP GET and POST through proxy A -> router -> proxy B")

    # Message by message: an HTTP client at A's probe port, a Proton responder at svc/probe.
    ready = threading.Event()
    responder = ProbeResponder(router.url(), ready)
    result = {}
    t = threading.Thread(target=lambda: harness.run_container(responder, 60, "probe responder"))
    t.start()
    harness.check(ready.wait(harness.deadline(30)), "the Proton responder did not attach")
    end = time.monotonic() + harness.deadline(30)
    while "status" not in result and time.monotonic() < end:
        try:
            result["status"], result["body"] = http_request(pp, "GET", "/hello?x=1")
        except OSError:
            time.sleep(0.2)  # A's receiver link for svc/probe credit may still be on its way
    t.join(harness.deadline(60))
    req = responder.request
    harness.check(req is not None, "no request message reached svc/probe")
    harness.check(req.subject == "GET", "request subject %r" % req.subject)
    harness.check(req.address.endswith("/hello?x=1"), "request to %r" % req.address)
    harness.check(bool(req.reply_to), "request without reply-to")
    harness.check(req.correlation_id is not None, "request without correlation-id")
    props = req.properties or {}
    harness.check(all(k == k.lower() for k in props), "header names not lower-case: %r" % props)
    harness.check(result.get("status") == 200 and result.get("body") == b"pong",
                  "HTTP answer from the Proton responder: %r" % result)
    harness.log("skupper request shape seen by Proton; its answer became the HTTP response")

    requester = ProtonRequester(router.url())
    harness.run_container(requester, 60, "Proton request to svc/web")
    resp = requester.response
    harness.check(resp.subject == "200", "response subject %r" % resp.subject)
    harness.check(resp.correlation_id == 7, "response correlation-id %r" % resp.correlation_id)
    harness.check(bytes(resp.body) == b"GET /from-proton?x=1", "response body %r" % resp.body)
    harness.log("a Proton request to svc/web was answered by proxy B")

    # The network router goes away and comes back on the same port: both proxies reconnect.
    harness.check(router.stop() == 0, "router exit code")
    router2 = harness.Router(args, listeners=[{"port": router_port}])
    wait_echo(pa, timeout=60)
    got = echo_round_trip(pa, payload[:100000])
    harness.check(got == payload[:100000], "echo after the router restart")
    harness.log("both proxies reconnected after the router restart")

    for p in (a, b):
        harness.check(p.stop() == 0, "%s exit code %s" % (p.name, p.proc.returncode))
    harness.check(router2.stop() == 0, "router exit code")
    web.shutdown()
    echo.close()


if __name__ == "__main__":
    harness.main(test)
