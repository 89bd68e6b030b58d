#!/usr/bin/python3
"""Idle timeout (listener idleTimeoutSeconds: 1).

1. A raw client sends the AMQP header and an open (no idle-time-out of its own) and then goes
   silent: the router must close the connection (close frame with
   amqp:resource-limit-exceeded, then the socket) within a few seconds.
2. The router's open advertises an idle-time-out (so well-behaved peers know to heartbeat).
3. A Proton client with heartbeats enabled stays connected for 4 s of inactivity (it sends
   empty frames at half the router's advertised timeout) and can still send/receive.
4. The router heartbeats a peer that asks for it: a raw client that advertises idle-time-out
   1000 ms receives frames (empty heartbeats) while it keeps itself alive.
"""
import time

import harness
from proton import Message
from proton import Timeout
from proton.reactor import AtMostOnce
from proton.utils import BlockingConnection


def test(args):
    with harness.Router(args, listeners=[{"idleTimeoutSeconds": 1}]) as router:
        # 1 + 2: silent raw peer
        raw = harness.RawConnection(router.addr())
        try:
            opened = raw.handshake()
            idle = opened[4] if len(opened) > 4 else None
            harness.log("router open idle-time-out: %s ms" % idle)
            harness.check(idle is not None and 0 < int(idle) <= 1000,
                          "router open should advertise idle-time-out <= 1000 ms, got %s" % idle)
            result = raw.wait_close(15)
            harness.log("silent peer: %s" % (result,))
            harness.check(result != "timeout", "router did not close a silent peer within 15 s")
            if isinstance(result, dict):
                harness.check(result["condition"] == "amqp:resource-limit-exceeded",
                              "close condition %s" % result)
            harness.check(raw.closed_by_peer(10), "router did not close the socket")
        finally:
            raw.close()

        # 3: Proton client with heartbeats keeps the connection across idle periods
        conn = BlockingConnection(router.url(), timeout=harness.deadline(20), heartbeat=1)
        try:
            rcv = conn.create_receiver("idle.q")
            snd = conn.create_sender("idle.q", options=AtMostOnce())
            try:
                # Keep the connection's I/O running (heartbeats) for 4 idle seconds.
                conn.wait(lambda: False, timeout=4)
            except Timeout:
                pass
            snd.send(Message(body="still here"))
            m = rcv.receive(timeout=harness.deadline(10))
            harness.check(m.body == "still here", "got %r" % m.body)
        finally:
            conn.close()

        # 4: the router sends heartbeats to a peer that advertises an idle-time-out
        raw = harness.RawConnection(router.addr())
        try:
            raw.handshake(idle_timeout_ms=1000)
            frames = 0
            end = time.monotonic() + 3
            while time.monotonic() < end:
                raw.send(harness.frame(b""))  # our own heartbeat, so the router keeps us
                f = raw.read_frame(timeout=0.4)
                if f is not None:
                    harness.check(f[2] in (None,), "unexpected frame %r" % (f,))
                    frames += 1
                harness.check(not raw.eof, "router closed a peer that sends heartbeats")
            harness.log("heartbeats from router in 3 s: %d" % frames)
            harness.check(frames >= 1, "router sent no heartbeat to a peer with idle-time-out 1s")
        finally:
            raw.close()


if __name__ == "__main__":
    harness.main(test)
