#!/usr/bin/python3
"""fogmesh quickstart demo: drives a running fogmesh-router with Qpid Proton clients and prints
what happened at each step. Usage: demo.py HOST:PORT"""
import sys
import time

from proton import Message
from proton.utils import BlockingConnection


def step(title):
    print(f"\n== {title}")


def main(url):
    conn = BlockingConnection(url, timeout=10)

    step("anycast (closest): one sender, one receiver, 5 messages")
    rx = conn.create_receiver("closest.orders", credit=10)
    tx = conn.create_sender("closest.orders")
    conn.wait(lambda: tx.link.credit > 0, timeout=5, msg="credit from the router")
    deliveries = [tx.link.send(Message(body=f"order {i}")) for i in range(5)]  # no wait
    for _ in range(5):
        m = rx.receive(timeout=5)
        rx.accept()
        print(f"   receiver got: {m.body!r}")
    conn.wait(lambda: all(d.settled for d in deliveries), timeout=5, msg="outcomes")
    states = {d.remote_state for d in deliveries}
    print(f"   sender saw the receiver's outcome end to end: {states}")

    step("multicast: two receivers each get a copy")
    a = conn.create_receiver("multicast.news", credit=10, name="news-A")
    b = conn.create_receiver("multicast.news", credit=10, name="news-B")
    time.sleep(0.2)
    conn.create_sender("multicast.news").send(Message(body="breaking news"))  # router accepts
    for name, r in (("A", a), ("B", b)):
        m = r.receive(timeout=5)  # multicast copies arrive pre-settled: nothing to accept
        print(f"   receiver {name} got: {m.body!r}")

    step("request/response through a dynamic reply-to address")
    service = conn.create_receiver("closest.echo", credit=10)
    replies = conn.create_receiver(None, dynamic=True, credit=10)
    reply_to = replies.link.remote_source.address
    print(f"   router assigned the reply address {reply_to}")
    requester = conn.create_sender("closest.echo")
    conn.wait(lambda: requester.link.credit > 0, timeout=5, msg="credit from the router")
    requester.link.send(Message(body="ping", reply_to=reply_to))
    request = service.receive(timeout=5)
    service.accept()
    responder = conn.create_sender(None)  # anonymous sender: routed by each message's `to`
    conn.wait(lambda: responder.link.credit > 0, timeout=5, msg="credit from the router")
    answer = responder.link.send(Message(address=request.reply_to, body=request.body.replace("i", "o")))
    print(f"   service answered, client got: {replies.receive(timeout=5).body!r}")
    replies.accept()
    conn.wait(lambda: answer.settled, timeout=5, msg="outcome of the answer")

    step("no receiver: a message to an unknown address on an anonymous link is released")
    try:
        responder.send(Message(address="closest.nobody", body="hello?"))
        print("   unexpected: accepted")
    except Exception as e:  # proton.utils.SendException carries the outcome
        print(f"   sender was told: {type(e).__name__} {e}")

    conn.close()
    print("\ndemo finished")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:5672")
