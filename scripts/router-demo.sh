#!/usr/bin/env bash
# The router-only demo: installs the Debian packages, builds the release preset, starts a
# fogmesh-router on loopback, runs a send/receive demo through it with Qpid Proton clients, a
# short throughput run (direct vs through the router), and stops the router cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

./scripts/install-deps.sh
echo "== building (release preset)"
cmake --preset release >/dev/null
cmake --build --preset release --target fogmesh-router fogmesh-bench

work=$(mktemp -d)
trap 'kill $router_pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed "s/port: amqp/port: $port/" router-core/examples/standalone.conf > "$work/router.conf"

echo "== starting fogmesh-router on 127.0.0.1:$port (config: router-core/examples/standalone.conf)"
build/release/router-core/fogmesh-router -c "$work/router.conf" 2> "$work/router.log" &
router_pid=$!
for _ in $(seq 50); do
  grep -q "listening on" "$work/router.log" && break
  sleep 0.1
done
grep -q "listening on" "$work/router.log" || { cat "$work/router.log"; exit 1; }
echo "   router pid $router_pid, RSS $(awk '/VmRSS/ {print $2 " " $3}' /proc/$router_pid/status)"

/usr/bin/python3 scripts/demo.py "127.0.0.1:$port"

echo
echo "== throughput: 200k messages of 100 bytes, unsettled (receiver accepts each)"
build/release/benchmarks/load/fogmesh-bench --direct --count 200000 | sed 's/^/   /'
build/release/benchmarks/load/fogmesh-bench --url "127.0.0.1:$port" --address closest.bench \
  --count 200000 | sed 's/^/   /'

echo
echo "== stopping the router (SIGTERM)"
kill -TERM $router_pid
wait $router_pid && echo "   router exited cleanly (status 0)"
echo "   its log:"; sed 's/^/   | /' "$work/router.log" | tail -8
trap 'rm -rf "$work"' EXIT
echo
echo "Next: benchmarks/run-router-vs-direct.sh for the full side-by-side benchmark,"
echo "      ./scripts/test.sh for every test."
