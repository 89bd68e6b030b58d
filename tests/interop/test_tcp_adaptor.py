#!/usr/bin/python3
"""tcpListener -> AMQP -> tcpConnector inside one fogmesh-router (proxy/README.md "TCP mapping").

Binary echo servers run in this process (threads); clients connect to the router's tcpListener
ports and the router connects to the servers through tcpConnectors on the same router (it runs
one shard per core, so both shards' listeners and connectors are used). Checked:
- a round trip, then 64 MiB each way through one connection, byte for byte (sha256);
- half-close both ways: the client's FIN reaches the server and its echo still comes back; a
  server that half-closes first still receives what the client sends afterwards;
- back-pressure: a client that sends without reading is stopped (the chain stalls with far less
  than it offered in flight) and the router's memory stays bounded; then everything comes back;
- a connector whose target is down, and an address without any connector: the client's
  connection is closed promptly (no hang);
- balanced over two connectors on one address (both targets get connections);
- 1,000 concurrent connections, each with its own payload (all open before any writes);
- CREATE of a tcpListener through management serves at once; DELETE closes its port;
- the router is healthy afterwards (management answers, SIGTERM exits 0).
"""
import hashlib
import os
import resource
import socket
import threading
import time

import harness
from test_management import Management, connect_refused, wait_for

PREFIX = "org.apache.qpid.dispatch."
CHUNK = 256 * 1024


# -- servers ----------------------------------------------------------------------------------

class Server:
    """A threaded TCP server on 127.0.0.1:0; `serve(conn)` runs per connection."""

    def __init__(self, serve, name):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.serve = serve
        self.name = name
        self.accepted = 0
        self.errors = []
        self.stats = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        try:
            self.serve(self, conn)
        except Exception as e:  # reported by the test, not raised in a thread
            with self.lock:
                self.errors.append("%s: %r" % (self.name, e))
        finally:
            conn.close()

    def close(self):
        self.sock.close()


def echo(server, conn):
    """Echoes until EOF, then half-closes (so the client sees its FIN passed on)."""
    while True:
        data = conn.recv(CHUNK)
        if not data:
            break
        conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)


def tagged(tag):
    def serve(server, conn):
        conn.sendall(tag)
        echo(server, conn)
    return serve


def half_close_first(server, conn):
    """Sends a greeting and half-closes at once, then counts what the client still sends."""
    conn.sendall(b"greeting")
    conn.shutdown(socket.SHUT_WR)
    total = hashlib.sha256()
    n = 0
    while True:
        data = conn.recv(CHUNK)
        if not data:
            break
        total.update(data)
        n += len(data)
    with server.lock:
        server.stats["received"] = (n, total.hexdigest())


# -- client helpers ---------------------------------------------------------------------------

def connect(port, timeout=30):
    s = socket.create_connection(("127.0.0.1", port), timeout=harness.deadline(timeout))
    return s


def read_all(s):
    chunks = []
    while True:
        data = s.recv(CHUNK)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        data = s.recv(n - len(buf))
        if not data:
            break
        buf += data
    return buf


def round_trip(port, payload):
    s = connect(port)
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        return read_all(s)
    finally:
        s.close()


def wait_serving(port, timeout=30):
    """The listener accepts and a connector answers (the receivers attach with the shards)."""
    end = time.monotonic() + harness.deadline(timeout)
    last = None
    while time.monotonic() < end:
        try:
            if round_trip(port, b"ping") == b"ping":
                return
        except OSError as e:
            last = e
        time.sleep(0.1)
    harness.fail("tcpListener on %d did not echo within %ss (last error %r)" % (port, timeout, last))


def closed_promptly(port, what):
    """The router closes a client whose stream cannot be connected (EOF or reset, no hang).

    With no consumer the router may reset the connection right after accepting it, before this
    client's connect() or sendall() returns: a reset at any step counts as a prompt close."""
    try:
        s = connect(port)
    except ConnectionResetError:
        return
    try:
        try:
            s.sendall(b"anyone there?")
            data = s.recv(100)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        except socket.timeout:
            harness.fail("%s: the client connection stayed open" % what)
        harness.check(data == b"", "%s: got %r instead of a close" % (what, data))
    finally:
        s.close()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pattern(n, seed):
    block = hashlib.sha256(seed).digest() * (CHUNK // 32)
    return [block[i % 7:] + block[:i % 7] for i in range(n)]


# -- the test ---------------------------------------------------------------------------------

def test_large(port):
    blocks = pattern(256, b"large")  # 256 x 256 KiB = 64 MiB
    sent = hashlib.sha256()
    for b in blocks:
        sent.update(b)
    s = connect(port, timeout=120)
    result = {}

    def reader():
        h = hashlib.sha256()
        n = 0
        while True:
            data = s.recv(CHUNK)
            if not data:
                break
            h.update(data)
            n += len(data)
        result["n"], result["hash"] = n, h.hexdigest()

    t = threading.Thread(target=reader)
    t.start()
    for b in blocks:
        s.sendall(b)
    s.shutdown(socket.SHUT_WR)
    t.join(harness.deadline(240))
    s.close()
    harness.check(not t.is_alive(), "64 MiB echo did not finish")
    total = sum(len(b) for b in blocks)
    harness.check(result.get("n") == total, "echoed %s bytes of %d" % (result.get("n"), total))
    harness.check(result["hash"] == sent.hexdigest(), "64 MiB echo: bytes differ")
    harness.log("64 MiB echoed intact")


def test_backpressure(port, router_pid):
    """A client that only writes: the chain stalls with bounded bytes in flight."""
    s = connect(port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    rss_before = rss_kib(router_pid)
    block = b"\x5a" * 65536
    offered = 256 * 1024 * 1024
    sent = 0
    s.setblocking(False)
    last_progress = time.monotonic()
    # Stalled = nothing accepted for 2 s (an ending condition, not an assertion on speed).
    while sent < offered and time.monotonic() - last_progress < 2.0:
        try:
            n = s.send(block)
            sent += n
            last_progress = time.monotonic()
        except BlockingIOError:
            time.sleep(0.01)
    rss_after = rss_kib(router_pid)
    harness.log("back-pressure: stalled after %.1f MiB; router RSS %d -> %d KiB"
                % (sent / 1048576, rss_before, rss_after))
    harness.check(sent < 64 * 1024 * 1024,
                  "a client that never reads pushed %.1f MiB without stalling" % (sent / 1048576))
    harness.check(rss_after - rss_before < 64 * 1024,
                  "router RSS grew by %d KiB while stalled" % (rss_after - rss_before))
    # Now read: everything comes back and the stream ends cleanly.
    s.setblocking(True)
    s.settimeout(harness.deadline(60))
    got = 0

    def drain():
        nonlocal got
        while True:
            data = s.recv(CHUNK)
            if not data:
                return
            got += len(data)

    t = threading.Thread(target=drain)
    t.start()
    s.sendall(b"")
    s.shutdown(socket.SHUT_WR)
    t.join(harness.deadline(120))
    s.close()
    harness.check(got == sent, "after the stall %d of %d bytes came back" % (got, sent))


def test_half_close(echo_port, hc_port, hc_server):
    # Client FIN first: the echo server sees EOF only through the router, then echoes and ends.
    got = round_trip(echo_port, b"x" * 100000)
    harness.check(got == b"x" * 100000, "half-close (client first): %d bytes back" % len(got))
    # Server FIN first: the client reads the greeting and EOF, then still sends; the server
    # receives it all.
    s = connect(hc_port)
    greeting = read_all(s)
    harness.check(greeting == b"greeting", "half-close (server first): got %r" % greeting)
    payload = os.urandom(300000)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    s.close()
    wait_for("the half-closed server to receive the client's bytes",
             lambda: "received" in hc_server.stats)
    n, digest = hc_server.stats["received"]
    harness.check(n == len(payload) and digest == hashlib.sha256(payload).hexdigest(),
                  "server received %d of %d bytes after its own half-close" % (n, len(payload)))


def test_concurrent(port, count):
    errors = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def one(i):
        payload = ("conn-%d-" % i).encode() * 200
        try:
            s = connect(port, timeout=120)
            barrier.wait(harness.deadline(60))  # all open at once before anyone writes
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            got = read_all(s)
            s.close()
            if got != payload:
                raise AssertionError("connection %d: %d bytes back, expected %d"
                                     % (i, len(got), len(payload)))
        except Exception as e:
            with lock:
                errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(harness.deadline(180))
    harness.check(not any(t.is_alive() for t in threads), "concurrent clients did not finish")
    harness.check(not errors, "%d of %d concurrent connections failed: %s"
                  % (len(errors), count, errors[:5]))
    harness.log("%d concurrent connections echoed" % count)


def connection_count():
    """1,000 concurrent connections need ~4,000 descriptors here (client and server ends in
    this process, two per connection in the router, which inherits our limit)."""
    wanted = int(os.environ.get("FOGMESH_TCP_ADAPTOR_CONNECTIONS", "1000"))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 4 * wanted + 200
    if soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(hard, need)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft < need:
        wanted = max(50, (soft - 200) // 4)
        harness.log("descriptor limit %d: %d concurrent connections" % (soft, wanted))
    return wanted


def test(args):
    concurrent = connection_count()
    echo_server = Server(echo, "echo")
    hc_server = Server(half_close_first, "half-close")
    tag_a, tag_b = Server(tagged(b"A"), "tag-a"), Server(tagged(b"B"), "tag-b")
    p_echo, p_hc, p_down, p_none, p_bal, p_dyn = (harness.free_port() for _ in range(6))
    dead_port = harness.free_port()  # nothing listens there

    entity = harness.entity

    extra = "".join([
        entity("tcpListener", name="echo-in", host="127.0.0.1", port=p_echo, address="svc/echo"),
        entity("tcpConnector", name="echo-out", host="127.0.0.1", port=echo_server.port,
               address="svc/echo"),
        entity("tcpListener", name="hc-in", host="127.0.0.1", port=p_hc, address="svc/hc"),
        entity("tcpConnector", name="hc-out", host="127.0.0.1", port=hc_server.port,
               address="svc/hc"),
        entity("tcpListener", name="down-in", host="127.0.0.1", port=p_down, address="svc/down"),
        entity("tcpConnector", name="down-out", host="127.0.0.1", port=dead_port,
               address="svc/down"),
        entity("tcpListener", name="none-in", host="127.0.0.1", port=p_none,
               address="svc/nobody"),
        entity("tcpListener", name="bal-in", host="127.0.0.1", port=p_bal, address="svc/bal"),
        entity("tcpConnector", name="bal-a", host="127.0.0.1", port=tag_a.port, address="svc/bal"),
        entity("tcpConnector", name="bal-b", host="127.0.0.1", port=tag_b.port, address="svc/bal"),
    ])
    with harness.Router(args, extra=extra) as router:
        if "built without the proxy adaptors" in router.log():
            harness.skip("this fogmesh-router was built without proxy/")
        wait_serving(p_echo)
        harness.check(round_trip(p_echo, b"hello") == b"hello", "hello round trip")
        payload = os.urandom(1 << 20)
        harness.check(round_trip(p_echo, payload) == payload, "1 MiB round trip")

        test_large(p_echo)
        test_half_close(p_echo, p_hc, hc_server)
        test_backpressure(p_echo, router.proc.pid)
        closed_promptly(p_down, "target down")
        closed_promptly(p_none, "no connector for the address")

        tags = set()
        for i in range(20):
            s = connect(p_bal)
            tags.add(read_exact(s, 1))
            s.close()
        harness.check(tags == {b"A", b"B"}, "balanced over two connectors: saw %s" % tags)

        test_concurrent(p_echo, concurrent)

        # Runtime CREATE / DELETE of a tcpListener.
        m = Management(router.url())
        m.ok("CREATE", PREFIX + "tcpListener", name="dyn-in", expect=(201,),
             body={"host": "127.0.0.1", "port": str(p_dyn), "address": "svc/echo"})
        wait_serving(p_dyn)
        m.ok("DELETE", PREFIX + "tcpListener", name="dyn-in", expect=(204,))
        wait_for("the deleted tcpListener to refuse connections", lambda: connect_refused(p_dyn))
        status, description, _ = m.call("CREATE", PREFIX + "tcpListener", name="bad-in",
                                        body={"host": "127.0.0.1", "port": "7"})
        harness.check(status == 400 and "address" in description,
                      "tcpListener without address: %s %s" % (status, description))

        # Healthy afterwards: the echo path and management still work.
        harness.check(round_trip(p_echo, b"still here") == b"still here", "echo after all")
        rows = m.query("router", ["id"])
        harness.check(len(rows) == 1, "router row after the run: %s" % rows)
        m.close()
        errors = echo_server.errors + hc_server.errors + tag_a.errors + tag_b.errors
        harness.check(not errors, "server errors: %s" % errors[:5])


if __name__ == "__main__":
    harness.main(test)
