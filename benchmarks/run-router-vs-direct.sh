#!/usr/bin/env bash
# Side-by-side AMQP benchmark: every scenario runs (a) direct (fogmesh-bench talking to its own
# loopback listener: the client ceiling) and (b) through one router, interleaved in the same
# invocation so both see the same machine noise. Prints a Markdown table for
# benchmarks/RESULTS.md and writes the raw JSON lines to a results directory.
#
# Usage: benchmarks/run-router-vs-direct.sh [--direct-only] [--idle] [--idle-only]
#                                            [--repeat N] [--scenarios LIST] [--results DIR]
# Environment:
#   ROUTER          router command (default build/release/router-core/fogmesh-router); it is
#                   started as "$ROUTER -c <generated qdrouterd-style config>", so qdrouterd or
#                   benchmarks/load/tools/amqp_forwarder.py work too (a command with arguments
#                   is allowed, e.g. ROUTER="/usr/bin/python3 benchmarks/load/tools/amqp_forwarder.py").
#   BENCH           load tool (default build/release/benchmarks/load/fogmesh-bench)
#   ENGINES         fogmesh-bench engines to run, each direct and through the router (default
#                   "native proton": the native client shows the router's ceiling, the Proton C
#                   client is the reference design the issue's ratios were set with)
#   WORKER_THREADS  router workerThreads (default 1)     PORT  listener port (default 25672)
#   SCALE           multiplies message counts (default 1; e.g. 0.01 against a slow test router)
#   RATE_DURATION   seconds of the fixed-rate scenario (default 10)
#   IDLE_CONNECTIONS  connections for --idle (default 10000)   IDLE_HOLD  seconds (default 10)
#   BENCH_CPU / ROUTER_CPU  optional CPU lists for taskset pinning (default: unpinned)
#   SASL            none|anonymous: SASL layer of the client connections to the router (default none)
# Router CPU is the delta of the sum over /proc/<pid>/task/*/schedstat (ns on CPU, exact)
# around each run; tick-sampled utime/stime is too coarse for per-message figures.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUTER=${ROUTER:-$repo/build/release/router-core/fogmesh-router}
BENCH=${BENCH:-$repo/build/release/benchmarks/load/fogmesh-bench}
ENGINES=${ENGINES:-native proton}
WORKER_THREADS=${WORKER_THREADS:-1}
PORT=${PORT:-25672}
SCALE=${SCALE:-1}
RATE_DURATION=${RATE_DURATION:-10}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}
IDLE_HOLD=${IDLE_HOLD:-10}
SASL=${SASL:-none}
BENCH_CPU=${BENCH_CPU:-}
ROUTER_CPU=${ROUTER_CPU:-}

direct_only=0 idle=0 idle_only=0 repeat=1
scenarios="u100 p100 u1k u64k r10k"
results=""
while [ $# -gt 0 ]; do
  case "$1" in
    --direct-only) direct_only=1 ;;
    --idle) idle=1 ;;
    --idle-only) idle=1 idle_only=1 ;;
    --repeat) repeat=$2; shift ;;
    --scenarios) scenarios=$2; shift ;;
    --results) results=$2; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-router-vs-direct: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
results=${results:-$repo/build/bench-results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$results"
raw=$results/results.jsonl
: > "$raw"

die() { echo "run-router-vs-direct: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

[ -x "$BENCH" ] || die "load tool not found at $BENCH (build: cmake --preset release && ninja -C build/release -j2 fogmesh-bench)"
read -r -a router_cmd <<< "$ROUTER"
if [ $direct_only = 0 ]; then
  # Fail before spending minutes on direct runs when the router cannot run at all.
  [ -x "${router_cmd[0]}" ] || die "router binary not found or not executable: ${router_cmd[0]} (set ROUTER=..., or use --direct-only)"
fi

# Scenario name -> fogmesh-bench arguments (counts scaled by SCALE, at least 1000).
scaled() { awk -v n="$1" -v s="$SCALE" 'BEGIN { v = int(n * s); if (v < 1000) v = 1000; print v }'; }
scenario_args() {
  case "$1" in
    u100) echo "--size 100 --count $(scaled 2000000)" ;;
    p100) echo "--size 100 --count $(scaled 2000000) --settle presettled" ;;
    u1k) echo "--size 1024 --count $(scaled 1000000)" ;;
    u64k) echo "--size 65536 --count $(scaled 100000)" ;;
    r10k) echo "--size 100 --rate 10000 --duration $RATE_DURATION --warmup 1" ;;
    *) die "unknown scenario $1 (known: u100 p100 u1k u64k r10k)" ;;
  esac
}
scenario_title() {
  case "$1" in
    u100) echo "100 B unsettled" ;; p100) echo "100 B pre-settled" ;;
    u1k) echo "1 KiB unsettled" ;; u64k) echo "64 KiB unsettled" ;;
    r10k) echo "100 B at 10k msg/s" ;;
  esac
}

pin() { # pin CPULIST cmd...: run under taskset when a CPU list is given
  local cpus=$1; shift
  if [ -n "$cpus" ]; then taskset -c "$cpus" "$@"; else "$@"; fi
}

router_pid=""
router_cpu_ns() { # sum of on-CPU ns over all threads of the router
  local sum=0 t v
  for t in /proc/"$router_pid"/task/*/schedstat; do
    read -r v _ < "$t" 2>/dev/null || continue
    sum=$((sum + v))
  done
  echo "$sum"
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' /proc/"$1"/status 2>/dev/null || echo 0; }

write_config() { # write_config FILE
  cat > "$1" <<EOF
router {
    mode: standalone
    id: bench
    workerThreads: $WORKER_THREADS
}
listener {
    host: 127.0.0.1
    port: $PORT
    role: normal
    saslMechanisms: ANONYMOUS
    authenticatePeer: no
}
address {
    prefix: bench
    distribution: closest
}
EOF
}

stop_router() {
  if [ -n "$router_pid" ] && kill -0 "$router_pid" 2>/dev/null; then
    kill "$router_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$router_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$router_pid" 2>/dev/null || true
    wait "$router_pid" 2>/dev/null || true
  fi
  router_pid=""
}
trap stop_router EXIT

start_router() { # start_router NAME: starts it, waits (max 5 s) until the port accepts
  local name=$1 cfg=$results/router-$1.conf
  write_config "$cfg"
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "port $PORT is already in use by another process (set PORT=...)"
  fi
  # 10,000 idle connections need more than the default 1024 descriptors.
  ulimit -n "$(ulimit -Hn)"
  # Not through pin(): a backgrounded shell function would make $! a subshell, not the router.
  if [ -n "$ROUTER_CPU" ]; then
    taskset -c "$ROUTER_CPU" "${router_cmd[@]}" -c "$cfg" > "$results/router-$name.log" 2>&1 &
  else
    "${router_cmd[@]}" -c "$cfg" > "$results/router-$name.log" 2>&1 &
  fi
  router_pid=$!
  local deadline=$((SECONDS + 5)) up=0
  while [ $SECONDS -le $deadline ]; do
    if ! kill -0 "$router_pid" 2>/dev/null; then
      tail -20 "$results/router-$name.log" >&2 || true
      router_pid=""
      die "router exited during start-up: $ROUTER -c $cfg (log above, $results/router-$name.log)"
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then up=1; break; fi
    sleep 0.1
  done
  if [ $up = 0 ]; then
    tail -20 "$results/router-$name.log" >&2 || true
    die "router did not accept connections on 127.0.0.1:$PORT within 5 s ($ROUTER -c $cfg)"
  fi
  sleep 0.5  # let it finish initialising before the idle RSS sample
  log "router started: pid $router_pid, RSS $(rss_kib "$router_pid") KiB ($ROUTER)"
}

# run_one SCENARIO TARGET(direct|router) REPEAT ENGINE: appends one annotated JSON line to $raw.
failures=0
run_one() {
  local sc=$1 target=$2 rep=$3 engine=$4 args where out rc t0 t1 c0=0 c1=0 tag
  read -r -a args <<< "$(scenario_args "$sc")"
  if [ "$target" = direct ]; then where=(--direct); else where=(--url "127.0.0.1:$PORT" --sasl "$SASL"); fi
  if [ "$target" = router ]; then
    kill -0 "$router_pid" 2>/dev/null || die "router (pid $router_pid) is gone; see $results/router-main.log"
    c0=$(router_cpu_ns)
  fi
  tag=$sc-$engine-$target-$rep
  t0=$(date +%s%N)
  set +e
  out=$(pin "$BENCH_CPU" timeout 600 "$BENCH" --engine "$engine" "${where[@]}" "${args[@]}" --json 2> "$results/$tag.stderr")
  rc=$?
  set -e
  t1=$(date +%s%N)
  [ "$target" = router ] && c1=$(router_cpu_ns)
  if [ -z "$out" ]; then
    out='{"ok":false,"error":"no output (exit '"$rc"'): '"$(tr -d '"\\' < "$results/$tag.stderr" | head -c 300 | tr '\n' ' ')"'"}'
  fi
  [ $rc = 0 ] || failures=$((failures + 1))
  echo "$out" | jq -c --arg sc "$sc" --arg target "$target" --argjson rep "$rep" --argjson rc "$rc" \
    --arg engine "$engine" \
    --argjson cpu_ns "$((c1 - c0))" --argjson wall_ns "$((t1 - t0))" \
    --argjson rss "$([ "$target" = router ] && rss_kib "$router_pid" || echo 0)" \
    '. + {scenario: $sc, target: $target, repeat: $rep, engine: $engine, exit_code: $rc, wall_s: ($wall_ns / 1e9)}
       + (if $target == "router" then {router_cpu_s: ($cpu_ns / 1e9),
            router_cpu_us_per_msg: (if (.received // 0) > 0 then $cpu_ns / 1e3 / .received else null end),
            router_core_fraction: ($cpu_ns / $wall_ns), router_rss_kib: $rss} else {} end)' >> "$raw"
  log "$(tail -1 "$raw" | jq -r '"\(.scenario) \(.engine) \(.target) #\(.repeat): \(.rate_msgs_per_s // 0 | floor) msg/s p50 \(.latency_us.p50 // "-") p99 \(.latency_us.p99 // "-") us" + (if .router_cpu_us_per_msg then " router \(.router_cpu_us_per_msg * 100 | round / 100) us/msg" else "" end) + (if .ok == false then " FAILED: \(.error)" else "" end)')"
}

meta=$results/meta.json
jq -n --arg date "$(date -Is)" --arg host "$(hostname)" --arg cpu "$(lscpu | sed -n 's/^Model name: *//p')" \
  --arg ncpu "$(nproc)" --arg kernel "$(uname -r)" --arg router "$ROUTER" --arg bench "$BENCH" \
  --arg workers "$WORKER_THREADS" --arg scale "$SCALE" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
  '{date: $date, host: $host, cpu: $cpu, ncpu: $ncpu, kernel: $kernel, router: $router,
    bench: $bench, worker_threads: $workers, scale: $scale, loadavg_start: $load}' > "$meta"

rss_idle=0 rss_after=0
if [ $idle_only = 0 ]; then
  if [ $direct_only = 0 ]; then
    start_router main
    rss_idle=$(rss_kib "$router_pid")
  fi
  for rep in $(seq "$repeat"); do
    for sc in $scenarios; do
      for engine in $ENGINES; do
        run_one "$sc" direct "$rep" "$engine"
        [ $direct_only = 1 ] || run_one "$sc" router "$rep" "$engine"
      done
    done
  done
  if [ $direct_only = 0 ]; then
    rss_after=$(rss_kib "$router_pid")
    stop_router
  fi
fi

idle_json='null'
if [ $idle = 1 ]; then
  if [ $direct_only = 1 ]; then
    log "--idle needs a router: skipped (--direct-only)"
  else
    start_router idle
    r0=$(rss_kib "$router_pid")
    ulimit -n "$(ulimit -Hn)"
    "$BENCH" --url "127.0.0.1:$PORT" --sasl "$SASL" --idle-connections "$IDLE_CONNECTIONS" \
      --hold "$IDLE_HOLD" > "$results/idle.jsonl" 2> "$results/idle.stderr" &
    idle_bench=$!
    for _ in $(seq 1200); do  # up to 120 s to open them all
      grep -q idle_ready "$results/idle.jsonl" 2>/dev/null && break
      kill -0 $idle_bench 2>/dev/null || break
      sleep 0.1
    done
    sleep 2  # let the router settle its per-connection allocations
    r1=$(rss_kib "$router_pid")
    set +e; wait $idle_bench; idle_rc=$?; set -e
    sleep 2
    r2=$(rss_kib "$router_pid")
    opened=$(jq -s 'map(select(.event == "idle_ready"))[0].opened // 0' "$results/idle.jsonl")
    idle_json=$(jq -n --argjson r0 "$r0" --argjson r1 "$r1" --argjson r2 "$r2" --argjson n "$IDLE_CONNECTIONS" \
      --argjson opened "$opened" --argjson rc "$idle_rc" \
      '{requested: $n, opened: $opened, exit_code: $rc, rss_idle_kib: $r0, rss_held_kib: $r1,
        rss_after_close_kib: $r2, kib_per_connection: (if $opened > 0 then ($r1 - $r0) / $opened else null end)}')
    echo "$idle_json" > "$results/idle-summary.json"
    [ "$idle_rc" = 0 ] || { failures=$((failures + 1)); log "idle connections: $(cat "$results/idle.stderr")"; }
    stop_router
  fi
fi

# Markdown summary: medians over repeats.
jq -s -r --argjson rss_idle "$rss_idle" --argjson rss_after "$rss_after" --argjson idle "$idle_json" \
  --slurpfile meta "$meta" --arg scenarios "$scenarios" --arg engines "$ENGINES" '
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
                     else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def fmt(d): if . == null then "pending" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
  def k: if . == null then "pending" else (. / 1000 | round | tostring) + "k" end;
  def titles: {u100: "100 B unsettled", p100: "100 B pre-settled", u1k: "1 KiB unsettled",
               u64k: "64 KiB unsettled", r10k: "100 B at 10k msg/s"};
  . as $all
  | ($meta[0]) as $m
  | "Run \($m.date) on \($m.cpu) x\($m.ncpu) (load at start \($m.loadavg_start)), router `\($m.router)`, workerThreads \($m.worker_threads), scale \($m.scale); medians of \($all | map(.repeat) | max // 0) run(s).\n",
    "| scenario | client engine | direct msg/s | router msg/s | router/direct | direct p50 / p99 µs | router p50 / p99 µs | router CPU µs/msg | router % of a core |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ($scenarios | split(" ") | map(select(. != ""))[] as $sc
     | ($engines | split(" ") | map(select(. != ""))[]) as $e
     | ($all | map(select(.scenario == $sc and .engine == $e and .target == "direct" and .ok == true))) as $d
     | ($all | map(select(.scenario == $sc and .engine == $e and .target == "router" and .ok == true))) as $r
     | ($d | map(.rate_msgs_per_s) | median) as $dr
     | ($r | map(.rate_msgs_per_s) | median) as $rr
     | "| \(titles[$sc]) | \($e) | \($dr | k) | \($rr | k) | \(if $dr and $rr then ($rr / $dr * 100 | round | tostring) + "%" else "pending" end) | \($d | map(.latency_us.p50) | median | fmt(0)) / \($d | map(.latency_us.p99) | median | fmt(0)) | \($r | map(.latency_us.p50) | median | fmt(0)) / \($r | map(.latency_us.p99) | median | fmt(0)) | \($r | map(.router_cpu_us_per_msg) | median | fmt(2)) | \($r | map(.router_core_fraction * 100) | median | fmt(1)) |"),
    "",
    "Router RSS: idle \(if $rss_idle > 0 then ($rss_idle / 1024 * 10 | round / 10 | tostring) + " MiB" else "pending" end), after the runs \(if $rss_after > 0 then ($rss_after / 1024 * 10 | round / 10 | tostring) + " MiB" else "pending" end).",
    (if $idle != null then "Idle connections: \($idle.opened)/\($idle.requested) open, router RSS \($idle.rss_idle_kib / 1024 * 10 | round / 10) MiB idle -> \($idle.rss_held_kib / 1024 * 10 | round / 10) MiB held (\($idle.kib_per_connection | fmt(1)) KiB/connection) -> \($idle.rss_after_close_kib / 1024 * 10 | round / 10) MiB after close." else empty end),
    (($all | map(select(.ok != true))) as $f | if ($f | length) > 0 then "\nFAILED runs: " + ($f | map("\(.scenario)/\(.engine)/\(.target)#\(.repeat): \(.error)") | join("; ")) else empty end)
  ' "$raw" | tee "$results/summary.md"
echo
log "raw JSON lines: $raw; table: $results/summary.md"
[ $failures = 0 ] || die "$failures run(s) failed"
