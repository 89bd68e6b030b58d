#!/usr/bin/python3
"""Interior mesh: link-state routing between fogmesh routers on loopback.

1. Line A - B - C: a receiver on C, a sender on A. The sender gets credit once C's address has
   reached A (MAU flooded through B), and all 300 unsettled messages arrive at C and are
   accepted end to end. management on A lists B and C as router.node rows. After 20 quiet
   seconds A and C still know each other (their periodic refreshes pass through B).
2. Ring A - B - C - D - A (costs make A-B-C the shortest path): traffic from A to C flows;
   then B is killed with SIGKILL while unsettled deliveries are in flight. The sender gets an
   outcome for every message it sent (accepted, or released/modified for those lost with B —
   never silence), no message accepted by the network is missing at the receiver, and new
   deliveries flow again through D (the test waits; it never asserts timing).
3. Request/response across the line: a service on C answers requests from clients on A, each
   client with a fresh dynamic reply address and sending at once. Replies travel by the
   replying router's route to A's topological address (`_topo/0/A/...`), so none is released
   while the new address is still being advertised.
"""
import signal
import time

import harness
from proton import Message
from proton.handlers import MessagingHandler
from proton.utils import BlockingConnection

ADDRESS = "mesh.q"


def interior(args, name, connect_to=(), cost=1):
    """An interior router with a normal and an inter-router listener, connecting to others."""
    extra = ""
    for i, (other, c) in enumerate(connect_to):
        extra += ("connector {\n    name: to-%s-%d\n    host: 127.0.0.1\n    port: %d\n"
                  "    role: inter-router\n    cost: %d\n}\n" % (other.router_id, i,
                                                                  other.ports[1], c))
    return harness.Router(args, router_id=name, mode="interior",
                          listeners=[{}, {"role": "inter-router", "saslMechanisms": "ANONYMOUS"}],
                          extra=extra)


class Traffic(MessagingHandler):
    """Receiver on one router, sender on another; sends `count` messages (or until stop)."""

    def __init__(self, send_url, receive_url, count, on_progress=None):
        super().__init__(auto_accept=True)
        self.send_url, self.receive_url = send_url, receive_url
        self.count = count
        self.sent = 0
        self.outcomes = {}
        self.received = set()
        self.on_progress = on_progress
        self.done = False

    def progress(self):
        states = {}
        for s in self.outcomes.values():
            states[s] = states.get(s, 0) + 1
        return "(sent %d, outcomes %s, received %d)" % (self.sent, states, len(self.received))

    def on_start(self, event):
        self.rconn = event.container.connect(self.receive_url)
        event.container.create_receiver(self.rconn, ADDRESS)
        self.sconn = event.container.connect(self.send_url)
        self.sender = event.container.create_sender(self.sconn, ADDRESS)

    def on_sendable(self, event):
        while self.sender.credit > 0 and self.sent < self.count:
            self.sender.send(Message(id=self.sent, body="m%d" % self.sent))
            self.sent += 1

    def on_message(self, event):
        self.received.add(event.message.id)
        self.check_done()

    def on_settled(self, event):
        state = event.delivery.remote_state
        self.outcomes[event.delivery.tag] = {
            event.delivery.ACCEPTED: "accepted", event.delivery.RELEASED: "released",
            event.delivery.MODIFIED: "modified", event.delivery.REJECTED: "rejected"}.get(
                state, str(state))
        if self.on_progress:
            self.on_progress(self)
        self.check_done()

    def check_done(self):
        if self.done or len(self.outcomes) < self.count:
            return
        if sum(1 for s in self.outcomes.values() if s == "accepted") > len(self.received):
            return  # an accepted message must have arrived; wait for it
        self.done = True
        self.rconn.close()
        self.sconn.close()


def until_accepted(send_url, receive_url, count, what, attempts=60):
    """Traffic batches until one is accepted whole. While routes change (a router died, a
    receiver came back) a sender may see its messages released — never lost; it sends again."""
    for attempt in range(attempts):
        t = harness.run_container(Traffic(send_url, receive_url, count), 120, what)
        accepted = sum(1 for s in t.outcomes.values() if s == "accepted")
        harness.check(accepted <= len(t.received), "%s: accepted but lost %s" % (what, t.progress()))
        if accepted == count:
            return t
        harness.log("%s, attempt %d: %s" % (what, attempt, t.progress()))
        time.sleep(0.5)
    harness.fail("%s: no batch fully accepted %s" % (what, t.progress()))


def management_nodes(router):
    conn = BlockingConnection(router.url(), timeout=harness.deadline(20))
    try:
        replies = conn.create_receiver(None, dynamic=True)
        conn.create_sender("$management").send(Message(
            reply_to=replies.link.remote_source.address, correlation_id=1,
            properties={"operation": "QUERY", "type": "org.amqp.management",
                        "entityType": "org.apache.qpid.dispatch.router.node"},
            body={"attributeNames": ["id", "nextHop", "cost"]}))
        reply = replies.receive(timeout=harness.deadline(20))
        return [dict(zip(reply.body["attributeNames"], r)) for r in reply.body["results"]]
    finally:
        conn.close()


class Service(MessagingHandler):
    """Answers every request on `address` to its reply-to, through an anonymous sender."""

    def __init__(self, url, address, ready):
        super().__init__()
        self.url, self.address, self.ready = url, address, ready
        self.answered = 0

    def on_start(self, event):
        self.conn = event.container.connect(self.url)
        event.container.create_receiver(self.conn, self.address)
        self.replies = event.container.create_sender(self.conn, None)

    def on_link_opened(self, event):
        if event.receiver:
            self.ready.set()

    def on_message(self, event):
        m = event.message
        self.replies.send(Message(address=m.reply_to, correlation_id=m.correlation_id,
                                  body="re:" + m.body))
        self.answered += 1
        if event.message.body == "stop":
            self.conn.close()


class Client(MessagingHandler):
    """One request from a brand-new dynamic reply address, sent as soon as it exists."""

    def __init__(self, url, address, n):
        super().__init__()
        self.url, self.address, self.n = url, address, n
        self.reply = None

    def on_start(self, event):
        self.conn = event.container.connect(self.url)
        self.receiver = event.container.create_receiver(self.conn, None, dynamic=True)
        self.sender = event.container.create_sender(self.conn, self.address)

    def on_sendable(self, event):
        if self.receiver.remote_source.address and self.sender.credit and not self.n.get("sent"):
            self.n["sent"] = True
            self.sender.send(Message(reply_to=self.receiver.remote_source.address,
                                     correlation_id=self.n["i"], body=self.n["body"]))

    def on_link_opened(self, event):
        if event.receiver == self.receiver:
            self.on_sendable(event)

    def on_message(self, event):
        self.reply = event.message.body
        self.conn.close()

    def on_released(self, event):
        self.reply = "RELEASED"
        self.conn.close()

    def progress(self):
        return "reply %r" % (self.reply,)


def request_response(args, a, c):
    import threading
    ready = threading.Event()
    service = Service(c.url(), "svc.rr", ready)
    t = threading.Thread(target=lambda: harness.run_container(service, 120, "service on C"))
    t.start()
    harness.check(ready.wait(harness.deadline(30)), "the service on C did not attach")
    until_accepted(a.url(), c.url(), 1, "A reaches C")  # the line is routed
    for i in range(20):
        body = "stop" if i == 19 else "req-%d" % i
        client = Client(a.url(), "svc.rr", {"i": i, "body": body})
        harness.run_container(client, 60, "request %d across A-B-C" % i)
        harness.check(client.reply == "re:" + body,
                      "request %d: reply %r (a reply to a fresh address was lost)" %
                      (i, client.reply))
    t.join(harness.deadline(60))
    harness.log("20 requests from fresh reply addresses on A answered from C")


def line(args):
    a = interior(args, "A")
    b = interior(args, "B", [(a, 1)])
    c = interior(args, "C", [(b, 1)])
    t = harness.run_container(Traffic(a.url(), c.url(), 300), 120, "line A-B-C traffic")
    accepted = sum(1 for s in t.outcomes.values() if s == "accepted")
    harness.check(accepted == 300 and len(t.received) == 300,
                  "line: all 300 accepted and received %s" % t.progress())
    nodes = {n["id"]: n for n in management_nodes(a)}
    harness.check(set(nodes) == {"B", "C"}, "router.node on A: %s" % nodes)
    harness.check(nodes["C"]["nextHop"] == "B" and nodes["C"]["cost"] == 2,
                  "A reaches C through B at cost 2: %s" % nodes["C"])
    request_response(args, a, c)
    # A quiet mesh keeps its routes: a router two hops away hears the other end's periodic
    # refresh only through B, and forgets a router it has not heard of for 15 s.
    time.sleep(20)
    for here, there in ((a, "C"), (c, "A")):
        nodes = {n["id"]: n for n in management_nodes(here)}
        harness.check(there in nodes, "after 20 quiet seconds %s no longer knows %s: %s" %
                      (here.router_id, there, sorted(nodes)))
        harness.check("forgotten" not in here.log(),
                      "%s forgot a router of a quiet mesh" % here.router_id)
    for r in (c, b, a):
        r.stop()


def ring(args):
    a = interior(args, "A")
    b = interior(args, "B", [(a, 1)])
    c = interior(args, "C", [(b, 1)])
    d = interior(args, "D", [(c, 5), (a, 5)])  # the long way round: used once B is gone
    killed = {"at": None}

    def kill_b_midway(t):
        if killed["at"] is None and len(t.outcomes) >= 200:
            killed["at"] = len(t.outcomes)
            b.proc.send_signal(signal.SIGKILL)
            harness.log("killed B after %d outcomes" % len(t.outcomes))

    t = harness.run_container(Traffic(a.url(), c.url(), 2000, kill_b_midway), 240,
                              "ring traffic across the loss of B")
    b.wait()
    harness.check(killed["at"] is not None, "B was never killed %s" % t.progress())
    harness.check(len(t.outcomes) == 2000, "an outcome for every message %s" % t.progress())
    accepted = [tag for tag, s in t.outcomes.items() if s == "accepted"]
    harness.check(len(accepted) <= len(t.received),
                  "every accepted message arrived %s" % t.progress())
    bad = [s for s in t.outcomes.values() if s not in ("accepted", "released", "modified")]
    harness.check(not bad, "unexpected outcomes %s" % bad[:5])
    # After the loss, traffic flows A - D - C.
    until_accepted(a.url(), c.url(), 200, "traffic after B died")
    nodes = {n["id"]: n for n in management_nodes(a)}
    harness.check(nodes.get("C", {}).get("nextHop") == "D", "A reaches C through D: %s" % nodes)
    for r in (d, c, a):
        r.stop()


def test(args):
    line(args)
    ring(args)


if __name__ == "__main__":
    harness.main(test)
