#!/usr/bin/python3
"""Address distribution: closest, balanced, multicast (qdrouterd semantics).

- closest: 3 receivers on one address, 300 unsettled messages: each delivered exactly once,
  all `accepted`, and spread over the receivers (equal-cost ties are spread).
- balanced: 2 receivers that hold their deliveries unsettled until all 200 have arrived: the
  router must pick the receiver with fewer unsettled deliveries, so both get a share.
- multicast: 3 receivers, unsettled sender: every receiver gets every message, the sender gets
  `accepted` for each (qdrouterd 1.19 semantics); then the same pre-settled.
- default distribution (no address entity) is balanced: anycast, each message exactly once.
"""
import harness
from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import AtMostOnce, AtLeastOnce

ADDRESSES = [{"prefix": "closest", "distribution": "closest"},
             {"prefix": "balanced", "distribution": "balanced"},
             {"prefix": "multi", "distribution": "multicast"}]


class Fanout(MessagingHandler):
    """n receivers on `address`, then one sender sending `count` messages once all attached."""

    def __init__(self, url, address, receivers, count, presettled=False, hold=False,
                 expect_copies=1):
        # Credit for every message: pre-settled multicast copies may be dropped when a receiver
        # backs up (qdrouterd), which this test does not exercise.
        super().__init__(prefetch=0 if hold else count + 10, auto_accept=not hold)
        self.url, self.address, self.n, self.count = url, address, receivers, count
        self.presettled, self.hold = presettled, hold
        self.expected_total = count * expect_copies
        self.per_receiver = {}
        self.seen = {}
        self.held = []
        self.sent = self.accepted = self.other = self.total = 0
        self.opened = 0
        self.done = False

    def progress(self):
        return "(sent %d, received %d %s, accepted %d, other outcomes %d)" % (
            self.sent, self.total, sorted(self.per_receiver.values()), self.accepted, self.other)

    def on_start(self, event):
        self.conn = event.container.connect(self.url)
        self.receivers = []
        for i in range(self.n):
            r = event.container.create_receiver(self.conn, self.address, name="rcv-%d" % i)
            if self.hold:
                r.flow(self.count)  # enough credit for everything: only unsettled count differs
            self.receivers.append(r)
            self.per_receiver[r.name] = 0

    def on_link_opened(self, event):
        if event.receiver is not None:
            self.opened += 1
            if self.opened == self.n:
                opts = AtMostOnce() if self.presettled else AtLeastOnce()
                self.sender = event.container.create_sender(self.conn, self.address,
                                                            name="snd", options=opts)

    def on_sendable(self, event):
        while event.sender.credit > 0 and self.sent < self.count:
            event.sender.send(Message(body=self.sent))
            self.sent += 1

    def on_message(self, event):
        name = event.receiver.name
        self.per_receiver[name] += 1
        self.seen.setdefault(event.message.body, []).append(name)
        self.total += 1
        if self.hold:
            self.held.append(event.delivery)
            if self.total == self.expected_total:
                for d in self.held:
                    self.accept(d)
        self.maybe_done()

    def on_accepted(self, event):
        self.accepted += 1
        self.maybe_done()

    def on_released(self, event):
        self.other += 1

    def on_rejected(self, event):
        self.other += 1

    def on_modified(self, event):
        self.other += 1

    def maybe_done(self):
        if self.total >= self.expected_total and (self.presettled or self.accepted == self.count):
            self.done = True
            self.conn.close()


def run(router, address, receivers, count, **kw):
    h = harness.run_container(Fanout(router.url(), address, receivers, count, **kw), 60,
                              "%s: %d receivers, %d messages" % (address, receivers, count))
    harness.log("%s: %s" % (address, h.progress()))
    return h


def check_anycast(h, count):
    dup = [b for b, who in h.seen.items() if len(who) != 1]
    harness.check(len(h.seen) == count and not dup,
                  "anycast: %d distinct of %d, duplicated: %s" % (len(h.seen), count, dup[:10]))
    harness.check(h.accepted == count and h.other == 0, "outcomes: %s" % h.progress())


def test(args):
    with harness.Router(args, addresses=ADDRESSES) as router:
        # closest
        h = run(router, "closest.q", 3, 300)
        check_anycast(h, 300)
        busy = [n for n, c in h.per_receiver.items() if c > 0]
        harness.check(len(busy) == 3, "closest: equal-cost receivers not spread: %s"
                      % h.per_receiver)

        # balanced: receivers hold deliveries unsettled, so unsettled counts decide.
        h = run(router, "balanced.q", 2, 200, hold=True)
        check_anycast(h, 200)
        counts = sorted(h.per_receiver.values())
        harness.check(counts[0] >= 50, "balanced: uneven split with unsettled deliveries: %s"
                      % h.per_receiver)

        # default distribution (balanced), no address entity
        h = run(router, "plain.q", 2, 100)
        check_anycast(h, 100)

        # multicast, unsettled sender: every receiver gets every message, sender gets accepted
        for presettled in (False, True):
            h = run(router, "multi.topic", 3, 200, presettled=presettled, expect_copies=3)
            for name, c in h.per_receiver.items():
                harness.check(c == 200, "multicast (presettled=%s): %s got %d of 200: %s"
                              % (presettled, name, c, h.progress()))
            for body, who in h.seen.items():
                harness.check(sorted(who) == ["rcv-0", "rcv-1", "rcv-2"],
                              "multicast: message %s went to %s" % (body, who))
            if not presettled:
                harness.check(h.accepted == 200 and h.other == 0,
                              "multicast unsettled outcomes: %s" % h.progress())


if __name__ == "__main__":
    harness.main(test)
