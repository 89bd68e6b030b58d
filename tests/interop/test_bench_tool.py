#!/usr/bin/python3
"""fogmesh-bench, the load tool the router's figures come from, checked as a client: both of its
engines (native: fogmesh's codec over epoll; proton: Proton C) send and receive through a real
router and directly to themselves, every settle mode, multi-frame messages (listener
maxFrameSize 512), SASL ANONYMOUS, --rate pacing with a warm-up, and a run against a port where
nothing listens must fail with a message naming it. The tool exits 1 on any lost, duplicated or
unaccepted message, so a wrong AMQP state machine in either engine fails here.

The binary comes from --bench or $FOGMESH_BENCH (set by CMake); skipped when not built.
"""
import json
import os
import socket
import subprocess

import harness


def extra(p):
    p.add_argument("--bench", default=os.environ.get("FOGMESH_BENCH"))


def run_bench(args, *options, expect_ok=True):
    cmd = [args.bench, "--json", "--stall-timeout", "30"] + [str(o) for o in options]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=harness.deadline(240))
    except subprocess.TimeoutExpired:
        harness.fail("fogmesh-bench did not finish: %s" % " ".join(cmd))
    harness.log("%s -> exit %d %s %s" % (" ".join(cmd[1:]), out.returncode, out.stdout.strip(),
                                         out.stderr.strip()))
    if not expect_ok:
        harness.check(out.returncode == 1, "expected exit 1 from: %s" % " ".join(cmd))
        return out
    harness.check(out.returncode == 0, "fogmesh-bench failed: %s" % out.stderr.strip())
    result = json.loads(out.stdout.strip().splitlines()[-1])
    harness.check(result["ok"] and result["received"] == result["sent"] > 0,
                  "not everything arrived: %s" % result)
    return result


def test(args):
    if not args.bench or not os.access(args.bench, os.X_OK):
        harness.skip("fogmesh-bench not built (ninja fogmesh-bench)")
    listeners = [{"authenticatePeer": "no"}, {"authenticatePeer": "no", "maxFrameSize": 512}]
    with harness.Router(args, listeners=listeners) as router:
        url = "127.0.0.1:%d" % router.ports[0]
        small_frames = "127.0.0.1:%d" % router.ports[1]
        for engine in ("native", "proton"):
            e = ["--engine", engine]
            unsettled = run_bench(args, *e, "--direct", "--count", 20000)
            harness.check(unsettled["accepted"] == 20000, "direct: not all accepted")
            run_bench(args, *e, "--direct", "--count", 300, "--size", 200000)
            r = run_bench(args, *e, "--url", url, "--count", 20000)
            harness.check(r["accepted"] == 20000, "through the router: not all accepted")
            run_bench(args, *e, "--url", url, "--count", 20000, "--settle", "presettled")
            # 3 KiB bodies over 512-byte frames: every message is several transfer frames both
            # ways (the router re-frames for the receiver's connection).
            run_bench(args, *e, "--url", small_frames, "--count", 2000, "--size", 3000)
            run_bench(args, *e, "--url", url, "--count", 2000, "--sasl", "anonymous")
            paced = run_bench(args, *e, "--url", url, "--rate", 2000, "--duration", 1,
                              "--warmup", 0.5)
            harness.check(1500 <= paced["sent"] <= 2500 and paced["warmup_sent"] > 0,
                          "--rate 2000 for 1 s sent %d (warm-up %d)"
                          % (paced["sent"], paced["warmup_sent"]))
        # Nothing listens on this port: a clear error that names it, exit 1.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
        s.close()
        for engine in ("native", "proton"):
            out = run_bench(args, "--engine", engine, "--url", "127.0.0.1:%d" % free,
                            "--count", 10, "--stall-timeout", 5, expect_ok=False)
            harness.check(str(free) in out.stderr, "the error does not name the port: %s"
                          % out.stderr.strip())


if __name__ == "__main__":
    harness.main(test, extra)
