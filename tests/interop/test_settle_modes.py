#!/usr/bin/python3
"""10,000 messages through the router in each settlement mode, one sender, one receiver.

- pre-settled: sender settles on send (at-most-once); every message arrives, in order.
- unsettled: sender waits for the receiver's outcome (receiver settles first, rcv-settle-mode
  first); every message arrives in order and every delivery comes back `accepted`.
- unsettled, receiver accepts late: receiver holds 500 deliveries before accepting them in a
  batch (outcome crosses the router after the receiver's credit has been consumed).
"""
import harness
from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import AtMostOnce, AtLeastOnce

COUNT = 10000


class SendReceive(MessagingHandler):
    def __init__(self, url, address, presettled, batch_accept=0):
        super().__init__(prefetch=0 if batch_accept else 300, auto_accept=not batch_accept)
        self.url, self.address = url, address
        self.presettled, self.batch_accept = presettled, batch_accept
        self.sent = self.received = self.accepted = self.other_outcomes = 0
        self.out_of_order = 0
        self.held = []
        self.sender = None

    def progress(self):
        return "(sent %d, received %d, accepted %d, other outcomes %d)" % (
            self.sent, self.received, self.accepted, self.other_outcomes)

    def on_start(self, event):
        self.conn = event.container.connect(self.url)
        self.receiver = event.container.create_receiver(self.conn, self.address)
        if self.batch_accept:
            self.receiver.flow(self.batch_accept)

    def on_link_opened(self, event):
        if event.receiver is not None and self.sender is None:
            opts = AtMostOnce() if self.presettled else AtLeastOnce()
            self.sender = event.container.create_sender(self.conn, self.address, options=opts)

    def on_sendable(self, event):
        while event.sender.credit > 0 and self.sent < COUNT:
            event.sender.send(Message(body={"seq": self.sent}, durable=False))
            self.sent += 1

    def on_message(self, event):
        if event.message.body.get("seq") != self.received:
            self.out_of_order += 1
        self.received += 1
        if self.batch_accept:
            self.held.append(event.delivery)
            if len(self.held) == self.batch_accept or self.received == COUNT:
                for d in self.held:
                    self.accept(d)
                self.held = []
                self.receiver.flow(self.batch_accept)
        self.maybe_done()

    def on_accepted(self, event):
        self.accepted += 1
        self.maybe_done()

    def on_rejected(self, event):
        self.other_outcomes += 1

    def on_released(self, event):
        self.other_outcomes += 1

    def maybe_done(self):
        if self.received == COUNT and (self.presettled or self.accepted == COUNT):
            self.conn.close()


def test(args):
    with harness.Router(args) as router:
        for name, presettled, batch in [("pre-settled", True, 0), ("unsettled", False, 0),
                                        ("unsettled, batched accept", False, 500)]:
            h = harness.run_container(
                SendReceive(router.url(), "settle.%s" % name.replace(" ", "").replace(",", ""),
                            presettled, batch),
                60, "%d %s messages" % (COUNT, name))
            harness.log("%s: %s" % (name, h.progress()))
            harness.check(h.received == COUNT, "%s: received %d of %d" % (name, h.received, COUNT))
            harness.check(h.out_of_order == 0, "%s: %d out of order" % (name, h.out_of_order))
            if not presettled:
                harness.check(h.accepted == COUNT and h.other_outcomes == 0,
                              "%s: %s" % (name, h.progress()))


if __name__ == "__main__":
    harness.main(test)
