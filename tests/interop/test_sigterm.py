#!/usr/bin/python3
"""Clean shutdown: SIGTERM while a client has unsettled deliveries in flight.

A receiver takes 5 messages and holds them unsettled (credit 5); the sender has sent 10
unsettled. On SIGTERM the router must close the connections (the sender sees an outcome,
released/modified, for every delivery, or an AMQP close — never a hang) and exit 0.
Also: SIGTERM with no clients exits 0, and SIGINT does too.
"""
import signal

import harness
from proton import Delivery, Message
from proton.handlers import MessagingHandler
from proton.reactor import AtLeastOnce


class InFlight(MessagingHandler):
    def __init__(self, router):
        super().__init__(prefetch=0, auto_accept=False)
        self.router = router
        self.received = 0
        self.sent = 0
        self.outcomes = {}
        self.closed = set()
        self.signalled = False

    def progress(self):
        return "(sent %d, received %d, outcomes %s, closed %s, signalled %s)" % (
            self.sent, self.received, self.outcomes, sorted(self.closed), self.signalled)

    def on_start(self, event):
        c = event.container
        self.rconn = c.connect(self.router.url())
        self.sconn = c.connect(self.router.url())
        r = c.create_receiver(self.rconn, "term.q")
        r.flow(5)
        c.create_sender(self.sconn, "term.q", options=AtLeastOnce())

    def on_sendable(self, event):
        while event.sender.credit > 0 and self.sent < 10:
            event.sender.send(Message(body=self.sent))
            self.sent += 1

    def on_message(self, event):
        self.received += 1
        if self.received == 5 and not self.signalled:
            self.signalled = True
            harness.log("SIGTERM with 5 unsettled at the receiver, %d sent" % self.sent)
            self.router.signal(signal.SIGTERM)

    def on_released(self, event):
        self.outcomes[event.delivery.tag] = (
            "modified" if event.delivery.remote_state == Delivery.MODIFIED else "released")

    def on_accepted(self, event):
        self.outcomes[event.delivery.tag] = "accepted"

    def _gone(self, event, how):
        name = "receiver" if event.connection == self.rconn else "sender"
        self.closed.add("%s:%s" % (name, how))

    def on_connection_remote_close(self, event):
        self._gone(event, "close")
        event.connection.close()

    def on_transport_closed(self, event):
        self._gone(event, "transport")


def test(args):
    router = harness.Router(args)
    h = harness.run_container(InFlight(router), 60, "sigterm with unsettled deliveries")
    harness.log(h.progress())
    harness.check(h.signalled, "receiver never got 5 messages")
    code = router.wait(30)
    harness.check(code == 0, "router exit code after SIGTERM: %s" % code)
    harness.check("sender:close" in h.closed or len(h.outcomes) == h.sent,
                  "sender saw neither an AMQP close nor an outcome for every delivery")
    harness.check(all(v in ("released", "modified") for v in h.outcomes.values()),
                  "unexpected outcomes %s" % h.outcomes)

    for sig in (signal.SIGTERM, signal.SIGINT):
        r = harness.Router(args)
        r.signal(sig)
        code = r.wait(30)
        harness.check(code == 0, "idle router exit code after %s: %s" % (sig.name, code))


if __name__ == "__main__":
    harness.main(test)
