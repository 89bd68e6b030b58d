#!/usr/bin/env bash
# Controller load benchmarks (issue 6): starts fogmesh-controller on a fresh embedded PostgreSQL,
# creates its own user, agent and fogs through the API, and prints the figures RESULTS.md records.
#
#   benchmarks/controller/run.sh [--agents N] [--duration S] [--post-only | --agents-only]
#
# After the POST /iofog run, two PUT /router are timed (default router for every router created).
# --post-only: only the POST /iofog run (after the set-up) and those, to compare write-path options
# (e.g. CONTROLLER_ARGS="--db-connections 64") in a short locked run. --agents-only: only the
# --agents part (steady state and the change reaching them).
#
# CONTROLLER  binary (default build/ctrl-release/controller/fogmesh-controller)
# PORT        port to listen on (default 51199; loopback only)
# FOGS        fogs for the iofog-list run (default 1000)
# CONTROLLER_ARGS  extra controller options (e.g. "--io-threads 2 --db-connections 32")
# Needs wrk, curl, jq, python3 (Debian packages). Everything runs on 127.0.0.1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
CONTROLLER=${CONTROLLER:-$root/build/ctrl-release/controller/fogmesh-controller}
PORT=${PORT:-51199}
FOGS=${FOGS:-1000}
AGENTS=0
DURATION=10
POST_ONLY=0
AGENTS_ONLY=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --agents) AGENTS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --post-only) POST_ONLY=1; shift ;;
    --agents-only) AGENTS_ONLY=1; shift ;;
    *) echo "usage: $0 [--agents N] [--duration S] [--post-only | --agents-only]" >&2; exit 2 ;;
  esac
done
URL=http://127.0.0.1:$PORT
data=$(mktemp -d /tmp/fogbench.XXXXXX)
chmod 755 "$data"
ulimit -n "$(ulimit -Hn)"

# shellcheck disable=SC2086  # CONTROLLER_ARGS is a list of options
"$CONTROLLER" --port "$PORT" --bind 127.0.0.1 --data-dir "$data" --log-level warn ${CONTROLLER_ARGS:-} \
  >"$data/controller.log" 2>&1 &
pid=$!
cleanup() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 200); do
  curl -sf "$URL/api/v3/status" >/dev/null && break
  sleep 0.1
done

rss() { awk '/VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$pid/status"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# PostgreSQL: the postmaster (first line of postmaster.pid) and its children.
pg_pids() {
  local pm
  pm=$(head -1 "$data/pgdata/postmaster.pid")
  echo "$pm" $(pgrep -P "$pm" || true)
}
pg_ticks() {
  local sum=0 p
  for p in $(pg_pids); do sum=$((sum + $(ticks "$p" 2>/dev/null || echo 0))); done
  echo $sum
}
hz=$(getconf CLK_TCK)

# wrk_run LABEL wrk-args...: req/s, latency percentiles, CPU of the controller and of PostgreSQL.
wrk_run() {
  local label=$1; shift
  local c0 p0 t0 out c1 p1 t1
  c0=$(ticks $pid); p0=$(pg_ticks); t0=$(date +%s.%N)
  out=$(wrk --latency "$@")
  c1=$(ticks $pid); p1=$(pg_ticks); t1=$(date +%s.%N)
  echo "$out" >>"$data/wrk.log"
  local rps p50 p99 errs
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx|Socket errors/' <<<"$out" | tr '\n' ' ')
  printf '%-44s %9s req/s  p50 %-9s p99 %-9s controller %3.0f%%  postgres %3.0f%% %s\n' \
    "$label" "$rps" "$p50" "$p99" \
    "$(echo "($c1 - $c0) * 100 / $hz / ($t1 - $t0)" | bc -l)" \
    "$(echo "($p1 - $p0) * 100 / $hz / ($t1 - $t0)" | bc -l)" "$errs"
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $CONTROLLER ${CONTROLLER_ARGS:-}"
sleep 2
echo "idle RSS after start-up: $(rss)"

read -r user_token agent_token < <(python3 "$here/fogbench.py" setup "$URL" "bench@example.com")
export FOGBENCH_TOKEN=$user_token

# put_router: PUT /router twice after the POST /iofog run. There is no system fog, so the first
# registers a default router (Kubernetes style) and links every edge router the run created to it;
# the second moves it, which re-renders all of those routers' configs.
put_router() {
  local routers t host
  routers=$(curl -sf -H "Authorization: $user_token" "$URL/api/v3/iofog-list" |
    jq '[.fogs[] | select(.routerMode != "none")] | length')
  for host in router-a.bench router-b.bench; do
    t=$(curl -sf -o /dev/null -w '%{time_total}' -X PUT -H "Authorization: $user_token" \
      -H 'Content-Type: application/json' -d "{\"host\":\"$host\"}" "$URL/api/v3/router")
    echo "PUT /router ($host) with $routers fog routers: ${t} s"
  done
}

if [[ $POST_ONLY == 1 ]]; then
  wrk_run "POST /iofog (edge, -c50)" -t1 -c50 -d"${DURATION}s" -s "$here/post_iofog.lua" \
    "$URL/api/v3/iofog"
  put_router
  exit 0
fi

if [[ $AGENTS_ONLY == 0 ]]; then
  wrk_run "GET /status (-c50)" -t1 -c50 -d"${DURATION}s" "$URL/api/v3/status"
  wrk_run "GET /agent/config/changes, none (-c50)" -t1 -c50 -d"${DURATION}s" \
    -H "Authorization: $agent_token" "$URL/api/v3/agent/config/changes"
  wrk_run "GET /agent/config/changes, none (-c1)" -t1 -c1 -d"${DURATION}s" \
    -H "Authorization: $agent_token" "$URL/api/v3/agent/config/changes"

  python3 "$here/fogbench.py" fogs "$URL" "$user_token" 9
  wrk_run "GET /iofog-list, 10 fogs (-c50)" -t1 -c50 -d"${DURATION}s" \
    -H "Authorization: $user_token" "$URL/api/v3/iofog-list"
  python3 "$here/fogbench.py" fogs "$URL" "$user_token" $((FOGS - 10)) --prefix more-fog
  n=$(curl -sf -H "Authorization: $user_token" "$URL/api/v3/iofog-list" | jq '.fogs | length')
  bytes=$(curl -sf -H "Authorization: $user_token" "$URL/api/v3/iofog-list" | wc -c)
  echo "iofog-list: $n fogs, $bytes bytes"
  wrk_run "GET /iofog-list, $n fogs (-c1)" -t1 -c1 -d"${DURATION}s" \
    -H "Authorization: $user_token" "$URL/api/v3/iofog-list"
  wrk_run "GET /iofog-list, $n fogs (-c50)" -t1 -c50 -d"${DURATION}s" \
    -H "Authorization: $user_token" "$URL/api/v3/iofog-list"
  echo "RSS after the list runs: $(rss)"
  wrk_run "POST /iofog (edge, -c50)" -t1 -c50 -d"${DURATION}s" -s "$here/post_iofog.lua" \
    "$URL/api/v3/iofog"
  n=$(curl -sf -H "Authorization: $user_token" "$URL/api/v3/iofog-list" | jq '.fogs | length')
  echo "fogs now: $n; RSS: $(rss)"
  put_router
fi

if [[ $AGENTS -gt 0 ]]; then
  # The agents belong to a user of their own, so the change measured (a registry of that user:
  # change rows for each of its fogs) concerns these agents (and set-up's one) only, not also
  # the fogs the POST /iofog run above created (their number follows that run's speed: 15-21k).
  read -r agents_user _ < <(python3 "$here/fogbench.py" setup "$URL" "agents@example.com")
  python3 "$here/fogbench.py" agents "$URL" "$agents_user" "$AGENTS" --pid "$pid"
  echo "RSS with $AGENTS agents: $(rss)"
fi
sleep 3
echo "RSS at the end: $(rss)"
