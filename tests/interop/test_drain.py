#!/usr/bin/python3
"""Receiver drain (AMQP flow drain=true).

1. A receiver on an address with no sender issues drain with credit 10: the router has nothing
   to send, so it must consume the credit (advance delivery-count) and send a flow back: the
   receiver's credit becomes 0 and its drain completes.
2. The link still works: a sender sends 3 messages, the receiver grants credit 5, gets the 3.
3. Drain again: credit goes to 0, no further messages, all 3 sent deliveries `accepted`.
"""
import harness
from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import AtLeastOnce


class Drain(MessagingHandler):
    def __init__(self, url):
        super().__init__(prefetch=0)
        self.url = url
        self.phase = "attach"
        self.received = []
        self.accepted = 0
        self.drains_completed = 0
        self.sender = None
        self.sent = 0

    def progress(self):
        rcv = getattr(self, "receiver", None)
        return "(phase %s, credit %s, received %s, accepted %d, drains completed %d)" % (
            self.phase, rcv.credit if rcv else None, self.received, self.accepted,
            self.drains_completed)

    def on_start(self, event):
        self.conn = event.container.connect(self.url)
        self.receiver = event.container.create_receiver(self.conn, "drain.q")

    def on_link_opened(self, event):
        if event.receiver is not None and event.receiver.name == self.receiver.name and self.phase == "attach":
            self.phase = "drain1"
            self.receiver.drain(10)

    def on_link_flow(self, event):
        if event.link.name != self.receiver.name or not event.link.is_receiver:
            return
        if self.phase in ("drain1", "drain2") and self.receiver.credit == 0 \
                and not self.receiver.draining():
            self.drains_completed += 1
            if self.phase == "drain1":
                self.phase = "send"
                self.sender = event.container.create_sender(self.conn, "drain.q",
                                                            options=AtLeastOnce())
            else:
                self.phase = "done"
                self.maybe_done()

    def on_sendable(self, event):
        if self.sender is not None and event.sender.name == self.sender.name and self.phase == "send" and self.sent == 0:
            for i in range(3):
                self.sender.send(Message(body=i))
                self.sent += 1
            self.phase = "receive"
            self.receiver.flow(5)

    def on_message(self, event):
        self.received.append(event.message.body)
        if len(self.received) == 3 and self.phase == "receive":
            self.phase = "drain2"
            self.receiver.drain(0)  # drain the 2 credits left

    def on_accepted(self, event):
        self.accepted += 1
        self.maybe_done()

    def maybe_done(self):
        if self.phase == "done" and self.accepted == 3:
            self.conn.close()


def test(args):
    with harness.Router(args) as router:
        h = harness.run_container(Drain(router.url()), 30, "drain")
        harness.log(h.progress())
        harness.check(h.drains_completed == 2, "drain not completed: %s" % h.progress())
        harness.check(h.received == [0, 1, 2], "received %s" % h.received)


if __name__ == "__main__":
    harness.main(test)
