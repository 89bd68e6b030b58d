#!/usr/bin/python3
"""The proxy across two routers, as ioFog exposes a public port: the public-side interior router
A holds the httpListener/tcpListener, the target-side interior router B (connected to A over an
inter-router connection) holds the httpConnector/tcpConnector next to the servers.

Checked through A -> B:
- HTTP: keep-alive GETs; a 1 GiB chunked upload (FOGMESH_UPLOAD_MIB to change) streamed to a
  server that hashes it: the digest matches and neither router's memory grows with the body;
- TCP: 16 MiB echoed byte for byte; 8 connections open at once each echo in turn, twice (each
  stream crosses the inter-router connection on a link of its own: on one shared link the
  first open stream would hold back the others until it closed);
- WebSocket through the TCP path: the upgrade handshake, text and binary frames echoed, close;
- WebSocket through the HTTP path: the httpListener hands the upgraded connection over to a
  TCP stream to the httpConnector's target (after answering a GET pipelined before it);
- the target killed mid-stream (it resets its socket after 1 MiB): the client sees its
  connection end, and both routers go on serving new connections.
"""
import base64
import hashlib
import http.client
import os
import socket
import struct
import threading
import time

import harness
from test_http_adaptor import Handler, Server as HttpServer, read_response, wait_serving
from test_tcp_adaptor import Server, connect, echo, round_trip, rss_kib, wait_serving as wait_tcp

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HashingHandler(Handler):
    """PUT /sha256: hashes a (chunked) body as it streams in and answers the hex digest.
    GET with `Upgrade: websocket`: the WebSocket echo of websocket_echo."""

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() != "websocket":
            return Handler.do_GET(self)
        accept = base64.b64encode(hashlib.sha1(
            self.headers["Sec-WebSocket-Key"].encode() + WS_GUID).digest())
        self.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        self.wfile.flush()
        echo_frames(self.rfile, self.wfile)
        self.close_connection = True

    def do_PUT(self):
        h = hashlib.sha256()
        n = 0
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            left = size
            while left:
                data = self.rfile.read(min(left, 1 << 20))
                h.update(data)
                left -= len(data)
                n += len(data)
            self.rfile.readline()
        self._send(200, ("%d %s" % (n, h.hexdigest())).encode())


def start_http_server():
    server = HttpServer(("127.0.0.1", 0), HashingHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def websocket_echo(server, conn):
    """A minimal RFC 6455 server: handshake, then echoes data frames until a close frame."""
    f = conn.makefile("rb")
    key = None
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        name, _, val = line.decode().partition(":")
        if name.strip().lower() == "sec-websocket-key":
            key = val.strip().encode()
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    echo_frames(f, conn.makefile("wb", buffering=0))


def echo_frames(rfile, wfile):
    while True:
        opcode, payload = read_frame(rfile)
        if opcode is None:
            return
        wfile.write(frame(opcode, payload, mask=False))
        wfile.flush()
        if opcode == 8:
            return


def frame(opcode, payload, mask):
    head = bytes([0x80 | opcode])
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_frame(f):
    first = f.read(2)
    if len(first) < 2:
        return None, None
    opcode, n, masked = first[0] & 0x0F, first[1] & 0x7F, first[1] & 0x80
    if n == 126:
        n = struct.unpack("!H", f.read(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", f.read(8))[0]
    key = f.read(4) if masked else None
    payload = f.read(n)
    if key:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return opcode, payload


def reset_after_1mib(server, conn):
    """Reads 1 MiB, then resets the connection (a target that dies mid-stream)."""
    got = 0
    while got < (1 << 20):
        data = conn.recv(1 << 16)
        if not data:
            break
        got += len(data)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class RssWatch:
    """Samples the routers' RSS every 100 ms in a thread; .peak_growth() in KiB."""

    def __init__(self, routers):
        self.pids = [r.proc.pid for r in routers]
        self.start = {p: rss_kib(p) for p in self.pids}
        self.peak = dict(self.start)
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped:
            for p in self.pids:
                self.peak[p] = max(self.peak[p], rss_kib(p))
            time.sleep(0.1)

    def stop(self):
        self.stopped = True
        self.thread.join()
        return {p: self.peak[p] - self.start[p] for p in self.pids}


def upload(port, mib):
    """Streams `mib` MiB chunked to PUT /sha256; returns (server's answer, our digest)."""
    block = os.urandom(1 << 20)
    h = hashlib.sha256()
    s = socket.create_connection(("127.0.0.1", port), timeout=harness.deadline(120))
    try:
        s.sendall(b"PUT /sha256 HTTP/1.1\r\nHost: upload\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk_head = b"%x\r\n" % len(block)
        for i in range(mib):
            # Vary each block so a reordered or repeated chunk changes the digest.
            piece = struct.pack("!Q", i) + block[8:]
            h.update(piece)
            s.sendall(chunk_head + piece + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        f = s.makefile("rb")
        status_line = f.readline()
        length = 0
        while True:
            line = f.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = f.read(length).decode()
        return status_line, body, "%d %s" % (mib << 20, h.hexdigest())
    finally:
        s.close()


def websocket_session(port, pipelined_get=False):
    s = socket.create_connection(("127.0.0.1", port), timeout=harness.deadline(30))
    try:
        key = base64.b64encode(os.urandom(16))
        before = b"GET /before HTTP/1.1\r\nHost: ws\r\n\r\n" if pipelined_get else b""
        s.sendall(before + b"GET /chat HTTP/1.1\r\nHost: ws\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                  b"Sec-WebSocket-Key: " + key + b"\r\n\r\n")
        f = s.makefile("rb")
        if pipelined_get:
            status, _, body = read_response(f)
            harness.check(status == 200 and body.startswith(b"path=/before "),
                          "the GET before the upgrade is answered first: %s %r" % (status, body))
        status = f.readline()
        harness.check(status.startswith(b"HTTP/1.1 101"), "WebSocket handshake: %r" % status)
        accept = None
        while True:
            line = f.readline()
            if line in (b"\r\n", b""):
                break
            if line.lower().startswith(b"sec-websocket-accept:"):
                accept = line.split(b":", 1)[1].strip()
        harness.check(accept == base64.b64encode(hashlib.sha1(key + WS_GUID).digest()),
                      "Sec-WebSocket-Accept matches the key")
        messages = [(1, b"hello"), (1, "caf\u00e9 \u2615".encode()), (2, os.urandom(100000))]
        for opcode, payload in messages:
            s.sendall(frame(opcode, payload, mask=True))
            got = read_frame(f)
            harness.check(got == (opcode, payload), "frame of %d bytes echoed" % len(payload))
        s.sendall(frame(8, struct.pack("!H", 1000), mask=True))
        harness.check(read_frame(f)[0] == 8, "close frame echoed")
    finally:
        s.close()


def killed_target(port):
    """Sends until the router ends the connection because the target reset it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=harness.deadline(30))
    block = os.urandom(1 << 16)
    sent = 0
    ended = None
    try:
        while sent < (256 << 20):
            s.sendall(block)
            sent += len(block)
    except (BrokenPipeError, ConnectionResetError, socket.timeout) as e:
        ended = e
    if ended is None or isinstance(ended, socket.timeout):
        try:
            data = s.recv(1 << 16)
            ended = "EOF" if data == b"" else ended
        except ConnectionResetError as e:
            ended = e
        except socket.timeout:
            pass
    s.close()
    harness.check(ended is not None and not isinstance(ended, socket.timeout),
                  "the client's connection ended after the target died (sent %d MiB, %r)" %
                  (sent >> 20, ended))
    return sent


def interleaved_streams(port, count):
    """Opens `count` connections and keeps them all open while each in turn echoes a line."""
    conns = [connect(port) for _ in range(count)]
    try:
        for round_no in range(2):
            order = range(count) if round_no == 0 else reversed(range(count))
            for i in order:
                line = b"round %d connection %d\n" % (round_no, i)
                conns[i].settimeout(harness.deadline(20))
                conns[i].sendall(line)
                got = b""
                try:
                    while len(got) < len(line):
                        data = conns[i].recv(len(line) - len(got))
                        if not data:
                            break
                        got += data
                except socket.timeout:
                    pass
                harness.check(got == line, "connection %d of %d open at once, round %d: echoed %r" %
                              (i, count, round_no, got))
    finally:
        for c in conns:
            c.close()


def test(args):
    mib = int(os.environ.get("FOGMESH_UPLOAD_MIB", "1024"))
    # ASan keeps freed memory in quarantine (256 MB by default): keep it small here so RSS
    # reflects what the router holds.
    os.environ["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") +
                                  ":quarantine_size_mb=16").lstrip(":")
    http_server = start_http_server()
    tcp_echo = Server(echo, "echo")
    ws_server = Server(websocket_echo, "websocket")
    dying = Server(reset_after_1mib, "dying")
    p_http, p_tcp, p_ws, p_dying = (harness.free_port() for _ in range(4))
    e = harness.entity

    a = harness.Router(args, router_id="A", mode="interior",
                       listeners=[{}, {"role": "inter-router"}],
                       extra="".join([
                           e("httpListener", name="web", host="127.0.0.1", port=p_http,
                             address="svc/web", protocolVersion="HTTP1"),
                           e("tcpListener", name="echo", host="127.0.0.1", port=p_tcp,
                             address="svc/echo"),
                           e("tcpListener", name="ws", host="127.0.0.1", port=p_ws,
                             address="svc/ws"),
                           e("tcpListener", name="dying", host="127.0.0.1", port=p_dying,
                             address="svc/dying")]))
    b = harness.Router(args, router_id="B", mode="interior",
                       listeners=[{}, {"role": "inter-router"}],
                       extra="".join([
                           e("connector", name="to-a", host="127.0.0.1", port=a.ports[1],
                             role="inter-router"),
                           e("httpConnector", name="web", host="127.0.0.1",
                             port=http_server.server_address[1], address="svc/web",
                             protocolVersion="HTTP1"),
                           e("tcpConnector", name="echo", host="127.0.0.1", port=tcp_echo.port,
                             address="svc/echo"),
                           e("tcpConnector", name="ws", host="127.0.0.1", port=ws_server.port,
                             address="svc/ws"),
                           e("tcpConnector", name="dying", host="127.0.0.1", port=dying.port,
                             address="svc/dying")]))

    wait_serving(p_http, 60)
    c = http.client.HTTPConnection("127.0.0.1", p_http, timeout=harness.deadline(30))
    for i in range(20):
        c.request("GET", "/item/%d" % i)
        r = c.getresponse()
        body = r.read()
        harness.check(r.status == 200 and body.startswith(b"path=/item/%d " % i),
                      "GET %d through A -> B: %s %r" % (i, r.status, body[:40]))
    c.close()
    harness.log("20 keep-alive GETs through A -> B")

    watch = RssWatch([a, b])
    started = time.monotonic()
    status, answer, expected = upload(p_http, mib)
    growth = watch.stop()
    harness.check(status.startswith(b"HTTP/1.1 200"), "upload answered %r" % status)
    harness.check(answer == expected, "server hashed what we sent: %r vs %r" % (answer, expected))
    for pid, kib in growth.items():
        harness.check(kib < 128 * 1024, "router %d grew by %d KiB during a %d MiB upload" %
                      (pid, kib, mib))
    harness.log("%d MiB upload through A -> B in %.1f s; RSS growth %s KiB" %
                (mib, time.monotonic() - started, sorted(growth.values())))

    wait_tcp(p_tcp, 60)
    payload = os.urandom(16 << 20)
    echoed = round_trip(p_tcp, payload)
    harness.check(hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest(),
                  "16 MiB echoed through A -> B (%d bytes back)" % len(echoed))
    harness.log("TCP: 16 MiB echoed through A -> B")
    interleaved_streams(p_tcp, 8)
    harness.log("TCP: 8 connections open at once through A -> B, each echoed in turn, twice")

    websocket_session(p_ws)
    harness.log("WebSocket through the TCP path: handshake, 3 frames, close")
    websocket_session(p_http, pipelined_get=True)
    harness.log("WebSocket through httpListener -> httpConnector: GET answered, then upgraded")

    sent = killed_target(p_dying)
    harness.log("target reset mid-stream after %d MiB offered: client connection ended" %
                (sent >> 20))
    harness.check(round_trip(p_tcp, b"still there") == b"still there",
                  "the routers serve new connections after the target died")
    for server in (tcp_echo, ws_server, dying):
        harness.check(not server.errors, "server errors: %s" % server.errors)
    b.stop()
    a.stop()
    http_server.shutdown()


if __name__ == "__main__":
    harness.main(test)
