#!/usr/bin/python3
"""Settlement across connections: 10 rounds, each with a receiver connection and a sender
connection (the router may serve them on different shards), 5 unsettled messages per round;
every message arrives and the sender gets `accepted` for each.
"""
import harness
from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import AtLeastOnce


class Round(MessagingHandler):
    def __init__(self, url, address):
        super().__init__()
        self.url, self.address = url, address
        self.sent = self.received = self.accepted = 0

    def progress(self):
        return "(sent %d, received %d, accepted %d)" % (self.sent, self.received, self.accepted)

    def on_start(self, event):
        self.rconn = event.container.connect(self.url)
        self.sconn = event.container.connect(self.url)
        event.container.create_receiver(self.rconn, self.address)
        event.container.create_sender(self.sconn, self.address, options=AtLeastOnce())

    def on_sendable(self, event):
        while event.sender.credit > 0 and self.sent < 5:
            event.sender.send(Message(body=self.sent))
            self.sent += 1

    def on_message(self, event):
        self.received += 1
        if self.received == 5:
            event.container.schedule(harness.deadline(10), self)

    def on_accepted(self, event):
        self.accepted += 1
        if self.accepted == 5 and self.received == 5:
            self.on_timer_task(event)

    def on_timer_task(self, event):
        if not getattr(self, "closed", False):
            self.closed = True
            self.rconn.close()
            self.sconn.close()


def test(args):
    with harness.Router(args) as router:
        results = []
        for i in range(10):
            h = harness.run_container(Round(router.url(), "xc.%d" % i), 60, "round %d" % i)
            results.append(h.progress())
            harness.check(h.received == 5, "round %d: %s" % (i, h.progress()))
        harness.log("rounds: %s" % results)
        # With 2+ shards, sender and receiver often land on different shards: the outcome
        # must cross back (it once did not: router_core::disposition for remote-origin).
        bad = [r for r in results if "accepted 5)" not in r]
        harness.check(not bad, "rounds with missing outcomes: %s" % bad)


if __name__ == "__main__":
    harness.main(test)
