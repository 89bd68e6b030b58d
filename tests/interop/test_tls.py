#!/usr/bin/python3
"""TLS with a generated CA (OpenSSL memory BIOs in the router) and SASL EXTERNAL.

1. A listener with an sslProfile and requireSsl: a Proton client that trusts the CA connects over
   TLS and a message round trip works; a plain-TCP client is refused.
2. A listener with authenticatePeer + saslMechanisms EXTERNAL and a caCertFile: a client with a
   certificate signed by the CA is authenticated as its CN and can send/receive; a client
   without a certificate cannot open a connection.
"""
import os
import subprocess

import harness
from proton import Message, SSLDomain
from proton.reactor import AtMostOnce
from proton.utils import BlockingConnection


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """CA, server cert for 127.0.0.1/localhost, client cert CN=sensor-7."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, cn, ext in (("server", "localhost", ["-extfile", "san.ext"]),
                          ("client", "sensor-7", [])):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn,
                "-keyout", name + ".key", "-out", name + ".csr", cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", name + ".crt", *ext, cwd=d)
    return {n: os.path.join(d, n) for n in ("ca.crt", "server.crt", "server.key", "client.crt",
                                            "client.key")}


def client_domain(pki, with_cert):
    domain = SSLDomain(SSLDomain.MODE_CLIENT)
    domain.set_trusted_ca_db(pki["ca.crt"])
    # VERIFY_PEER: Proton 0.37 matches names only against DNS SANs, and we connect by IP.
    domain.set_peer_authentication(SSLDomain.VERIFY_PEER)
    if with_cert:
        domain.set_credentials(pki["client.crt"], pki["client.key"], None)
    return domain


def round_trip(conn, address, body):
    rcv = conn.create_receiver(address)
    conn.create_sender(address, options=AtMostOnce()).send(Message(body=body))
    m = rcv.receive(timeout=harness.deadline(10))
    harness.check(m.body == body, "expected %r, got %r" % (body, m.body))


def test(args):
    router = harness.Router(args, start=False, listeners=[
        {"sslProfile": "server-tls", "requireSsl": True},
        {"sslProfile": "server-tls", "requireSsl": True, "authenticatePeer": True,
         "saslMechanisms": "EXTERNAL"},
    ])
    pki = make_pki(router.dir)
    router.extra = "\n".join([
        "sslProfile {", "    name: server-tls", "    certFile: " + pki["server.crt"],
        "    privateKeyFile: " + pki["server.key"], "    caCertFile: " + pki["ca.crt"], "}"])
    router.start()
    with router:
        tls_url = "amqps://127.0.0.1:%d" % router.ports[0]
        conn = BlockingConnection(tls_url, timeout=harness.deadline(20),
                                  ssl_domain=client_domain(pki, with_cert=False))
        try:
            round_trip(conn, "tls.q", "over TLS")
        finally:
            conn.close()

        try:
            plain = BlockingConnection("amqp://127.0.0.1:%d" % router.ports[0],
                                       timeout=harness.deadline(10))
            plain.close()
            harness.fail("a plain-TCP connection was accepted on a requireSsl listener")
        except harness.TestFailure:
            raise
        except Exception as e:
            harness.log("plain TCP refused as expected: %s" % e)

        ext_url = "amqps://127.0.0.1:%d" % router.ports[1]
        conn = BlockingConnection(ext_url, timeout=harness.deadline(20), allowed_mechs="EXTERNAL",
                                  ssl_domain=client_domain(pki, with_cert=True))
        try:
            round_trip(conn, "tls.ext", "authenticated by certificate")
        finally:
            conn.close()
        harness.check("user sensor-7" in router.log(),
                      "the router did not log the certificate identity (user sensor-7)")

        try:
            anon = BlockingConnection(ext_url, timeout=harness.deadline(10),
                                      allowed_mechs="EXTERNAL",
                                      ssl_domain=client_domain(pki, with_cert=False))
            anon.close()
            harness.fail("a client without a certificate opened an EXTERNAL-only listener")
        except harness.TestFailure:
            raise
        except Exception as e:
            harness.log("certificate-less client refused as expected: %s" % e)


if __name__ == "__main__":
    harness.main(test)
