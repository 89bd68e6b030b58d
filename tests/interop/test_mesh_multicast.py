#!/usr/bin/python3
"""Multicast across the mesh: every receiver gets every message exactly once.

1. Ring A - B - C - D - A of interior routers (equal costs, so the mesh has a cycle), receivers
   of `multicast.news` on A, C (two of them) and D, a sender on B. Once every receiver has
   heard a probe (the address takes a moment to spread through MAUs), 200 numbered messages
   are sent: each receiver gets each of them exactly once — no copy lost, none doubled by the
   cycle.
2. The same ring with an edge router E attached to A: a receiver on E and on C, the sender on
   E. E's receiver gets its local copy, C's comes through A and the ring, each exactly once
   (nothing goes back down to E).
"""
import harness
from proton import Message
from proton.handlers import MessagingHandler

ADDRESS = "multicast.news"
MULTICAST = [{"prefix": "multicast", "distribution": "multicast"}]
COUNT = 200


def interior(args, name, connect_to=()):
    extra = ""
    for i, other in enumerate(connect_to):
        extra += ("connector {\n    name: to-%s-%d\n    host: 127.0.0.1\n    port: %d\n"
                  "    role: inter-router\n}\n" % (other.router_id, i, other.ports[1]))
    return harness.Router(args, router_id=name, mode="interior", addresses=MULTICAST,
                          listeners=[{}, {"role": "inter-router"}, {"role": "edge"}],
                          extra=extra)


def edge(args, name, uplink):
    extra = ("connector {\n    name: uplink\n    host: 127.0.0.1\n    port: %d\n    role: edge\n"
             "    retryDelaySeconds: 1\n}\n" % uplink.ports[2])
    return harness.Router(args, router_id=name, mode="edge", addresses=MULTICAST, extra=extra)


class Fanout(MessagingHandler):
    """Receivers on several routers, one sender; probes until all hear, then COUNT messages."""

    def __init__(self, send_url, receive_urls):
        super().__init__(auto_accept=True)
        self.send_url = send_url
        self.receive_urls = receive_urls
        self.got = {i: {} for i in range(len(receive_urls))}  # receiver → {id: times}
        self.probes_heard = set()
        self.receivers = {}
        self.sent = 0
        self.probes = 0
        self.sending = False
        self.settle_wait = None
        self.done = False

    def progress(self):
        counts = {self.receive_urls[i][1]: len(g) for i, g in self.got.items()}
        return "(probes %d heard by %d/%d, sent %d, distinct received %s)" % (
            self.probes, len(self.probes_heard), len(self.receive_urls), self.sent, counts)

    def on_start(self, event):
        self.conns = []
        for i, (url, _) in enumerate(self.receive_urls):
            conn = event.container.connect(url)
            self.conns.append(conn)
            self.receivers[event.container.create_receiver(conn, ADDRESS)] = i
        self.sconn = event.container.connect(self.send_url)
        self.sender = event.container.create_sender(self.sconn, ADDRESS)
        self.conns.append(self.sconn)
        event.container.schedule(0.2, self)

    def on_timer_task(self, event):
        if self.done:
            return
        if self.settle_wait is not None:
            # Everything arrived; the wait let any duplicate show up too.
            self.finish()
            return
        if not self.sending and self.sender.credit > 0:
            self.sender.send(Message(id="probe-%d" % self.probes, body="probe"))
            self.probes += 1
        event.container.schedule(0.2, self)

    def on_sendable(self, event):
        while self.sending and self.sender.credit > 0 and self.sent < COUNT:
            self.sender.send(Message(id="n-%d" % self.sent, body="news %d" % self.sent))
            self.sent += 1

    def on_message(self, event):
        i = self.receivers[event.receiver]
        mid = event.message.id
        if mid.startswith("probe-"):
            self.probes_heard.add(i)
            if len(self.probes_heard) == len(self.receive_urls) and not self.sending:
                self.sending = True
                self.on_sendable(event)
            return
        self.got[i][mid] = self.got[i].get(mid, 0) + 1
        if self.settle_wait is None and all(len(g) == COUNT for g in self.got.values()):
            self.settle_wait = event.container.schedule(1.0, self)

    def finish(self):
        self.done = True
        for c in self.conns:
            c.close()


def check_exactly_once(handler, what):
    for i, got in handler.got.items():
        name = handler.receive_urls[i][1]
        missing = [n for n in range(COUNT) if "n-%d" % n not in got]
        doubled = {k: v for k, v in got.items() if v != 1}
        harness.check(not missing, "%s: receiver on %s missed %d message(s), e.g. %s" %
                      (what, name, len(missing), missing[:5]))
        harness.check(not doubled, "%s: receiver on %s got duplicates %s" %
                      (what, name, list(doubled.items())[:5]))
    harness.log("%s: %d receivers got each of %d messages exactly once" %
                (what, len(handler.got), COUNT))


def test(args):
    a = interior(args, "A")
    b = interior(args, "B", [a])
    c = interior(args, "C", [b])
    d = interior(args, "D", [c, a])
    receivers = [(a.url(), "A"), (c.url(), "C"), (c.url(), "C"), (d.url(), "D")]
    h = harness.run_container(Fanout(b.url(), receivers), 120, "multicast in the ring")
    check_exactly_once(h, "ring, sender on B")

    e = edge(args, "E", a)
    h = harness.run_container(Fanout(e.url(), [(e.url(), "E"), (c.url(), "C")]), 120,
                              "multicast from an edge")
    check_exactly_once(h, "edge E on A, sender on E")
    for r in (e, d, c, b, a):
        r.stop()


if __name__ == "__main__":
    harness.main(test)
