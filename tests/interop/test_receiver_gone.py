#!/usr/bin/python3
"""A receiver that goes away with unsettled deliveries: the sender must get an outcome for
every delivery, never silence (qdrouterd: `modified` for deliveries sent to the receiver but not
settled, `released` for deliveries never sent to anyone).

1. link detach: the receiver grants 10 credits, gets 10 of the sender's 20 unsettled messages,
   does not settle them, and detaches its link.
2. abrupt disconnect: a child process receives 10 without settling and exits (socket closed by
   the kernel, no AMQP close).
"""
import os
import subprocess
import sys

import harness
from proton import Delivery, Message
from proton.handlers import MessagingHandler
from proton.reactor import AtLeastOnce

COUNT = 20


class Outcomes(MessagingHandler):
    """Sends COUNT unsettled messages on `address`; records each delivery's outcome by body."""

    def __init__(self, url, address, in_process_receiver):
        super().__init__(prefetch=0, auto_accept=False)
        self.url, self.address = url, address
        self.in_process = in_process_receiver
        self.outcome = {}
        self.received = []
        self.sent = 0

    def progress(self):
        return "(sent %d, receiver got %s, outcomes %s)" % (self.sent, self.received,
                                                            sorted(self.outcome.items()))

    def on_start(self, event):
        self.conn = event.container.connect(self.url)
        if self.in_process:
            self.receiver = event.container.create_receiver(self.conn, self.address, name="rcv")
            self.receiver.flow(10)
        self.sender = event.container.create_sender(self.conn, self.address, name="snd",
                                                    options=AtLeastOnce())

    def on_sendable(self, event):
        while event.sender.credit > 0 and self.sent < COUNT:
            d = event.sender.send(Message(body=self.sent))
            d.body = self.sent
            self.outcome[self.sent] = None
            self.sent += 1

    def on_message(self, event):
        self.received.append(event.message.body)
        if len(self.received) == 10:
            self.receiver.close()  # detach with 10 unsettled deliveries

    def _record(self, event, what):
        self.outcome[event.delivery.body] = what
        if self.sent == COUNT and all(v is not None for v in self.outcome.values()):
            self.conn.close()

    def on_accepted(self, event):
        self._record(event, "accepted")

    def on_released(self, event):
        # Proton's MessagingHandler reports both released and modified as on_released.
        self._record(event, "modified" if event.delivery.remote_state == Delivery.MODIFIED
                     else "released")

    def on_modified(self, event):
        self._record(event, "modified")

    def on_rejected(self, event):
        self._record(event, "rejected")


CHILD = r"""
import os, sys
from proton.utils import BlockingConnection
conn = BlockingConnection(sys.argv[1], timeout=60)
rcv = conn.create_receiver(sys.argv[2], credit=10)
print("attached", flush=True)
got = []
while len(got) < 10:
    got.append(rcv.receive(timeout=60).body)
print("received", " ".join(map(str, got)), flush=True)
os._exit(0)   # no settle, no detach, no close: the kernel closes the socket
"""


def check_outcomes(h, received, what):
    harness.log("%s: %s" % (what, h.progress()))
    harness.check(len(h.outcome) == COUNT and all(h.outcome.values()),
                  "%s: deliveries without an outcome: %s" % (what, h.progress()))
    for body, outcome in h.outcome.items():
        if body in received:
            harness.check(outcome == "modified",
                          "%s: delivery %s was sent to the receiver and not settled: expected "
                          "modified, got %s" % (what, body, outcome))
        else:
            harness.check(outcome in ("released", "modified"),
                          "%s: delivery %s never reached a receiver: expected released, got %s"
                          % (what, body, outcome))


def test(args):
    with harness.Router(args) as router:
        h = harness.run_container(Outcomes(router.url(), "gone.detach", True), 30, "detach")
        check_outcomes(h, set(h.received), "link detach")
        harness.check(len(h.received) == 10, "receiver got %s" % h.received)

        child = subprocess.Popen([sys.executable, "-c", CHILD, router.url(), "gone.disconnect"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            line = child.stdout.readline()
            harness.check(line.startswith("attached"), "child receiver: %r" % line)
            h = Outcomes(router.url(), "gone.disconnect", False)
            h = harness.run_container(h, 60, "disconnect")
            out = child.communicate(timeout=harness.deadline(30))[0]
            harness.log("child: %s" % out.strip())
            received = set()
            for l in out.splitlines():
                if l.startswith("received"):
                    received = {int(x) for x in l.split()[1:]}
            harness.check(len(received) == 10, "child receiver did not get 10: %r" % out)
            check_outcomes(h, received, "disconnect")
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()


if __name__ == "__main__":
    harness.main(test)
