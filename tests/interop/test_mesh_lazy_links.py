#!/usr/bin/python3
"""Interior mesh: a router attaches a data link towards the next router only for the addresses
something on it sends to, and reaches the others by `to` on one anonymous link per neighbour.

Line A - B - C, receivers on C for 20 addresses (lz.0 ... lz.19, attached in that order, so
once lz.19 has reached A every one has).
1. A client sender for lz.19 on A gets credit end to end: A attaches a link for lz.19 towards
   B, and B one towards C (A's link is a sender of lz.19 on B). Its 10 unsettled messages are
   accepted and arrive. Neither A nor B holds a data link for the 19 others.
2. An anonymous sender on A reaches all 20 addresses by `to`, unsettled, each message accepted
   end to end: A forwards on its anonymous link to B, which routes by `to` again and forwards
   on its anonymous link to C. Still no data link for the 19 others.
"""
import harness
from proton import Message
from proton.handlers import MessagingHandler
from test_management import Management
from test_mesh import interior

COUNT = 20
ADDRESSED = "lz.%d" % (COUNT - 1)
BATCH = 10


def data_links(router):
    """The addresses of the router's outgoing data links for lz.* towards other routers."""
    m = Management(router.url())
    try:
        rows = m.query("router.link", ["linkDir", "linkName"])
    finally:
        m.close()
    return sorted(r["linkName"][len("fogmesh.data/"):] for r in rows
                  if r["linkDir"] == "out" and r["linkName"].startswith("fogmesh.data/lz."))


class Flow(MessagingHandler):
    def __init__(self, a, b, c):
        super().__init__(auto_accept=True)
        self.a, self.b, self.c = a, b, c
        self.phase = 1
        self.sent = {1: 0, 2: 0}
        self.accepted = {1: 0, 2: 0}
        self.other_outcomes = []
        self.received = []  # (address, body)
        self.links = {}

    def progress(self):
        return "(phase %d, sent %s, accepted %s, other outcomes %s, received %d, links %s)" % (
            self.phase, self.sent, self.accepted, self.other_outcomes[:5], len(self.received),
            self.links)

    def on_start(self, event):
        self.rconn = event.container.connect(self.c.url())
        for i in range(COUNT):
            event.container.create_receiver(self.rconn, "lz.%d" % i)
        self.sconn = event.container.connect(self.a.url())
        self.addressed = event.container.create_sender(self.sconn, ADDRESSED)
        self.anonymous = event.container.create_sender(self.sconn, None)

    def on_sendable(self, event):
        self.send_more()

    def send_more(self):
        if self.phase == 1:
            while self.addressed.credit > 0 and self.sent[1] < BATCH:
                self.addressed.send(Message(body="addressed-%d" % self.sent[1]))
                self.sent[1] += 1
        elif self.phase == 2:
            while self.anonymous.credit > 0 and self.sent[2] < COUNT:
                n = self.sent[2]
                self.anonymous.send(Message(address="lz.%d" % n, body="anonymous-%d" % n))
                self.sent[2] += 1

    def on_message(self, event):
        self.received.append((event.receiver.source.address, event.message.body))
        self.advance()

    def on_settled(self, event):
        if event.delivery.remote_state == event.delivery.ACCEPTED:
            self.accepted[self.phase] += 1
        else:
            self.other_outcomes.append(event.delivery.remote_state)
        self.advance()

    def advance(self):
        if self.accepted[self.phase] < (BATCH if self.phase == 1 else COUNT):
            return
        if len(self.received) < BATCH + (COUNT if self.phase == 2 else 0):
            return  # an accepted message must have arrived; wait for it
        self.links[self.phase] = (data_links(self.a), data_links(self.b))
        if self.phase == 1:
            self.phase = 2
            self.send_more()
            return
        self.phase = 3
        self.rconn.close()
        self.sconn.close()


def test(args):
    a = interior(args, "A")
    b = interior(args, "B", [(a, 1)])
    c = interior(args, "C", [(b, 1)])
    flow = harness.run_container(Flow(a, b, c), 60, "addressed, then anonymous traffic A -> C")
    harness.check(not flow.other_outcomes, "outcomes other than accepted: %s" % flow.progress())
    expected = sorted([(ADDRESSED, "addressed-%d" % i) for i in range(BATCH)] +
                      [("lz.%d" % i, "anonymous-%d" % i) for i in range(COUNT)])
    harness.check(sorted(flow.received) == expected, "received %s" % sorted(flow.received))
    for phase in (1, 2):
        harness.check(flow.links[phase] == ([ADDRESSED], [ADDRESSED]),
                      "phase %d: data links on A and B %s, expected only %s" %
                      (phase, flow.links[phase], ADDRESSED))
    harness.log("20 addresses on C: A and B hold a data link for %s only; anonymous sends "
                "by `to` reached all 20" % ADDRESSED)


if __name__ == "__main__":
    harness.main(test)
