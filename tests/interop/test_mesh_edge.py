#!/usr/bin/python3
"""Edge routers: E1 - I1 - I2 - E2, the shape of ioFog's agents around interior routers.

1. A receiver on E2 and a sender on E1: 300 unsettled messages cross edge -> interior ->
   interior -> edge and are accepted end to end. (The sender gets credit only once the address
   has reached E1's interior, as with qdrouterd.)
2. An anonymous sender on E1 (per-message `to`) reaches the receiver on E2 through E1's uplink.
3. Failover: E1's connector lists I2's edge listener in failoverUrls; I1 is killed with SIGKILL;
   E1 reattaches to I2 and new traffic from E1 reaches E2 again (the test waits for it; it
   never asserts timing).
4. Failover learned from the open frame: I3's edge listener advertises I4's edge listener
   (`failoverUrls`) in `failover-server-list`, as a Proton client sees it; E3 is configured
   with I3 only, and after I3 is killed it attaches to I4 and its traffic flows again.
"""
import signal

import harness
from proton import Message
from proton.handlers import MessagingHandler
from test_mesh import Traffic, until_accepted

ADDRESS = "mesh.q"


def interior(args, name, connect_to=None, advertise=None):
    extra = ""
    if connect_to is not None:
        extra = ("connector {\n    host: 127.0.0.1\n    port: %d\n    role: inter-router\n}\n"
                 % connect_to.ports[1])
    edge_listener = {"role": "edge"}
    if advertise is not None:
        edge_listener["failoverUrls"] = "amqp://127.0.0.1:%d" % advertise.ports[2]
    return harness.Router(args, router_id=name, mode="interior",
                          listeners=[{}, {"role": "inter-router"}, edge_listener],
                          extra=extra)


def edge(args, name, uplink, failover=None):
    extra = ("connector {\n    name: uplink\n    host: 127.0.0.1\n    port: %d\n    role: edge\n"
             % uplink.ports[2])
    if failover is not None:
        extra += "    failoverUrls: amqp://127.0.0.1:%d\n" % failover.ports[2]
    extra += "    retryDelaySeconds: 1\n}\n"
    return harness.Router(args, router_id=name, mode="edge", extra=extra)


class AnonymousSend(MessagingHandler):
    def __init__(self, send_url, receive_url, count):
        super().__init__()
        self.send_url, self.receive_url, self.count = send_url, receive_url, count
        self.sent = 0
        self.received = 0
        self.outcomes = []
        self.ready = False

    def progress(self):
        return "(sent %d, received %d, outcomes %s)" % (self.sent, self.received,
                                                         self.outcomes[-5:])

    def on_start(self, event):
        self.rconn = event.container.connect(self.receive_url)
        event.container.create_receiver(self.rconn, ADDRESS)
        self.sconn = event.container.connect(self.send_url)
        self.sender = event.container.create_sender(self.sconn, None)
        # The address needs a moment to reach E1's interior: resend what comes back released.
        event.container.schedule(0.5, self)

    def on_timer_task(self, event):
        self.pump()
        if self.received < self.count:
            event.container.schedule(0.5, self)

    def on_sendable(self, event):
        self.pump()

    def pump(self):
        while self.sender.credit > 0 and self.sent - self.released() < self.count:
            self.sender.send(Message(address=ADDRESS, body="anon"))
            self.sent += 1

    def released(self):
        return sum(1 for o in self.outcomes if o != "accepted")

    def on_settled(self, event):
        self.outcomes.append("accepted" if event.delivery.remote_state == event.delivery.ACCEPTED
                             else "other")

    def on_message(self, event):
        self.received += 1
        if self.received >= self.count:
            self.rconn.close()
            self.sconn.close()


def test(args):
    i1 = interior(args, "I1")
    i2 = interior(args, "I2", connect_to=i1)
    e1 = edge(args, "E1", i1, failover=i2)
    e2 = edge(args, "E2", i2)

    t = harness.run_container(Traffic(e1.url(), e2.url(), 300), 120, "edge to edge traffic")
    accepted = sum(1 for s in t.outcomes.values() if s == "accepted")
    harness.check(accepted == 300 and len(t.received) == 300,
                  "edge to edge: all accepted and received %s" % t.progress())

    a = harness.run_container(AnonymousSend(e1.url(), e2.url(), 50), 120, "anonymous via uplink")
    harness.check(a.received >= 50, "anonymous sender on E1 reached E2 %s" % a.progress())

    i1.proc.send_signal(signal.SIGKILL)
    i1.wait()
    # Until E1 has noticed the loss and reattached, its sender may see releases.
    until_accepted(e1.url(), e2.url(), 200, "traffic after failover")
    harness.check("attached to interior router 'I2'" in e1.log(),
                  "E1 did not log attaching to I2")
    for r in (e2, e1, i2):
        r.stop()
    learned_failover(args)


class OpenProperties(MessagingHandler):
    def __init__(self, url):
        super().__init__()
        self.url = url
        self.properties = None

    def on_start(self, event):
        event.container.connect(self.url)

    def on_connection_remote_open(self, event):
        self.properties = event.connection.remote_properties
        event.connection.close()


def learned_failover(args):
    i4 = interior(args, "I4")
    i3 = interior(args, "I3", connect_to=i4, advertise=i4)
    e3 = edge(args, "E3", i3)
    e4 = edge(args, "E4", i4)
    seen = harness.run_container(OpenProperties(i3.url(2)), 30, "open frame").properties
    listed = (seen or {}).get("failover-server-list")
    harness.check(listed and listed[0].get("network-host") == "127.0.0.1" and
                  str(listed[0].get("port")) == str(i4.ports[2]),
                  "I3's open frame lists I4's edge listener: %r" % (seen,))
    until_accepted(e3.url(), e4.url(), 100, "E3 to E4 through I3")
    i3.proc.send_signal(signal.SIGKILL)
    i3.wait()
    until_accepted(e3.url(), e4.url(), 100, "E3 to E4 after I3 died")
    harness.check("advertised 1 failover address" in e3.log(),
                  "E3 logs the failover address it learned")
    harness.check("attached to interior router 'I4'" in e3.log(),
                  "E3 attached to I4, which it only knew from I3's open frame")
    for r in (e4, e3, i4):
        r.stop()


if __name__ == "__main__":
    harness.main(test)
