#!/usr/bin/python3
"""Mesh convergence: ring A-B-C-D-A (A-B-C cheap, D the long way), a receiver on C, a sender on
A sending one unsettled message every 10 ms. B is killed (SIGKILL); the figure is the time from
the kill to the first message accepted afterwards (sent after the kill). Repeats N times.

  benchmarks/mesh/convergence.py --router build/release/router-core/fogmesh-router [--repeat 5]
"""
import argparse
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "interop"))
import harness  # noqa: E402
from proton import Message  # noqa: E402
from proton.handlers import MessagingHandler  # noqa: E402
from proton.reactor import Container  # noqa: E402
from test_mesh import interior  # noqa: E402


class Probe(MessagingHandler):
    def __init__(self, a, c, b):
        super().__init__()
        self.a, self.c, self.b = a, c, b
        self.killed_at = None
        self.recovered_at = None
        self.sent_at = {}
        self.accepted_before = 0

    def on_start(self, event):
        self.rconn = event.container.connect(self.c.url())
        event.container.create_receiver(self.rconn, "conv.q")
        self.sconn = event.container.connect(self.a.url())
        self.sender = event.container.create_sender(self.sconn, "conv.q")
        event.container.schedule(0.01, self)

    def on_timer_task(self, event):
        now = time.monotonic()
        if self.killed_at is None and self.accepted_before >= 50:
            self.b.proc.send_signal(signal.SIGKILL)
            self.killed_at = now
        if self.recovered_at is not None or (self.killed_at and now - self.killed_at > 30):
            self.rconn.close()
            self.sconn.close()
            return
        if self.sender.credit > 0:
            d = self.sender.send(Message(body="x"))
            self.sent_at[d.tag] = now
        event.container.schedule(0.01, self)

    def on_accepted(self, event):
        sent = self.sent_at.get(event.delivery.tag, 0)
        if self.killed_at is None:
            self.accepted_before += 1
        elif sent > self.killed_at and self.recovered_at is None:
            self.recovered_at = time.monotonic()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--router", required=True)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    args.router = os.path.abspath(args.router)
    figures = []
    for _ in range(args.repeat):
        a = interior(args, "A")
        b = interior(args, "B", [(a, 1)])
        c = interior(args, "C", [(b, 1)])
        d = interior(args, "D", [(c, 5), (a, 5)])
        probe = Probe(a, c, b)
        Container(probe).run()
        if probe.recovered_at is None:
            print("no recovery within 30 s")
        else:
            figures.append((probe.recovered_at - probe.killed_at) * 1000)
            print("recovered %.0f ms after the kill" % figures[-1])
        for r in (a, b, c, d):
            r.cleanup()
    if figures:
        print("convergence: median %.0f ms, max %.0f ms over %d runs"
              % (statistics.median(figures), max(figures), len(figures)))


if __name__ == "__main__":
    main()
