#!/usr/bin/python3
"""Self-test of broker.py (the test broker used by link-route/auto-link tests), without the
router: Proton clients send 10 messages to queue.a (all `accepted`), two receivers share them,
a released delivery goes back to the queue. Keeps broker.py honest so a link-route failure
points at the router. (--router is accepted and unused.)
"""

import harness
from proton import Message
from proton.reactor import AtLeastOnce
from proton.utils import BlockingConnection

def test(args):
    broker = harness.Broker()
    url = broker.url()
    conn = BlockingConnection(url, timeout=harness.deadline(20))
    try:
        snd = conn.create_sender("queue.a", options=AtLeastOnce())
        for i in range(10):
            snd.send(Message(body=i))  # blocks until settled: the broker accepted it
        r1 = conn.create_receiver("queue.a", credit=1)
        first = r1.receive(timeout=harness.deadline(10))
        r1.release()  # back to the queue
        r1.close()
        r2 = conn.create_receiver("queue.a", credit=10)
        got = []
        for _ in range(10):
            got.append(r2.receive(timeout=harness.deadline(10)).body)
            r2.accept()
        harness.check(first.body == 0 and sorted(got) == list(range(10)),
                      "first %s, then %s" % (first.body, got))
    finally:
        conn.close()
    harness.check(broker.stop() == 0, "broker exit code")


if __name__ == "__main__":
    harness.main(test)
