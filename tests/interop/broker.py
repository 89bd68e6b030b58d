#!/usr/bin/python3
"""A small Proton test broker for link-route / auto-link interop tests.

Queues by address (created on first use): accepts every incoming message into the queue named
by the link's target (or the message's `to` on an anonymous link) and settles it (`accepted`);
serves receivers from the queue named by their source, round-robin, respecting credit, and
removes a message when the consumer settles it (released/modified: back to the queue head).

    /usr/bin/python3 broker.py [--host 127.0.0.1] [--port 0]

Prints `broker listening on HOST:PORT` once ready (port 0 picks a free port), then one line
per connection/link event (`connection from CONTAINER`, `attach sender|receiver ADDRESS`
(senders add `name=`, the source's `filter=` keys and `durable=`),
`stored ADDRESS depth N`), flushing each, so tests can follow it. SIGTERM exits 0.
"""
import argparse
import collections
import signal
import socket
import sys

from proton import Delivery, symbol
from proton.handlers import MessagingHandler
from proton.reactor import Container

# The capability this broker puts on the node of every link it accepts (tests check that a
# link route passes the broker's answer on to the client).
BROKER_CAPABILITY = "fogmesh-test-broker"


def say(text):
    print(text, flush=True)


class Queue:
    def __init__(self, name):
        self.name = name
        self.messages = collections.deque()
        self.consumers = []

    def dispatch(self):
        """Sends queued messages to consumers with credit (round-robin)."""
        progressed = True
        while self.messages and progressed:
            progressed = False
            for link in list(self.consumers):
                if not self.messages:
                    break
                if link.credit > 0:
                    msg = self.messages.popleft()
                    d = link.send(msg)
                    d.broker_queue, d.broker_msg = self, msg
                    progressed = True
                    self.consumers.remove(link)
                    self.consumers.append(link)


class Broker(MessagingHandler):
    def __init__(self, host, port):
        super().__init__(auto_accept=False, auto_settle=True)
        self.host, self.port = host, port
        self.queues = {}

    def queue(self, name):
        if name not in self.queues:
            self.queues[name] = Queue(name)
        return self.queues[name]

    def on_start(self, event):
        self.acceptor = event.container.listen("%s:%d" % (self.host, self.port))
        say("broker listening on %s:%d" % (self.host, self.port))

    def on_connection_opening(self, event):
        say("connection from %s" % event.connection.remote_container)

    def on_link_opening(self, event):
        link = event.link
        if link.is_sender:
            address = link.remote_source.address
            if link.remote_source.dynamic:
                address = "dyn.%s" % id(link)
                link.source.address = address
            else:
                link.source.address = address
            link.target.address = link.remote_target.address
            # Told back to the client through a link route (its filters are not echoed: this
            # broker applies none).
            link.source.capabilities.put_object(symbol(BROKER_CAPABILITY))
            self.queue(address).consumers.append(link)
            filters = {}
            remote_filter = link.remote_source.filter
            remote_filter.rewind()
            if remote_filter.next() is not None:
                filters = remote_filter.get_object() or {}
            say("attach sender %s name=%s filter=%s durable=%d" % (
                address, link.name, ",".join(sorted(str(k) for k in filters)),
                link.remote_source.durability))
        else:
            address = link.remote_target.address
            link.target.address = address
            link.target.capabilities.put_object(symbol(BROKER_CAPABILITY))
            link.source.address = link.remote_source.address
            say("attach receiver %s" % address)
        link.open()

    def on_link_opened(self, event):
        if event.link.is_sender:
            self.queue(event.link.source.address).dispatch()

    def _unlink(self, link):
        if link.is_sender:
            for q in self.queues.values():
                if link in q.consumers:
                    q.consumers.remove(link)

    # Proton's default closes the whole connection when a peer detaches a link with an error
    # (e.g. the router's qd:routed-link-lost when a link-routed client goes away): a broker must
    # keep the connection (the router's route-container connection serves many links).
    def on_link_error(self, event):
        say("link %s detached with %s" % (event.link.name, event.link.remote_condition))
        self._unlink(event.link)
        event.link.close()

    def on_link_closing(self, event):
        self._unlink(event.link)

    def on_connection_closing(self, event):
        for link in self._links(event.connection):
            self._unlink(link)

    def on_disconnected(self, event):
        if event.connection is not None:
            for link in self._links(event.connection):
                self._unlink(link)

    def _links(self, conn):
        link = conn.link_head(0)
        while link:
            yield link
            link = link.next(0)

    def on_sendable(self, event):
        self.queue(event.link.source.address).dispatch()

    def on_message(self, event):
        address = event.link.target.address or event.message.address
        q = self.queue(address)
        q.messages.append(event.message)
        self.accept(event.delivery)
        say("stored %s depth %d" % (address, len(q.messages)))
        q.dispatch()

    def on_settled(self, event):
        d = event.delivery
        q = getattr(d, "broker_queue", None)
        if q is not None and d.remote_state in (Delivery.RELEASED, Delivery.MODIFIED):
            q.messages.appendleft(d.broker_msg)
            q.dispatch()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    port = a.port
    if port == 0:
        s = socket.socket()
        s.bind((a.host, 0))
        port = s.getsockname()[1]
        s.close()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        c = Container(Broker(a.host, port))
        c.container_id = "fogmesh-test-broker"
        c.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
