#!/usr/bin/python3
"""Anonymous sender (attach with a null target address) routes each message by its `to`.

- `to` naming an address with a receiver: delivered there, sender gets `accepted`.
- messages for two different addresses on the same anonymous link go to the right receivers.
- `to` naming an address nobody consumes: the router releases the delivery (qdrouterd).
"""
import harness
from proton import Delivery, Message
from proton.handlers import MessagingHandler
from proton.reactor import AtLeastOnce


class Anonymous(MessagingHandler):
    def __init__(self, url):
        super().__init__(prefetch=50)
        self.url = url
        self.got = {"anon.a": [], "anon.b": []}
        self.outcomes = {}
        self.opened = 0
        self.sent = False

    def progress(self):
        return "(received %s, outcomes %s)" % (self.got, self.outcomes)

    def on_start(self, event):
        self.conn = event.container.connect(self.url)
        for a in self.got:
            event.container.create_receiver(self.conn, a, name=a)

    def on_link_opened(self, event):
        if event.receiver is not None:
            self.opened += 1
            if self.opened == len(self.got):
                # target=None: the anonymous relay
                self.sender = event.container.create_sender(self.conn, None,
                                                            options=AtLeastOnce())

    def on_sendable(self, event):
        if self.sent:
            return
        self.sent = True
        self.plan = [("anon.a", "a1"), ("anon.b", "b1"), ("anon.nobody", "n1"),
                     ("anon.a", "a2"), ("anon.b", "b2")]
        for to, body in self.plan:
            d = event.sender.send(Message(address=to, body=body))
            d.tag_body = body
            self.outcomes[body] = None

    def on_message(self, event):
        self.got[event.receiver.name].append(event.message.body)

    def _outcome(self, event, name):
        self.outcomes[event.delivery.tag_body] = name
        if all(v is not None for v in self.outcomes.values()):
            self.conn.close()

    def on_accepted(self, event):
        self._outcome(event, "accepted")

    def on_released(self, event):
        # Proton's MessagingHandler reports both released and modified as on_released.
        self._outcome(event, "modified" if event.delivery.remote_state == Delivery.MODIFIED
                      else "released")

    def on_rejected(self, event):
        self._outcome(event, "rejected")

    def on_modified(self, event):
        self._outcome(event, "modified")


def test(args):
    with harness.Router(args) as router:
        h = harness.run_container(Anonymous(router.url()), 30, "anonymous sender")
        harness.log(h.progress())
        harness.check(h.got["anon.a"] == ["a1", "a2"], "anon.a got %s" % h.got["anon.a"])
        harness.check(h.got["anon.b"] == ["b1", "b2"], "anon.b got %s" % h.got["anon.b"])
        for body in ("a1", "a2", "b1", "b2"):
            harness.check(h.outcomes[body] == "accepted", "%s: %s" % (body, h.outcomes))
        harness.check(h.outcomes["n1"] == "released",
                      "unknown `to` should be released, got %s" % h.outcomes["n1"])


if __name__ == "__main__":
    harness.main(test)
