#!/usr/bin/python3
"""Prometheus /metrics and /healthz on a listener with `http: true`.

1. 50 unsettled messages to `metrics.q` through the router: /metrics reports them on the
   address (ingress and egress), router-wide, and on the sender's and receiver's links; the
   two client connections are counted while open; every shard reports its loop time.
2. The text parses as the Prometheus exposition format (HELP/TYPE before samples, one TYPE per
   family, label values escaped).
3. /healthz answers 200 "ok"; HEAD answers without a body; other paths 404, POST 405, a
   garbage request line 400, a request head over 8 KiB 431 — and the router keeps serving.
4. A second listener with `metrics: false` answers /metrics with 404 but /healthz with 200.
"""
import re
import socket
import urllib.error
import urllib.request

import harness
from proton import Message
from proton.handlers import MessagingHandler

ADDRESS = "metrics.q"
COUNT = 50


class SendReceive(MessagingHandler):
    """Sends COUNT messages and, while both connections are still open, reads /metrics."""

    def __init__(self, url, metrics_url):
        super().__init__()
        self.url, self.metrics_url = url, metrics_url
        self.sent = self.received = self.accepted = 0
        self.metrics_while_open = None

    def progress(self):
        return "(sent %d, received %d, accepted %d)" % (self.sent, self.received, self.accepted)

    def on_start(self, event):
        self.rconn = event.container.connect(self.url)
        event.container.create_receiver(self.rconn, ADDRESS)
        self.sconn = event.container.connect(self.url)
        self.sender = event.container.create_sender(self.sconn, ADDRESS)

    def on_sendable(self, event):
        while self.sender.credit > 0 and self.sent < COUNT:
            self.sender.send(Message(body="m%d" % self.sent))
            self.sent += 1

    def on_message(self, event):
        self.received += 1

    def on_accepted(self, event):
        self.accepted += 1
        if self.accepted == COUNT:
            self.metrics_while_open = http_get(self.metrics_url)[2]
            self.rconn.close()
            self.sconn.close()


def http_get(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=harness.deadline(10)) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def raw_request(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=harness.deadline(10)) as s:
        s.sendall(data)
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply.decode(errors="replace")


SAMPLE = re.compile(r'^([a-z_]+)(\{([a-z_]+="(?:[^"\\]|\\.)*"(?:,[a-z_]+="(?:[^"\\]|\\.)*")*)\})? '
                    r'(-?[0-9.e+]+)$')


def parse(text):
    """Returns {(name, ((label, value), ...)): number}, checking the exposition format."""
    samples, typed = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            harness.check(name not in typed, "family %s typed twice" % name)
            harness.check(kind in ("counter", "gauge"), "family %s has type %s" % (name, kind))
            typed[name] = kind
            continue
        m = SAMPLE.match(line)
        harness.check(m is not None, "not a sample line: %r" % line)
        name = m.group(1)
        harness.check(name in typed, "sample %s before its TYPE" % name)
        labels = tuple(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        samples[(name, labels)] = float(m.group(4))
    return samples


def value(samples, name, **labels):
    want = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and want <= set(ls)]
    harness.check(found, "no sample %s%s" % (name, labels))
    return sum(found)


def test(args):
    router = harness.Router(args, listeners=[{}, {"http": True}, {"http": True, "metrics": False}])
    base = "http://127.0.0.1:%d" % router.ports[1]

    h = harness.run_container(SendReceive(router.url(), base + "/metrics"), 60, "send/receive")
    harness.check(h.received == COUNT, "all messages received %s" % h.progress())
    open_samples = parse(h.metrics_while_open)
    harness.check(value(open_samples, "fogmesh_connections", role="normal") == 2,
                  "two client connections counted while open")

    status, headers, text = http_get(base + "/metrics")
    harness.check(status == 200, "/metrics answers 200, got %s" % status)
    harness.check(headers["Content-Type"].startswith("text/plain; version=0.0.4"),
                  "Prometheus content type: %s" % headers["Content-Type"])
    samples = parse(text)
    # (An address and its counters go away with its last link, as in qdrouterd.)
    harness.check(value(open_samples, "fogmesh_address_deliveries_ingress_total",
                        address=ADDRESS) == COUNT, "address ingress counts the messages")
    harness.check(value(open_samples, "fogmesh_address_deliveries_egress_total",
                        address=ADDRESS) == COUNT, "address egress counts the messages")
    harness.check(value(samples, "fogmesh_deliveries_ingress_total") >= COUNT,
                  "router-wide ingress counts the messages")
    harness.check(value(samples, "fogmesh_connections", role="normal") == 0,
                  "closed connections are no longer counted")
    shards = [ls for (n, ls) in samples if n == "fogmesh_shard_busy_seconds_total"]
    harness.check(len(shards) >= 1, "every shard reports its loop time: %s" % shards)
    harness.check(value(samples, "fogmesh_shard_busy_seconds_total") > 0,
                  "the loops did some work")
    info = [ls for (n, ls) in samples if n == "fogmesh_router_info"]
    harness.check(("id", router.router_id) in info[0], "router_info names the router: %s" % info)
    links = value(open_samples, "fogmesh_link_deliveries_total", address=ADDRESS)
    harness.check(links == 2 * COUNT, "sender and receiver links each count %d: %s" %
                  (COUNT, links))
    harness.log("/metrics: %d samples, address and link counters right" % len(samples))

    status, _, body = http_get(base + "/healthz")
    harness.check(status == 200 and body == "ok\n", "/healthz: %s %r" % (status, body))
    status, _, body = http_get(base + "/healthz", method="HEAD")
    harness.check(status == 200 and body == "", "HEAD /healthz: %s %r" % (status, body))
    status, _, _ = http_get(base + "/nope")
    harness.check(status == 404, "unknown path answers 404, got %s" % status)
    status, _, _ = http_get(base + "/metrics", method="POST")
    harness.check(status == 405, "POST answers 405, got %s" % status)
    reply = raw_request(router.ports[1], b"\x16\x03\x01 garbage\r\n\r\n")
    harness.check(reply.startswith("HTTP/1.1 400 "), "garbage answers 400: %r" % reply[:40])
    reply = raw_request(router.ports[1], b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 9000)
    harness.check(reply.startswith("HTTP/1.1 431 "), "oversized head answers 431: %r" % reply[:40])
    status, _, _ = http_get(base + "/healthz")
    harness.check(status == 200, "still serving after bad requests")

    other = "http://127.0.0.1:%d" % router.ports[2]
    status, _, _ = http_get(other + "/metrics")
    harness.check(status == 404, "metrics: false hides /metrics, got %s" % status)
    status, _, _ = http_get(other + "/healthz")
    harness.check(status == 200, "metrics: false keeps /healthz, got %s" % status)
    router.stop()


if __name__ == "__main__":
    harness.main(test)
