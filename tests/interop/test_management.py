#!/usr/bin/python3
"""AMQP management on $management, driven the way qdmanage/qdstat drive qdrouterd.

A Proton client sends requests (application properties operation/type/name, body) with a
dynamic reply-to and checks the replies: GET-TYPES / GET-ATTRIBUTES; QUERY of router,
connection, router.link, listener (rows gathered from every shard: the router runs with
workerThreads 2); READ by name; CREATE of a listener on port 0 that accepts AMQP clients at
once; CREATE of a connector to a second router that connects at once; CREATE of a multicast
address that takes effect for new addresses; DELETE of the listener (new connections refused);
and clear errors: unknown type 404, bad attribute 400 naming it, duplicate 400, READ of an
unknown name 404, UPDATE 501, run-time state 405.
"""
import socket
import time

import harness
from proton import Message
from proton.reactor import AtMostOnce
from proton.utils import BlockingConnection

PREFIX = "org.apache.qpid.dispatch."


class Management:
    def __init__(self, url):
        self.conn = BlockingConnection(url, timeout=harness.deadline(20))
        self.replies = self.conn.create_receiver(None, dynamic=True)
        self.reply_to = self.replies.link.remote_source.address
        self.sender = self.conn.create_sender("$management")
        self.next_id = 1

    def call(self, operation, type=None, name=None, body=None, **props):
        properties = {"operation": operation}
        if type is not None:
            properties["type"] = type if type.startswith("org.") else PREFIX + type
        if name is not None:
            properties["name"] = name
        properties.update(props)
        cid = self.next_id
        self.next_id += 1
        self.sender.send(Message(reply_to=self.reply_to, correlation_id=cid,
                                 properties=properties, body=body))
        reply = self.replies.receive(timeout=harness.deadline(20))
        harness.check(reply.correlation_id == cid,
                      "reply correlation-id %r, expected %r" % (reply.correlation_id, cid))
        return reply.properties["statusCode"], reply.properties["statusDescription"], reply.body

    def ok(self, operation, type=None, name=None, body=None, expect=(200,), **props):
        status, description, result = self.call(operation, type, name, body, **props)
        harness.check(status in expect, "%s %s: status %s %s" % (operation, type, status,
                                                                 description))
        return result

    def query(self, entity_type, attributes=()):
        result = self.ok("QUERY", "org.amqp.management",
                         body={"attributeNames": list(attributes)},
                         entityType=PREFIX + entity_type)
        names = result["attributeNames"]
        return [dict(zip(names, row)) for row in result["results"]]

    def close(self):
        self.conn.close()


def round_trip(url, address, body):
    conn = BlockingConnection(url, timeout=harness.deadline(20))
    try:
        receiver = conn.create_receiver(address)
        # Pre-settled: a blocking send would wait for the accept that only receive() gives.
        sender = conn.create_sender(address, options=AtMostOnce())
        sender.send(Message(body=body))
        got = receiver.receive(timeout=harness.deadline(20))
        return got.body
    finally:
        conn.close()


def connect_refused(port):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
        return False
    except ConnectionRefusedError:
        return True
    finally:
        s.close()


def wait_for(what, predicate, timeout=20):
    end = time.monotonic() + harness.deadline(timeout)
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    harness.fail("%s did not happen within %ss" % (what, timeout))


def test(args):
    with harness.Router(args, listeners=[{"name": "main"}]) as router, \
            harness.Router(args, router_id="peer-router") as peer:
        m = Management(router.url())

        types = m.ok("GET-TYPES")
        for t in ("listener", "connector", "router", "connection", "router.link",
                  "router.address", "router.config.address"):
            harness.check(PREFIX + t in types, "GET-TYPES lacks %s: %s" % (t, sorted(types)))
        attributes = m.ok("GET-ATTRIBUTES")
        harness.check("port" in attributes[PREFIX + "listener"],
                      "listener attributes: %s" % attributes[PREFIX + "listener"])

        rows = m.query("router", ["id", "mode", "connectionCount", "workerThreads"])
        harness.check(len(rows) == 1, "one router row, got %s" % rows)
        harness.check(rows[0]["id"] == router.router_id, "router id %s" % rows[0])
        harness.check(rows[0]["connectionCount"] >= 1, "connectionCount %s" % rows[0])

        conns = m.query("connection", ["identity", "host", "role", "dir", "container"])
        harness.check(any(c["container"] == m.conn.conn.container for c in conns),
                      "our connection is not listed: %s" % conns)
        links = m.query("router.link", ["linkDir", "owningAddr", "linkName"])
        harness.check(any(l["owningAddr"] == "M0$management" and l["linkDir"] == "in"
                          for l in links), "our $management sender is not listed: %s" % links)

        listeners = m.query("listener", ["name", "host", "port"])
        harness.check([l["name"] for l in listeners] == ["main"], "listeners %s" % listeners)
        main = m.ok("READ", "listener", name="main")
        harness.check(main["host"] == "127.0.0.1", "READ listener: %s" % main)

        # CREATE a listener: it accepts clients at once.
        created = m.ok("CREATE", "listener", name="extra", expect=(201,),
                       body={"host": "127.0.0.1", "port": "0", "saslMechanisms": "ANONYMOUS"})
        port = int(created["port"])
        harness.check(port > 0, "created listener reports port %s" % created)
        got = round_trip("amqp://127.0.0.1:%d" % port, "via.extra", "hello")
        harness.check(got == "hello", "message through the created listener: %r" % got)

        # CREATE a connector to the peer router: the connection comes up at once.
        m.ok("CREATE", "connector", name="to-peer", expect=(201,),
             body={"host": "127.0.0.1", "port": str(peer.port), "role": "normal"})
        wait_for("connector connection to the peer", lambda: any(
            c["dir"] == "out" and c["container"] == "peer-router"
            for c in m.query("connection", ["dir", "container"])))

        # CREATE a multicast address: a new address under it fans out.
        m.ok("CREATE", "router.config.address", name="mc", expect=(201,),
             body={"prefix": "mc", "distribution": "multicast"})
        conn = BlockingConnection(router.url(), timeout=harness.deadline(20))
        r1 = conn.create_receiver("mc.news", name="r1")
        r2 = conn.create_receiver("mc.news", name="r2")
        conn.create_sender("mc.news", options=AtMostOnce()).send(Message(body="to all"))
        harness.check(r1.receive(timeout=harness.deadline(20)).body == "to all", "r1")
        harness.check(r2.receive(timeout=harness.deadline(20)).body == "to all", "r2")
        conn.close()

        # Errors a tool user can act on.
        status, description, _ = m.call("CREATE", "listener", name="bad",
                                        body={"host": "127.0.0.1", "port": "not-a-port"})
        harness.check(status == 400 and "port" in description, "bad port: %s %s"
                      % (status, description))
        status, description, _ = m.call("CREATE", "listener", name="extra",
                                        body={"host": "127.0.0.1", "port": "0"})
        harness.check(status == 400 and "already exists" in description,
                      "duplicate: %s %s" % (status, description))
        status, _, _ = m.call("READ", "listener", name="nope")
        harness.check(status == 404, "READ unknown: %s" % status)
        status, _, _ = m.call("QUERY", "org.amqp.management", entityType=PREFIX + "frobnicator")
        harness.check(status == 404, "unknown type: %s" % status)
        status, _, _ = m.call("UPDATE", "listener", name="main", body={"cost": 2})
        harness.check(status == 501, "UPDATE: %s" % status)
        status, _, _ = m.call("DELETE", "connection", name="1")
        harness.check(status == 405, "DELETE of a connection: %s" % status)

        # DELETE the created listener and connector.
        m.ok("DELETE", "listener", name="extra", expect=(204,))
        wait_for("the deleted listener to refuse connections", lambda: connect_refused(port))
        m.ok("DELETE", "connector", name="to-peer", expect=(204,))
        wait_for("the connector's connection to close", lambda: not any(
            c["dir"] == "out" for c in m.query("connection", ["dir"])))
        names = [l["name"] for l in m.query("listener", ["name"])]
        harness.check(names == ["main"], "listeners after DELETE: %s" % names)
        m.close()


if __name__ == "__main__":
    harness.main(test)
