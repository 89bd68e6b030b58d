#!/usr/bin/python3
"""Router memory per idle proxied TCP connection (issue 5's target: <= 16 KiB).

One router (tcpListener -> tcpConnector in the same router) and two routers (public side with
the tcpListener, target side with the tcpConnector, one inter-router connection). N client
connections are opened to the listener and each echoes one line through the router (so every
stream is fully set up: client socket, AMQP deliveries both ways, connector socket), then all
stay open and idle. The figure is (RSS with N idle connections - RSS before) / N for each
router process, where "before" follows a warm-up of 10 connections opened, used and closed
(one-time allocations such as the first link's buffers are not per-connection costs; a
warm-up of N would hide the cost, as freed memory is reused).

  benchmarks/proxy/idle_rss.py --router build/release/router-core/fogmesh-router [--connections 1000]
"""
import argparse
import os
import resource
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "interop"))
import harness  # noqa: E402
from test_tcp_adaptor import rss_kib  # noqa: E402


class EchoServer:
    """Accepts connections and echoes on each; keeps them open until the client closes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn):
        with conn:
            try:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        return
                    conn.sendall(data)
            except OSError:
                return  # the client went away


def open_idle(port, count):
    conns = []
    for i in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        line = b"connection %d\n" % i
        s.sendall(line)
        got = b""
        while len(got) < len(line):
            data = s.recv(len(line) - len(got))
            if not data:
                raise RuntimeError("connection %d closed before its echo" % i)
            got += data
        conns.append(s)
    return conns


def settle():
    time.sleep(2)  # let the routers finish their turn (flows, dispositions)


def measure(label, routers, port, count):
    for s in open_idle(port, 10):
        s.close()
    settle()
    before = {r.router_id: rss_kib(r.proc.pid) for r in routers}
    conns = open_idle(port, count)
    settle()
    after = {r.router_id: rss_kib(r.proc.pid) for r in routers}
    for s in conns:
        s.close()
    for r in routers:
        per = (after[r.router_id] - before[r.router_id]) * 1024 / count
        print("| %-28s | %-8s | %7d | %9d KiB | %9d KiB | %8.1f KiB |" %
              (label, r.router_id, count, before[r.router_id], after[r.router_id], per / 1024))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--router", required=True, help="fogmesh-router binary (a Release build)")
    p.add_argument("--connections", type=int, default=1000)
    args = p.parse_args()
    args.router = os.path.abspath(args.router)
    need = 4 * args.connections + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need) if hard != resource.RLIM_INFINITY else need, hard))
    target = EchoServer()
    e = harness.entity
    one_port = harness.free_port()
    one = harness.Router(args, router_id="one", extra="".join([
        e("tcpListener", name="in", host="127.0.0.1", port=one_port, address="rss/one"),
        e("tcpConnector", name="out", host="127.0.0.1", port=target.port, address="rss/one")]))
    pub_port = harness.free_port()
    public = harness.Router(args, router_id="public", mode="interior",
                            listeners=[{}, {"role": "inter-router"}],
                            extra=e("tcpListener", name="in", host="127.0.0.1", port=pub_port,
                                    address="rss/two"))
    target_router = harness.Router(args, router_id="target", mode="interior", extra="".join([
        e("connector", name="to-public", host="127.0.0.1", port=public.ports[1],
          role="inter-router"),
        e("tcpConnector", name="out", host="127.0.0.1", port=target.port, address="rss/two")]))
    for port in (one_port, pub_port):
        deadline = time.monotonic() + 30
        while True:
            try:
                open_idle(port, 1)[0].close()
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    print("| setup                        | router   | conns   | RSS before    | RSS idle      | per conn     |")
    print("| --- | --- | --- | --- | --- | --- |")
    measure("one router", [one], one_port, args.connections)
    measure("two routers", [public, target_router], pub_port, args.connections)
    for r in (target_router, public, one):
        r.stop()


if __name__ == "__main__":
    main()
