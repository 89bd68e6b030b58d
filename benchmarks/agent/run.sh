#!/bin/sh
# Agent benchmarks (issue 7 targets), release build. Usage, as root (podman needs it):
#   benchmarks/agent/run.sh [BUILD_DIR]      default build/agent-release (cmake --preset release -B it)
# Configures and builds what it needs, then runs the three agent_bench modes; the lines starting
# with RESULT are what RESULTS.md ("Agent") records. Takes about 10 minutes on 2 cores.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build/agent-release}
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFOGMESH_EXCLUDE_COMPONENTS="k8s;ctl"
fi
ninja -C "$BUILD" -j2 agent_bench agent_load fogmesh-agent fogmesh-router
BENCH=$BUILD/benchmarks/agent/agent_bench
LOAD=$BUILD/benchmarks/agent/agent_load
echo "== $(date -u +%Y-%m-%dT%H:%MZ) $(uname -srm), $(nproc) cores"
echo "== idle: 10 microservices (busybox, podman) on an edge agent, its edge router"
"$BENCH" idle --settle 30 --seconds 60
echo "== messages: 1 KiB ioMessages, two microservices on two edge agents through the mesh"
"$BENCH" messages --load "$LOAD" --count-amqp 300000 --count-socket 100000 --runs 3
echo "== deploy: microservice change at the controller -> container running"
"$BENCH" deploy --changes 10
