#!/usr/bin/env bash
# Mesh throughput, side by side in one run: the tool's own client pair (direct), one router,
# two interior routers in a line (sender on the first, receiver on the second), three in a
# line, and an edge router attached to the first interior (sender on the edge, receiver on
# that interior / on the second interior). 100-byte unsettled messages (the receiver accepts each), fogmesh-bench, interleaved
# repeats so machine noise hits every topology alike.
#
# Usage: benchmarks/run-mesh.sh [--repeat N] [--count N]
# Environment: ROUTER (default build/release/router-core/fogmesh-router),
#              BENCH (default build/release/benchmarks/load/fogmesh-bench),
#              WORKER_THREADS (default 1 per router), BASE_PORT (default 26000).
# Prints one line per run and a summary table (median msg/s, ratio to one router and direct).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUTER=${ROUTER:-$repo/build/release/router-core/fogmesh-router}
BENCH=${BENCH:-$repo/build/release/benchmarks/load/fogmesh-bench}
WORKER_THREADS=${WORKER_THREADS:-1}
BASE_PORT=${BASE_PORT:-26000}
repeat=3
count=300000
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) repeat=$2; shift ;;
    --count) count=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-mesh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
for tool in "$ROUTER" "$BENCH"; do
  [ -x "$tool" ] || { echo "run-mesh: not executable: $tool (build the release preset)" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "run-mesh: needs jq" >&2; exit 1; }

work=$(mktemp -d /tmp/fogmesh-mesh-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# router NAME INDEX MODE [CONNECT_TO_INDEX]: client port BASE+2*INDEX, inter-router BASE+2*INDEX+1
start_router() {
  local name=$1 index=$2 mode=$3 up=${4:-}
  local port=$((BASE_PORT + 2 * index)) ir=$((BASE_PORT + 2 * index + 1))
  {
    printf 'router {\n  mode: %s\n  id: %s\n  workerThreads: %s\n}\n' "$mode" "$name" "$WORKER_THREADS"
    printf 'listener {\n  host: 127.0.0.1\n  port: %s\n  saslMechanisms: ANONYMOUS\n}\n' "$port"
    if [ "$mode" = interior ]; then
      printf 'listener {\n  host: 127.0.0.1\n  port: %s\n  role: inter-router\n}\n' "$ir"
      printf 'listener {\n  host: 127.0.0.1\n  port: %s\n  role: edge\n}\n' $((ir + 100))
    fi
    if [ -n "$up" ]; then
      local role=inter-router up_port=$((BASE_PORT + 2 * up + 1))
      if [ "$mode" = edge ]; then role=edge up_port=$((up_port + 100)); fi
      printf 'connector {\n  host: 127.0.0.1\n  port: %s\n  role: %s\n}\n' "$up_port" "$role"
    fi
  } > "$work/$name.conf"
  "$ROUTER" -c "$work/$name.conf" > "$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "run-mesh: router $name did not start; log:" >&2
  cat "$work/$name.log" >&2
  exit 1
}

start_router single 0 standalone
start_router A 1 interior
start_router B 2 interior 1
start_router C 3 interior 2
start_router E 4 edge 1
sleep 2  # HELLOs exchanged; routes themselves settle while the first run waits for credit

raw=$work/results.jsonl
run() { # run NAME ARGS...
  local name=$1; shift
  local out
  if out=$("$BENCH" --count "$count" --size 100 --settle unsettled --json "$@" 2>"$work/bench.err"); then
    echo "$out" | jq -c --arg t "$name" '. + {topology: $t}' >> "$raw"
    log "$name: $(echo "$out" | jq -r '.rate_msgs_per_s | floor') msg/s"
  else
    log "$name: FAILED: $(tail -1 "$work/bench.err")"
  fi
}
p() { echo "127.0.0.1:$((BASE_PORT + 2 * $1))"; }
for r in $(seq "$repeat"); do
  run direct --direct
  run one-router --url "$(p 0)"
  run line-2 --url "$(p 2)" --send-url "$(p 1)" --address "mesh2.$r"
  run line-3 --url "$(p 3)" --send-url "$(p 1)" --address "mesh3.$r"
  run edge-int --url "$(p 1)" --send-url "$(p 4)" --address "edge1.$r"
  run edge-int-int --url "$(p 2)" --send-url "$(p 4)" --address "edge2.$r"
done

echo
echo "topology      median msg/s   vs one router   vs direct"
jq -s -r '
  def median: sort | if length == 0 then 0 else .[(length / 2 | floor)] end;
  (map(select(.topology == "direct") | .rate_msgs_per_s) | median) as $direct |
  (map(select(.topology == "one-router") | .rate_msgs_per_s) | median) as $one |
  group_by(.topology) | map({t: .[0].topology, m: (map(.rate_msgs_per_s) | median)}) |
  sort_by(-.m) | .[] |
  "\(.t | . + "            " | .[0:12])  \(.m | floor | tostring | . + "        " | .[0:12])   \((.m / $one * 100 | round | tostring) + "%" | . + "        " | .[0:12])    \(.m / $direct * 100 | round)%"' "$raw"
echo "raw results: $raw"
