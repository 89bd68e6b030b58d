#!/usr/bin/python3
"""iperf3 through the TCP adaptor: one router (tcpListener -> tcpConnector in it) and two
interior routers (listener on A, connector on B). iperf3 opens a control connection and then
a data connection to the same port and keeps the first open while the second streams, so
across two routers it also checks that one open stream does not hold back another.

For each path, 3 s client -> server and then server -> client (-R): iperf3 must finish without
error and report bytes received. (Not "every byte sent received": iperf3 stops
counting at its end-of-test message, and bytes still buffered in the proxies are not counted;
byte-for-byte integrity is checked by interop_test_tcp_adaptor and _proxy_mesh.) Throughput
is printed, never checked (benchmarks/run-proxy-vs-nginx.sh measures it).
"""
import json
import shutil
import subprocess
import time

import harness


def run_iperf(port, seconds, reverse):
    cmd = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"]
    if reverse:
        cmd.append("-R")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=harness.deadline(120))
    except subprocess.TimeoutExpired:
        harness.check(False, "iperf3 %s did not finish through port %d" % (" ".join(cmd[5:]), port))
        return
    try:
        report = json.loads(done.stdout)
    except ValueError:
        harness.check(False, "iperf3 printed no JSON (exit %d): %s %s" %
                      (done.returncode, done.stdout[-400:], done.stderr[-400:]))
        return
    harness.check(done.returncode == 0 and "error" not in report,
                  "iperf3 failed (exit %d): %s" % (done.returncode, report.get("error")))
    end = report.get("end", {})
    sent = end.get("sum_sent", {}).get("bytes", 0)
    received = end.get("sum_received", {}).get("bytes", 0)
    # Any bytes at all: how many arrive in 3 s depends on the machine's load, which a test must
    # not judge (a loaded CI machine once moved less than 1 MiB).
    harness.check(received > 0 and received <= sent,
                  "iperf3: %d bytes sent, %d received" % (sent, received))
    bps = end.get("sum_received", {}).get("bits_per_second", 0)
    return "%d MiB %s at %.2f Gbit/s" % (received >> 20, "server -> client" if reverse else
                                           "client -> server", bps / 1e9)


def wait_for_path(port, timeout=60):
    """A tiny iperf3 run succeeds: the listener is up and its address reaches the connector
    (until then the router closes the client at once and iperf3 fails fast)."""
    end = time.monotonic() + harness.deadline(timeout)
    last = ""
    while time.monotonic() < end:
        done = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-n", "1K"],
                              capture_output=True, text=True, timeout=harness.deadline(30))
        if done.returncode == 0:
            return
        last = done.stdout[-200:] + done.stderr[-200:]
        time.sleep(0.2)
    harness.fail("no iperf3 path through port %d within %ss: %s" % (port, timeout, last))


def test(args):
    if shutil.which("iperf3") is None:
        harness.skip("iperf3 is not installed (scripts/install-deps.sh installs it)")
    server_port = harness.free_port()
    server = subprocess.Popen(["iperf3", "-s", "-p", str(server_port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        e = harness.entity
        one_port = harness.free_port()
        harness.Router(args, router_id="one", extra="".join([
            e("tcpListener", name="iperf-in", host="127.0.0.1", port=one_port, address="iperf/one"),
            e("tcpConnector", name="iperf-out", host="127.0.0.1", port=server_port,
              address="iperf/one")]))
        two_port = harness.free_port()
        a = harness.Router(args, router_id="A", mode="interior",
                           listeners=[{}, {"role": "inter-router"}],
                           extra=e("tcpListener", name="iperf-in", host="127.0.0.1",
                                   port=two_port, address="iperf/two"))
        harness.Router(args, router_id="B", mode="interior", extra="".join([
            e("connector", name="to-a", host="127.0.0.1", port=a.ports[1], role="inter-router"),
            e("tcpConnector", name="iperf-out", host="127.0.0.1", port=server_port,
              address="iperf/two")]))
        for label, port in (("one router", one_port), ("two routers", two_port)):
            wait_for_path(port)
            for reverse in (False, True):
                harness.log("%s: %s" % (label, run_iperf(port, 3, reverse)))
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    harness.main(test)
