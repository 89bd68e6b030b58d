#!/usr/bin/python3
"""Sender and receiver on ONE connection, receiver credit (prefetch 10) smaller than what the
sender has in flight (sender credit from the router is 250).

10 small messages then 10 x 150 KB: the router holds > 1 MiB for a receiver that must grant
more credit. The receiver's flow frames travel on the same TCP connection as the sender's
transfers, so the router must keep reading that connection (or stop granting the sender credit
instead); otherwise neither side can make progress. qdrouterd delivers everything.
"""
import hashlib

import harness
from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import AtLeastOnce

SIZES = [1000] * 10 + [150000] * 10


class SameConnection(MessagingHandler):
    def __init__(self, url):
        super().__init__(prefetch=10)
        self.url = url
        self.got = {}
        self.accepted = self.other = self.next = 0

    def progress(self):
        return "(sent %d of %d, received %d, accepted %d, released/modified %d)" % (
            self.next, len(SIZES), len(self.got), self.accepted, self.other)

    def on_start(self, event):
        self.conn = event.container.connect(self.url)
        event.container.create_receiver(self.conn, "bp.q")
        event.container.create_sender(self.conn, "bp.q", options=AtLeastOnce())

    def on_sendable(self, event):
        while event.sender.credit > 0 and self.next < len(SIZES):
            body = bytes([self.next % 251]) * SIZES[self.next]
            event.sender.send(Message(body=body, properties={"i": self.next}))
            self.next += 1

    def on_message(self, event):
        i = event.message.properties["i"]
        self.got[i] = bytes(event.message.body) == bytes([i % 251]) * SIZES[i]
        self.maybe_done()

    def on_accepted(self, event):
        self.accepted += 1
        self.maybe_done()

    def on_released(self, event):
        self.other += 1

    def on_transport_error(self, event):
        harness.log("transport error: %s" % event.transport.condition)

    def on_connection_error(self, event):
        harness.log("connection closed by router: %s" % event.connection.remote_condition)

    def maybe_done(self):
        if len(self.got) == len(SIZES) and self.accepted == len(SIZES):
            self.conn.close()


def test(args):
    with harness.Router(args, listeners=[{"idleTimeoutSeconds": 4}]) as router:
        h = harness.run_container(SameConnection(router.url()), 60, "same-connection flow")
        harness.log(h.progress())
        harness.check(len(h.got) == len(SIZES) and all(h.got.values()),
                      "not every message arrived intact: %s" % h.progress())
        harness.check(h.accepted == len(SIZES) and h.other == 0, h.progress())


if __name__ == "__main__":
    harness.main(test)
