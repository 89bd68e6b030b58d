#!/usr/bin/env bash
# The quickstart: the whole fogmesh system on this machine.
#   ./scripts/quickstart.sh          install packages, build (release), bring everything up
#   ./scripts/quickstart.sh status   fogctl get all
#   ./scripts/quickstart.sh stop     delete the application, stop agents, routers, controller
# "up" starts podman's Docker-compatible API service, builds three images offline (busybox-static
# + examples/quickstart/images), then `fogctl deploy -f examples/quickstart/controlplane.yaml`
# (controller with embedded PostgreSQL; agent "hub" whose interior router is the default router;
# agent "edge-1" with an edge router) and `fogctl deploy -f examples/quickstart/app.yaml`
# (sender -> route -> receiver across the two agents, and web on a public port), and shows it
# working. A second run reuses what is running. Needs root (rootful podman, agents' containers).
# FOGMESH_BUILD_DIR picks another build tree (default build/release); FOGMESH_HOME moves
# fogctl's state (default ~/.fogmesh).
set -euo pipefail
cd "$(dirname "$0")/.."
command=${1:-up}
build_dir=${FOGMESH_BUILD_DIR:-build/release}

case "$command" in
  up) ;;
  status|stop) exec /usr/bin/python3 scripts/demo_system.py "$command" ${FOGMESH_BUILD_DIR:+--build-dir "$FOGMESH_BUILD_DIR"} ;;
  *) echo "usage: $0 [up|status|stop]" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  echo "quickstart: run as root (rootful podman runs the microservices' containers)" >&2
  exit 1
fi

started=$(date +%s)
./scripts/install-deps.sh
echo "== building fogctl, fogmesh-controller, fogmesh-agent, fogmesh-router ($build_dir)"
if [ -z "${FOGMESH_BUILD_DIR:-}" ]; then
  cmake --preset release >/dev/null
fi
cmake --build "$build_dir" --parallel "$(nproc)" --target fogctl fogmesh-controller fogmesh-agent fogmesh-router
echo

/usr/bin/python3 scripts/demo_system.py up --build-dir "$build_dir"
echo "(quickstart took $(( $(date +%s) - started )) s)"
