#!/usr/bin/python3
"""Link routes and auto-links across routers.

Topology: edge E -> interior A - B - C, and the test broker (broker.py) connected to C only:

    C:  connector {name: broker, role: route-container}
        linkRoute {prefix: queue, direction: in|out, connection: broker}
        autoLink {address: wp.q, direction: in|out, connection: broker}
    A, B, E: the same linkRoute entities with no connection (so the link route is reached
        through the mesh), and `address {prefix: wp, waypoint: yes}` everywhere.

1. A sender on A to `queue.lr`, with no receiver anywhere: its attach travels A -> B -> C ->
   broker; it gets the broker's credit and `accepted` for 10 messages (a mobile address would
   give no credit without a receiver). Two clients on A whose links have the same name both
   get through (each hop names the second one apart).
2. A receiver on the edge E from `queue.lr` gets the 10 messages in order (E -> A -> B -> C);
   a receiver's selector filter and durability reach the broker.
3. An address outside the prefix is routed normally (no credit without a receiver).
4. Auto-links at C serve senders and receivers on A: 5 messages sent on A to `wp.q` go into
   the broker's queue (phase 0 across the mesh), and a receiver on A gets them back from it
   (phase 1 across the mesh).
5. The broker goes away: the routed receiver on A is detached with an error (never left
   hanging), and a new link-routed attach on A is refused with qd:no-route-to-dest once C has
   withdrawn the route.
"""
import re
import time

import harness
from proton import Message
from proton.reactor import DurableSubscription, Selector
from proton.utils import BlockingConnection, LinkDetached

LINK_ROUTES = """
linkRoute {
    prefix: queue
    direction: in%(conn)s
}
linkRoute {
    prefix: queue
    direction: out%(conn)s
}
"""
WAYPOINT = [{"prefix": "wp", "waypoint": "yes"}]


def interior(args, name, connect_to=None, extra=None):
    """extra: the router's route-container, link route and auto-link entities (default: the
    link routes with no connection, reached through the mesh)."""
    if extra is None:
        extra = LINK_ROUTES % {"conn": ""}
    if connect_to is not None:
        extra += ("connector {\n    host: 127.0.0.1\n    port: %d\n    role: inter-router\n}\n"
                  % connect_to.ports[1])
    return harness.Router(args, router_id=name, mode="interior", addresses=WAYPOINT,
                          listeners=[{}, {"role": "inter-router"}, {"role": "edge"}],
                          extra=extra)


def wait_for_route(url, address, what):
    """Retries a link-routed attach until the route has propagated (MAU); returns the count of
    refusals seen. Never asserts timing: the deadline only bounds a broken router."""
    end = time.monotonic() + harness.deadline(20)
    refusals = 0
    while True:
        conn = BlockingConnection(url, timeout=harness.deadline(10))
        try:
            conn.create_sender(address)
            return refusals
        except LinkDetached:
            refusals += 1
            if time.monotonic() > end:
                harness.fail("%s: link-routed attach still refused after %d tries" %
                             (what, refusals))
            time.sleep(0.2)
        finally:
            conn.close()


def test(args):
    broker = harness.Broker()
    c_extra = broker.connector() + """
autoLink {
    address: wp.q
    direction: in
    connection: broker
}
autoLink {
    address: wp.q
    direction: out
    connection: broker
}
""" + LINK_ROUTES % {"conn": "\n    connection: broker"}
    c = interior(args, "C", extra=c_extra)
    b = interior(args, "B", connect_to=c)
    a = interior(args, "A", connect_to=b)
    e = harness.Router(args, router_id="E", mode="edge", addresses=WAYPOINT,
                       extra=("connector {\n    name: uplink\n    host: 127.0.0.1\n    port: %d\n"
                              "    role: edge\n    retryDelaySeconds: 1\n}\n" % a.ports[2])
                       + LINK_ROUTES % {"conn": ""})

    # 1. Sender on A: the broker's credit and outcomes, three routers away.
    refusals = wait_for_route(a.url(), "queue.lr", "A")
    harness.log("link route reachable from A (%d refusal(s) while it propagated)" % refusals)
    conn = BlockingConnection(a.url(), timeout=harness.deadline(20))
    try:
        snd = conn.create_sender("queue.lr")
        for i in range(10):
            snd.send(Message(body=i))  # blocks until settled; raises unless accepted
    finally:
        conn.close()
    harness.check("attach receiver queue.lr" in broker.log(),
                  "broker never saw the proxied attach:\n%s" % broker.log())
    harness.check(broker.log().count("stored queue.lr") >= 10,
                  "broker did not store 10 messages:\n%s" % broker.log())

    # Two clients on A that name their links alike: both routed links share the A - B, B - C
    # and C - broker connections, where each needs a name of its own.
    clients = [BlockingConnection(a.url(), timeout=harness.deadline(20)) for _ in range(2)]
    try:
        senders = [client.create_sender("queue.same", name="same-name") for client in clients]
        for i, snd in enumerate(senders):
            snd.send(Message(body="same-%d" % i))
    finally:
        for client in clients:
            client.close()
    harness.check(broker.log().count("stored queue.same") == 2,
                  "two links with one name: the broker stored %d messages:\n%s" %
                  (broker.log().count("stored queue.same"), broker.log()))

    # 2. Receiver on the edge E.
    wait_for_route(e.url(), "queue.lr.probe", "E")
    conn = BlockingConnection(e.url(), timeout=harness.deadline(20))
    try:
        got = harness.receive_bodies(conn, "queue.lr", 10)
        harness.check(got == list(range(10)), "received on E: %s" % got)

        # The receiver's source goes to the broker unchanged: its filter and durability.
        filtered = conn.create_receiver("queue.filtered", credit=1,
                                        options=[Selector("color = 'red'"), DurableSubscription()])
        harness.check(re.search(r"attach sender queue.filtered name=\S+ filter=selector durable=2",
                                broker.log()) is not None,
                      "the broker did not get the receiver's filter and durability:\n%s" %
                      broker.log())
        filtered.close()

        # 3. Outside the prefix: a mobile address, no credit with no receiver.
        other = conn.create_sender("notqueue.x")
        harness.check(other.link.credit == 0,
                      "sender outside the link-route prefix got credit with no receiver")
    finally:
        conn.close()

    # 4. Auto-links on C, used from A.
    conn = BlockingConnection(a.url(), timeout=harness.deadline(20))
    try:
        snd = conn.create_sender("wp.q")
        # The sender gets credit once C's auto-link (a consumer of phase 0) has reached A.
        conn.wait(lambda: snd.link.credit > 0, timeout=harness.deadline(20),
                  msg="no credit on A for the waypoint wp.q")
        for i in range(5):
            snd.send(Message(body="wp-%d" % i))
        got = harness.receive_bodies(conn, "wp.q", 5, timeout=15)
        harness.check(sorted(got) == ["wp-%d" % i for i in range(5)],
                      "received from the waypoint on A: %s" % got)
    finally:
        conn.close()
    harness.check(broker.log().count("stored wp.q") >= 5,
                  "the broker's queue wp.q never saw the messages:\n%s" % broker.log())

    # 5. The broker goes away.
    conn = BlockingConnection(a.url(), timeout=harness.deadline(20))
    try:
        rcv = conn.create_receiver("queue.gone", credit=1)
        broker.stop()
        detached = False
        try:
            rcv.receive(timeout=harness.deadline(15))
        except LinkDetached as ex:
            detached = True
            harness.log("routed receiver detached: %s" % ex)
        harness.check(detached, "the routed receiver on A was not detached when the broker left")
    finally:
        conn.close()
    end = time.monotonic() + harness.deadline(20)
    refused = None
    while time.monotonic() < end and refused is None:
        conn = BlockingConnection(a.url(), timeout=harness.deadline(10))
        try:
            conn.create_sender("queue.after")
            time.sleep(0.2)  # C has not withdrawn the route yet: its container refuses later
        except LinkDetached as ex:
            if "no-route-to-dest" in str(ex) or "no route" in str(ex):
                refused = str(ex)
        finally:
            conn.close()
    harness.check(refused is not None, "attach on A not refused after the broker left")
    for r in (e, a, b, c):
        r.stop()


if __name__ == "__main__":
    harness.main(test)
