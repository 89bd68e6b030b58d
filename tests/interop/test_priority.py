#!/usr/bin/python3
"""Message priority: deliveries waiting for a receiver's credit leave highest priority first.

A receiver attaches with no credit; a sender sends 20 messages whose header priorities are
mixed (0..9, and one above 9, which counts as 9); a marker on another address, sent after them
on the same connection and received at once, proves all 20 are queued in the router. Then the
receiver grants credit and must get them by priority, in sending order within a priority.

1. One router: as above.
2. An address with a configured priority (qdrouterd's `address { priority }`) overrides the
   messages' own: they arrive in sending order.
3. Two interior routers: sender on A, receiver on B; B orders what waits for the receiver.
"""
import harness
from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import AtLeastOnce
from test_mesh import interior

PRIORITIES = [3, 9, 0, 4, 7, 4, 1, 12, 5, 9, 2, 6, 8, 0, 4, 7, 3, 5, 1, 6]


def expected_order(priorities):
    """Indices sorted by effective priority (capped at 9), highest first, stable."""
    effective = [min(p, 9) for p in priorities]
    return sorted(range(len(priorities)), key=lambda i: -effective[i])


class Ordered(MessagingHandler):
    def __init__(self, send_url, receive_url, address):
        super().__init__(prefetch=0, auto_accept=True)
        self.send_url, self.receive_url = send_url, receive_url
        self.address = address
        self.received = []
        self.marker_seen = False
        self.sent = False
        self.accepted = 0

    def progress(self):
        return "(sent %s, marker %s, received %s, accepted %d)" % (
            self.sent, self.marker_seen, self.received, self.accepted)

    def on_start(self, event):
        self.rconn = event.container.connect(self.receive_url)
        self.receiver = event.container.create_receiver(self.rconn, self.address)
        self.marker_receiver = event.container.create_receiver(self.rconn, self.address + ".marker")
        self.marker_receiver.flow(1)
        self.sconn = self.rconn if self.send_url == self.receive_url else \
            event.container.connect(self.send_url)
        self.sender = event.container.create_sender(self.sconn, self.address,
                                                    options=AtLeastOnce())
        self.marker_sender = event.container.create_sender(self.sconn, self.address + ".marker",
                                                           options=AtLeastOnce())

    def on_sendable(self, event):
        # Both senders need credit: the router gives it once each address has a consumer.
        if self.sent or self.sender.credit < len(PRIORITIES) or self.marker_sender.credit < 1:
            return
        self.sent = True
        for i, p in enumerate(PRIORITIES):
            self.sender.send(Message(body=i, priority=p))
        self.marker_sender.send(Message(body="marker"))

    def on_message(self, event):
        if event.receiver == self.marker_receiver:
            self.marker_seen = True
            self.receiver.flow(len(PRIORITIES))
            return
        self.received.append(event.message.body)

    def on_accepted(self, event):
        self.accepted += 1
        if self.accepted == len(PRIORITIES) + 1:
            self.rconn.close()
            if self.sconn is not self.rconn:
                self.sconn.close()


def check_order(handler, expected, what):
    harness.log("%s: received %s" % (what, handler.received))
    harness.check(handler.received == expected,
                  "%s: received %s, expected %s" % (what, handler.received, expected))


def test(args):
    with harness.Router(args, addresses=[{"prefix": "fixed", "priority": 2}]) as router:
        h = harness.run_container(Ordered(router.url(), router.url(), "prio.q"), 60, "one router")
        check_order(h, expected_order(PRIORITIES), "one router")

        h = harness.run_container(Ordered(router.url(), router.url(), "fixed.q"), 60,
                                  "configured priority")
        check_order(h, list(range(len(PRIORITIES))), "address priority overrides the header")

    a = interior(args, "A")
    b = interior(args, "B", [(a, 1)])
    try:
        h = harness.run_container(Ordered(a.url(), b.url(), "mesh.prio.q"), 60, "two routers")
        check_order(h, expected_order(PRIORITIES), "two routers")
    finally:
        for r in (b, a):
            r.stop()
            r.cleanup()


if __name__ == "__main__":
    harness.main(test)
