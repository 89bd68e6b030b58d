#!/usr/bin/python3
"""Request/response through a dynamic receiver.

Each client attaches a receiver with source dynamic=true: the router answers with a generated
address. The client sends 20 requests to `service.echo` with reply-to = that address; a server
(receiver on service.echo + anonymous sender) replies to each reply-to; the client gets every
reply, correlated by correlation-id. Two clients run at once and must each get only their own
replies (distinct dynamic addresses).
"""
import harness
from proton import Message
from proton.handlers import MessagingHandler

COUNT = 20
CLIENTS = ("c1", "c2")


class RequestResponse(MessagingHandler):
    def __init__(self, url):
        super().__init__()
        self.url = url
        self.served = 0
        self.reply_to = {}
        self.replies = {c: {} for c in CLIENTS}
        self.bad = []
        self.sent = set()

    def progress(self):
        return "(reply-to %s, replies %s, served %d, bad %s)" % (
            self.reply_to, {c: len(r) for c, r in self.replies.items()}, self.served,
            self.bad[:5])

    def on_start(self, event):
        c = event.container
        self.server = c.connect(self.url)
        c.create_receiver(self.server, "service.echo", name="server-in")
        self.server_out = c.create_sender(self.server, None, name="server-out")
        self.conns, self.senders = {}, {}
        for name in CLIENTS:
            conn = c.connect(self.url)
            self.conns[name] = conn
            c.create_receiver(conn, None, dynamic=True, name=name + "-replies")
            self.senders[name] = c.create_sender(conn, "service.echo", name=name + "-requests")

    def on_link_opened(self, event):
        if event.receiver is not None and event.receiver.name.endswith("-replies"):
            self.reply_to[event.receiver.name[:2]] = event.receiver.remote_source.address
            self.try_send()

    def on_sendable(self, event):
        self.try_send()

    def try_send(self):
        for name, snd in self.senders.items():
            if name in self.sent or not self.reply_to.get(name) or snd.credit <= 0:
                continue
            self.sent.add(name)
            for i in range(COUNT):
                cid = "%s-%d" % (name, i)
                snd.send(Message(reply_to=self.reply_to[name], correlation_id=cid, body=cid))

    def on_message(self, event):
        m = event.message
        if event.receiver.name == "server-in":
            self.server_out.send(Message(address=m.reply_to, correlation_id=m.correlation_id,
                                         body="echo:" + m.body))
            self.served += 1
            return
        client = event.receiver.name[:2]
        if m.body != "echo:%s" % m.correlation_id or not str(m.correlation_id).startswith(client):
            self.bad.append((client, m.correlation_id, m.body))
        self.replies[client][m.correlation_id] = m.body
        if all(len(r) == COUNT for r in self.replies.values()):
            for conn in self.conns.values():
                conn.close()
            self.server.close()


def test(args):
    with harness.Router(args) as router:
        h = harness.run_container(RequestResponse(router.url()), 30, "request/response")
        harness.log(h.progress())
        addrs = list(h.reply_to.values())
        harness.check(len(addrs) == 2 and all(addrs) and addrs[0] != addrs[1],
                      "dynamic addresses must be set and distinct: %s" % h.reply_to)
        for c in CLIENTS:
            harness.check(len(h.replies[c]) == COUNT and not h.bad, h.progress())


if __name__ == "__main__":
    harness.main(test)
