#!/usr/bin/python3
"""fogmesh-stat against real routers: -g/-c/-l/-a/-m on one router, -n and a remote router's
connections through the mesh (--router), and a clear error for a wrong option."""
import os
import subprocess

import harness
from test_mesh import interior


def stat(args, router, *options):
    binary = os.environ.get("FOGMESH_STAT")
    if not binary:
        harness.skip("FOGMESH_STAT (path of fogmesh-stat) not set")
    out = subprocess.run([binary, "-b", "127.0.0.1:%d" % router.port] + list(options),
                         capture_output=True, text=True, timeout=harness.deadline(60))
    return out.returncode, out.stdout, out.stderr


def test(args):
    a = interior(args, "StatA")
    b = interior(args, "StatB", [(a, 1)])
    rc, out, err = stat(args, a, "-g")
    harness.check(rc == 0 and "StatA" in out and "interior" in out, "-g: %s %s" % (out, err))
    for option, expect in (("-c", "inter-router"), ("-l", "_local/qdrouter"),
                           ("-a", "$management"), ("-m", "Memory Usage")):
        rc, out, err = stat(args, a, option)
        harness.check(rc == 0 and expect in out, "%s: %s %s" % (option, out, err))
    # The mesh converges in a moment: -n lists StatB once the HELLOs went both ways.
    for _ in range(50):
        rc, out, err = stat(args, a, "-n")
        if "StatB" in out:
            break
    harness.check("StatB" in out, "-n: %s %s" % (out, err))
    rc, out, err = stat(args, a, "-c", "--router", "StatB")
    harness.check(rc == 0 and "StatA" in out and " out " in out,
                  "StatB's connections through StatA: %s %s" % (out, err))
    rc, out, err = stat(args, a, "-x")
    harness.check(rc == 2 and "unknown option" in err, "bad option: %s %s" % (rc, err))
    b.stop()
    a.stop()


if __name__ == "__main__":
    harness.main(test)
