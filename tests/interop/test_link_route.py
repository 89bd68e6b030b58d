#!/usr/bin/python3
"""Link routes to a broker (connector role route-container + linkRoute in/out).

broker.py runs as a separate process; the router connects to it with
    connector {name: broker, role: route-container, host, port}
    linkRoute {prefix: queue, direction: in,  connection: broker}
    linkRoute {prefix: queue, direction: out, connection: broker}
Then, through the router:
1. a sender to queue.lr with no consumer anywhere gets credit and `accepted` for 10 messages
   (the broker's credit and outcomes: the attach is proxied end to end, unlike a mobile address);
2. a receiver from queue.lr gets the 10 messages, in order;
3. an address outside the prefix is routed normally (no credit without a receiver);
4. the attach answers the clients get are the broker's: a receiver with a selector sees the
   broker's source (its capability, no filter — this broker applies none) under its own
   address, and a sender the broker's target.

Skipped (77) while the router does not open the connector: the broker never sees a connection.
"""
import time

import harness
from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import AtLeastOnce, Selector
from proton.utils import BlockingConnection

from broker import BROKER_CAPABILITY


def data_object(data):
    data.rewind()
    return data.get_object() if data.next() is not None else None


def capabilities(terminus):
    caps = data_object(terminus.capabilities)
    if caps is None:
        return []
    caps = getattr(caps, "elements", caps)  # an AMQP array decodes as proton's Array
    return [str(c) for c in caps] if isinstance(caps, (list, tuple)) else [str(caps)]

class Produce(MessagingHandler):
    def __init__(self, url, address, count):
        super().__init__()
        self.url, self.address, self.count = url, address, count
        self.sent = self.accepted = self.other = 0

    def progress(self):
        return "(sent %d, accepted %d, other %d)" % (self.sent, self.accepted, self.other)

    def on_start(self, event):
        self.conn = event.container.connect(self.url)
        event.container.create_sender(self.conn, self.address, options=AtLeastOnce())

    def on_sendable(self, event):
        while event.sender.credit > 0 and self.sent < self.count:
            event.sender.send(Message(body=self.sent))
            self.sent += 1

    def on_accepted(self, event):
        self.accepted += 1
        if self.accepted == self.count:
            self.conn.close()

    def on_released(self, event):
        self.other += 1

    def on_rejected(self, event):
        self.other += 1


def test(args):
    broker = harness.Broker()
    extra = broker.connector() + """
linkRoute {
    prefix: queue
    direction: in
    connection: broker
}
linkRoute {
    prefix: queue
    direction: out
    connection: broker
}
"""
    with harness.Router(args, extra=extra) as router:
        end = time.monotonic() + harness.deadline(10)
        while "connection from" not in broker.log() and time.monotonic() < end:
            time.sleep(0.1)
        if "connection from" not in broker.log():
            harness.skip("router does not implement connectors/link routes yet: it never "
                         "connected to the route-container broker within 10 s")
        # The link route may become active slightly after the connection opens.
        time.sleep(0.5)

        h = harness.run_container(Produce(router.url(), "queue.lr", 10), 30, "link-routed send")
        harness.log("link-routed sender: %s" % h.progress())
        harness.check(h.accepted == 10 and h.other == 0, "sender: %s" % h.progress())
        harness.check("attach receiver queue.lr" in broker.log(),
                      "broker never saw the proxied attach")

        conn = BlockingConnection(router.url(), timeout=harness.deadline(20))
        try:
            got = harness.receive_bodies(conn, "queue.lr", 10)
            harness.check(got == list(range(10)), "received %s" % got)

            snd = conn.create_sender("notqueue.x")  # outside the prefix: mobile address
            harness.check(snd.link.credit == 0,
                          "sender outside the link-route prefix got credit with no receiver")

            rcv = conn.create_receiver("queue.caps", options=Selector("color = 'red'"))
            source = rcv.link.remote_source
            harness.check(source.address == "queue.caps" and
                          capabilities(source) == [BROKER_CAPABILITY] and
                          data_object(source.filter) is None,
                          "receiver's attach answer: address %r capabilities %r filter %r "
                          "(expected the broker's node)" % (
                              source.address, capabilities(source), data_object(source.filter)))
            snd = conn.create_sender("queue.caps")
            target = snd.link.remote_target
            harness.check(target.address == "queue.caps" and
                          capabilities(target) == [BROKER_CAPABILITY],
                          "sender's attach answer: address %r capabilities %r" % (
                              target.address, capabilities(target)))
        finally:
            conn.close()
    broker.stop()


if __name__ == "__main__":
    harness.main(test)
