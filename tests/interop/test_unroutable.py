#!/usr/bin/python3
"""Senders to addresses without consumers (qdrouterd semantics).

1. closest and balanced: a sender attached to an address with no receiver gets no credit
   (checked after 2 s); when a receiver attaches the sender gets credit and its message arrives.
2. `unavailable` distribution: the attach is refused (the router detaches the link with an error
   or answers with a null source/target), for a sender and for a receiver that grants credit
   straight away; the connection stays usable afterwards.
"""
import time

import harness
from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import AtLeastOnce, AtMostOnce
from proton.utils import BlockingConnection, LinkDetached

ADDRESSES = [{"prefix": "closest", "distribution": "closest"},
             {"prefix": "balanced", "distribution": "balanced"},
             {"prefix": "gone", "distribution": "unavailable"}]


class LateReceiver(MessagingHandler):
    def __init__(self, url, address):
        super().__init__()
        self.url, self.address = url, address
        self.credit_before_receiver = None
        self.received = []
        self.accepted = 0
        self.sent = False

    def progress(self):
        return "(credit before receiver %s, received %s, accepted %d)" % (
            self.credit_before_receiver, self.received, self.accepted)

    def on_start(self, event):
        self.conn = event.container.connect(self.url)
        self.sender = event.container.create_sender(self.conn, self.address,
                                                    options=AtLeastOnce())
        event.container.schedule(2.0, self)

    def on_timer_task(self, event):
        self.credit_before_receiver = self.sender.credit
        event.container.create_receiver(self.conn, self.address)

    def on_sendable(self, event):
        if self.credit_before_receiver is None:
            return  # credit before the receiver exists: recorded by the timer
        if not self.sent:
            self.sent = True
            self.sender.send(Message(body="hello"))

    def on_message(self, event):
        self.received.append(event.message.body)

    def on_accepted(self, event):
        self.accepted += 1
        self.conn.close()


def test(args):
    with harness.Router(args, addresses=ADDRESSES) as router:
        for address in ("closest.none", "balanced.none"):
            h = harness.run_container(LateReceiver(router.url(), address), 30, address)
            harness.log("%s: %s" % (address, h.progress()))
            harness.check(h.credit_before_receiver == 0,
                          "%s: sender got credit %s with no receiver"
                          % (address, h.credit_before_receiver))
            harness.check(h.received == ["hello"] and h.accepted == 1, h.progress())

        conn = BlockingConnection(router.url(), timeout=harness.deadline(20))
        try:
            refused = False
            try:
                snd = conn.create_sender("gone.x")
                refused = snd.link.remote_target.address is None
            except LinkDetached as e:
                harness.log("unavailable sender refused: %s" % e)
                refused = True
            harness.check(refused, "attach to an `unavailable` address was not refused")

            # A refused receiver: the client grants credit right after its attach, before it
            # sees the router's detach. The flow for the (still attached, from the client's
            # view) handle must not kill the connection.
            refused = False
            try:
                conn.create_receiver("gone.y", credit=10)
            except LinkDetached as e:
                harness.log("unavailable receiver refused: %s" % e)
                refused = True
            harness.check(refused, "receiver attach to an `unavailable` address was not refused")
            try:
                rcv = conn.create_receiver("closest.after", credit=1)
                snd = conn.create_sender("closest.after", options=AtMostOnce())
                snd.send(Message(body="same connection"))
                m = rcv.receive(timeout=harness.deadline(10))
            except Exception as e:
                harness.fail("connection unusable after a refused receiver: %s" % e)
            harness.check(m.body == "same connection", "got %r" % m.body)
        finally:
            conn.close()


if __name__ == "__main__":
    harness.main(test)
