#!/usr/bin/python3
"""Malformed input closes only the offending connection, with an AMQP close carrying an error.

1. garbage after the protocol header: close with amqp:decode-error or
   amqp:connection:framing-error, then the socket is closed.
2. an oversized frame (size field 1,000,000 > max-frame-size 16384) after the open: close with
   amqp:connection:framing-error.
3. a bad protocol header ("HTTP/1.1"): the router answers with its own header (or nothing) and
   closes the socket.
4. a frame whose performative does not decode (truncated list): close with an error.
Throughout, a Proton connection opened before stays usable and a new one can be opened.
"""
import struct

import harness
from proton import Message
from proton.reactor import AtMostOnce
from proton.utils import BlockingConnection

ERRORS = ("amqp:decode-error", "amqp:connection:framing-error")


def roundtrip(conn, address, body):
    rcv = conn.create_receiver(address)
    snd = conn.create_sender(address, options=AtMostOnce())  # BlockingSender waits for settle
    snd.send(Message(body=body))
    m = rcv.receive(timeout=harness.deadline(10))
    rcv.close()
    snd.close()
    harness.check(m.body == body, "round trip got %r" % m.body)


def expect_error_close(raw, what):
    result = raw.wait_close(15)
    harness.log("%s: %s" % (what, result))
    harness.check(isinstance(result, dict), "%s: expected an AMQP close, got %s" % (what, result))
    harness.check(result["condition"] in ERRORS, "%s: close condition %s" % (what, result))
    harness.check(raw.closed_by_peer(10), "%s: socket not closed after close" % what)


def test(args):
    with harness.Router(args) as router:
        good = BlockingConnection(router.url(), timeout=harness.deadline(20))
        try:
            roundtrip(good, "mf.q", "before")

            # 1. garbage after the header (router has sent its header + open)
            raw = harness.RawConnection(router.addr())
            raw.send(harness.AMQP_HEADER + b"\xde\xad\xbe\xef" * 8)
            hdr = raw.read_exact(8)
            harness.check(hdr == harness.AMQP_HEADER, "header reply %r" % hdr)
            expect_error_close(raw, "garbage after header")
            raw.close()
            roundtrip(good, "mf.q", "after garbage")

            # 2. oversized frame after a proper open
            raw = harness.RawConnection(router.addr())
            raw.handshake()
            raw.send(struct.pack(">IBBH", 1000000, 2, 0, 0) + b"\x00" * 64)
            expect_error_close(raw, "oversized frame")
            raw.close()
            roundtrip(good, "mf.q", "after oversized")

            # 3. not AMQP at all
            raw = harness.RawConnection(router.addr())
            raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            harness.check(raw.closed_by_peer(15), "router kept a non-AMQP connection open")
            harness.log("bad protocol header: router sent %r" % raw.buf[:16])
            harness.check(raw.buf[:8] in (b"", harness.AMQP_HEADER, harness.SASL_HEADER),
                          "unexpected reply to a bad header: %r" % raw.buf[:16])
            raw.close()

            # 4. undecodable performative: begin whose list claims more bytes than present
            raw = harness.RawConnection(router.addr())
            raw.handshake()
            raw.send(harness.frame(b"\x00\x53\x11\xc0\x40\x05\x40"))
            expect_error_close(raw, "truncated performative")
            raw.close()

            roundtrip(good, "mf.q", "at the end")
            fresh = BlockingConnection(router.url(), timeout=harness.deadline(20))
            roundtrip(fresh, "mf.q", "new connection")
            fresh.close()
        finally:
            good.close()


if __name__ == "__main__":
    harness.main(test)
