#!/usr/bin/python3
"""The Proton C++ binding against the router: interop_cpp_client sends 1000 unsettled messages
through the router to its own receiver and checks every one arrives and is `accepted`.

The client binary comes from --client or $FOGMESH_INTEROP_CPP_CLIENT (set by CMake); when it is
not built the test is skipped.
"""
import os
import subprocess

import harness


def extra(p):
    p.add_argument("--client", default=os.environ.get("FOGMESH_INTEROP_CPP_CLIENT"))


def test(args):
    if not args.client or not os.access(args.client, os.X_OK):
        harness.skip("interop_cpp_client not built (ninja interop_cpp_client)")
    with harness.Router(args) as router:
        try:
            out = subprocess.run([args.client, router.url(), "cpp.interop", "1000"],
                                 capture_output=True, text=True,
                                 timeout=harness.deadline(180))
        except subprocess.TimeoutExpired:
            harness.fail("interop_cpp_client did not finish")
        harness.log("cpp client (exit %d): %s %s" % (out.returncode, out.stdout.strip(),
                                                    out.stderr.strip()))
        harness.check(out.returncode == 0, "interop_cpp_client failed")


if __name__ == "__main__":
    harness.main(test, extra)
