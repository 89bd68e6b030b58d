"""What the end-to-end tests share: their command line (--build-dir) and the reasons they are
skipped (exit 77, ctest's SKIP_RETURN_CODE) on a machine that cannot run them."""

import argparse
import os
import shutil
import sys


def skip_reason():
    if os.geteuid() != 0:
        return "needs root (rootful podman)"
    if not shutil.which("podman"):
        return "podman is not installed"
    if not os.path.exists("/bin/busybox"):
        return "busybox-static is not installed"
    return None


def build_dir_or_skip(name):
    """Parses --build-dir (absolute) and the rest of argv for unittest; exits 77 when skipped."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    args, rest = parser.parse_known_args()
    reason = skip_reason()
    if reason:
        print(f"{name}: skipped: {reason}")
        sys.exit(77)
    return os.path.abspath(args.build_dir), [sys.argv[0]] + rest
