#!/usr/bin/python3
"""Memory per address in a mesh: three interior routers in a line A-B-C; receivers on C attach
to N distinct addresses (spread over R receiver connections), so C holds N local addresses and
links while A and B learn the N addresses from C's mobile-address updates (MAU) and hold only
their routing state. The figure per router is the growth of its anonymous memory (RssAnon in
/proc/PID/status: heap, not shared-library pages) divided by N, after every address is
reachable from A (a sender on A to the last address gets credit).

  benchmarks/mesh/address_memory.py --router build/release/router-core/fogmesh-router \
      [--addresses 1000] [--receivers 100]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "interop"))
from proton.handlers import MessagingHandler  # noqa: E402
from proton.reactor import Container  # noqa: E402
from test_mesh import interior  # noqa: E402


def anon_kib(router):
    with open("/proc/%d/status" % router.proc.pid) as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise RuntimeError("no RssAnon for router %s" % router.router_id)


class AttachAll(MessagingHandler):
    """Attaches every receiver on C, then waits until A can send to the last address."""

    def __init__(self, a_url, c_url, addresses, connections):
        super().__init__(prefetch=10)
        self.a_url, self.c_url = a_url, c_url
        self.addresses, self.connections = addresses, connections
        self.ready_at = None
        self.started = time.monotonic()

    def on_start(self, event):
        conns = [event.container.connect(self.c_url) for _ in range(self.connections)]
        for i in range(self.addresses):
            event.container.create_receiver(conns[i % len(conns)], "mem.%d" % i)
        self.probe = event.container.create_sender(event.container.connect(self.a_url),
                                                   "mem.%d" % (self.addresses - 1))
        event.container.schedule(0.05, self)

    def on_timer_task(self, event):
        if self.probe.credit > 0 and self.ready_at is None:
            self.ready_at = time.monotonic()
        if self.ready_at is None and time.monotonic() - self.started < 60:
            event.container.schedule(0.05, self)
            return
        # Measure while every link is still open; the caller reads the figures now.
        self.measure()
        event.container.stop()

    def measure(self):
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--router", required=True)
    p.add_argument("--addresses", type=int, default=1000)
    p.add_argument("--receivers", type=int, default=100,
                   help="receiver connections on C the addresses are spread over")
    args = p.parse_args()
    args.router = os.path.abspath(args.router)
    a = interior(args, "A")
    b = interior(args, "B", [(a, 1)])
    c = interior(args, "C", [(b, 1)])
    routers = (a, b, c)
    try:
        time.sleep(2)  # HELLOs exchanged, routes between the three computed
        before = {r.router_id: anon_kib(r) for r in routers}
        handler = AttachAll(a.url(), c.url(), args.addresses, args.receivers)
        after = {}

        def measure():
            time.sleep(1.5)  # a refresh tick later: nothing still in flight
            after.update({r.router_id: anon_kib(r) for r in routers})

        handler.measure = measure
        Container(handler).run()
        if handler.ready_at is None:
            print("the last address never became reachable from A within 60 s")
            return 1
        print("%d addresses on C (%d receiver connections); reachable from A after %.2f s"
              % (args.addresses, args.receivers, handler.ready_at - handler.started))
        for r in routers:
            grow = after[r.router_id] - before[r.router_id]
            role = {"A": "remote (2 hops)", "B": "remote (1 hop)",
                    "C": "local: address + receiver link"}[r.router_id]
            print("router %s %-32s RssAnon %6d -> %6d KiB: %6.0f B per address"
                  % (r.router_id, role, before[r.router_id], after[r.router_id],
                     grow * 1024.0 / args.addresses))
        return 0
    finally:
        for r in routers:
            r.stop(check_exit=False)
            r.cleanup()


if __name__ == "__main__":
    sys.exit(main())
