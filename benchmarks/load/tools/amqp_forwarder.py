#!/usr/bin/python3
"""Tiny AMQP 1.0 forwarding intermediary, ONLY to exercise fogmesh-bench's --url code path and
run-router-vs-direct.sh while fogmesh-router does not exist yet. Not a benchmark target: it is
slow (Python), single address space, no routing beyond "same address".

Behaves like a router with 'closest' distribution: messages arriving on a link whose target is
ADDR are forwarded (as raw bytes, undecoded) to a consumer link whose source is ADDR. The
consumer's outcome (accepted/released/...) is relayed back to the producer, so unsettled
end-to-end semantics hold. Producers get credit only while the forwarder's buffer has room.

Run with /usr/bin/python3 (the Debian interpreter that has the proton module):
    /usr/bin/python3 benchmarks/load/tools/amqp_forwarder.py --port 25672
It accepts a qdrouterd-style '-c FILE' (reads host/port from the listener block) so
run-router-vs-direct.sh can start it as ROUTER.
"""
import argparse
import collections
import os
import re
import signal
import sys

from proton import Delivery, Endpoint
from proton.reactor import Container

PRODUCER_CREDIT = int(os.environ.get("FORWARDER_PRODUCER_CREDIT", "250"))  # qdrouterd default; 0 tests stalls


class Forwarder:
    def __init__(self, host, port):
        self.url = "%s:%s" % (host, port)
        self.consumers = collections.defaultdict(list)  # address -> [sender links]
        self.queues = collections.defaultdict(collections.deque)  # address -> (bytes, in_dlv)
        self.in_flight = {}  # outgoing delivery -> incoming delivery (unsettled)
        self.next_tag = 0

    def on_reactor_init(self, event):
        event.container.listen(self.url)
        print("amqp_forwarder listening on %s" % self.url, flush=True)

    def on_connection_remote_open(self, event):
        if event.connection.state & Endpoint.LOCAL_UNINIT:
            event.connection.open()

    def on_session_remote_open(self, event):
        if event.session.state & Endpoint.LOCAL_UNINIT:
            event.session.open()

    def on_link_remote_open(self, event):
        link = event.link
        if not link.state & Endpoint.LOCAL_UNINIT:
            return
        if link.is_sender:  # a consumer attached
            address = link.remote_source.address
            link.source.address = address
            link.target.address = link.remote_target.address
            link.snd_settle_mode = link.remote_snd_settle_mode
            self.consumers[address].append(link)
            link.open()
            self.forward(address)
        else:  # a producer attached
            link.target.address = link.remote_target.address
            link.open()
            link.flow(PRODUCER_CREDIT)

    def on_link_flow(self, event):
        if event.link.is_sender:
            self.forward(event.link.source.address)

    def on_delivery(self, event):
        dlv = event.delivery
        link = event.link
        if link.is_receiver:
            if dlv.aborted:
                dlv.settle()
                link.flow(1)
                return
            if not dlv.readable or dlv.partial:
                return
            data = link.recv(dlv.pending)
            link.advance()
            address = link.target.address
            self.queues[address].append((data, dlv))
            self.forward(address)
        else:
            in_dlv = self.in_flight.get(dlv)
            # Python's Delivery.settled is the *remote* settled flag.
            if dlv.remote_state or dlv.settled:
                if in_dlv is not None:
                    del self.in_flight[dlv]
                    in_dlv.update(dlv.remote_state or Delivery.ACCEPTED)
                    in_dlv.settle()
                dlv.settle()

    def forward(self, address):
        queue = self.queues[address]
        for snd in self.consumers.get(address, []):
            while queue and snd.credit > 0:
                data, in_dlv = queue.popleft()
                self.next_tag += 1
                out = snd.delivery(str(self.next_tag))
                snd.stream(data)
                snd.advance()
                if in_dlv.settled:  # pre-settled by the producer: fire and forget
                    out.settle()
                    in_dlv.settle()
                else:
                    self.in_flight[out] = in_dlv
                in_dlv.link.flow(1)  # one buffer slot freed: return the credit

    def _drop_consumer(self, link):
        for links in self.consumers.values():
            if link in links:
                links.remove(link)
        for out, in_dlv in list(self.in_flight.items()):
            if out.link == link:
                del self.in_flight[out]
                in_dlv.update(Delivery.RELEASED)
                in_dlv.settle()

    def on_link_remote_close(self, event):
        self._drop_consumer(event.link)
        event.link.close()

    def on_link_remote_detach(self, event):
        self.on_link_remote_close(event)

    def on_connection_remote_close(self, event):
        link = event.connection.link_head(0)
        while link:
            self._drop_consumer(link)
            link = link.next(0)
        event.connection.close()

    def on_transport_closed(self, event):
        conn = event.connection
        if conn is not None:
            link = conn.link_head(0)
            while link:
                self._drop_consumer(link)
                link = link.next(0)


def listener_from_config(path):
    """host/port of the first listener block of a qdrouterd-style brace config."""
    text = open(path).read()
    block = re.search(r"listener\s*\{([^}]*)\}", text)
    if not block:
        sys.exit("amqp_forwarder: no listener block in %s" % path)
    host = re.search(r"host\s*:\s*(\S+)", block.group(1))
    port = re.search(r"port\s*:\s*(\d+)", block.group(1))
    return (host.group(1) if host else "127.0.0.1"), (port.group(1) if port else "5672")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-c", "--config", help="qdrouterd-style config (listener host/port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="25672")
    args = parser.parse_args()
    host, port = args.host, args.port
    if args.config:
        host, port = listener_from_config(args.config)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        Container(Forwarder(host, port)).run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
