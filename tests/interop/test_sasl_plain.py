#!/usr/bin/python3
"""SASL PLAIN against a usersFile (fogmesh extension; hashes from `fogmesh-router --hash-password`).

Listener: authenticatePeer yes, saslMechanisms PLAIN, usersFile.
1. right user + password: the connection opens and a message round trip works.
2. wrong password: the connection is refused with an authentication failure (SASL outcome
   auth), never opened.
3. unknown user: refused the same way.
4. no credentials (ANONYMOUS only): refused.
"""
import harness
from proton import Message
from proton.reactor import AtMostOnce
from proton.utils import BlockingConnection


def connect(router, user, password, mechs="PLAIN"):
    kw = {"timeout": harness.deadline(20), "allowed_mechs": mechs}
    if user is not None:
        kw.update(user=user, password=password, allow_insecure_mechs=True)
    return BlockingConnection(router.url(), **kw)


def expect_refused(router, user, password, mechs, what):
    try:
        c = connect(router, user, password, mechs)
    except Exception as e:  # ConnectionException / Timeout
        text = str(e)
        harness.log("%s refused: %s" % (what, text))
        harness.check("auth" in text.lower() or "sasl" in text.lower(),
                      "%s: refused, but not with an authentication error: %s" % (what, text))
        return
    c.close()
    harness.fail("%s: connection was accepted" % what)


def test(args):
    pw_hash = harness.hash_password(args, "s3cret pass")
    harness.check(pw_hash.startswith("$argon2id$"), "--hash-password printed %r" % pw_hash)
    router = harness.Router(args, start=False, listeners=[{
        "authenticatePeer": True, "saslMechanisms": "PLAIN", "usersFile": "users.txt"}])
    path = router.write_file("users.txt", "alice:%s\n" % pw_hash)
    router.listeners[0]["usersFile"] = path
    router.start()
    with router:
        c = connect(router, "alice", "s3cret pass")
        try:
            rcv = c.create_receiver("sasl.q")
            c.create_sender("sasl.q", options=AtMostOnce()).send(Message(body="authenticated"))
            m = rcv.receive(timeout=harness.deadline(10))
            harness.check(m.body == "authenticated", "got %r" % m.body)
        finally:
            c.close()
        expect_refused(router, "alice", "wrong", "PLAIN", "wrong password")
        expect_refused(router, "mallory", "s3cret pass", "PLAIN", "unknown user")
        expect_refused(router, None, None, "ANONYMOUS", "anonymous")
        # the listener still works after the failures
        c = connect(router, "alice", "s3cret pass")
        c.close()


if __name__ == "__main__":
    harness.main(test)
