#!/bin/bash
# HTTP and TCP through fogmesh-router's adaptors, side by side with nginx (reverse proxy with a
# keep-alive upstream) and with the target direct, in one run on this machine.
#
#   benchmarks/run-proxy-vs-nginx.sh [ROUTER_BINARY] [SECONDS]
#
# Needs nginx (nginx-light), wrk and iperf3 (scripts/install-deps.sh). Use a Release router
# (cmake --preset release -B build/proxy-rel -DFOGMESH_EXCLUDE_COMPONENTS=agent;
#  ninja -C build/proxy-rel fogmesh-router). Everything runs on 127.0.0.1 in a temp dir and
# is stopped at exit. wrk: -t1 -c50, 100-byte responses, as in reference/proxy.md §4.
set -euo pipefail

ROUTER=${1:-build/proxy-rel/router-core/fogmesh-router}
SECS=${2:-10}
for tool in nginx wrk iperf3; do
  command -v $tool >/dev/null || { echo "missing $tool (scripts/install-deps.sh)" >&2; exit 2; }
done
[ -x "$ROUTER" ] || { echo "no router binary at $ROUTER" >&2; exit 2; }

DIR=$(mktemp -d /tmp/fogmesh-proxy-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$DIR/up/nginx.pid" ] && kill -QUIT "$(cat "$DIR/up/nginx.pid")" 2>/dev/null || true
  [ -f "$DIR/px/nginx.pid" ] && kill -QUIT "$(cat "$DIR/px/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(port); PX=$(port); RH=$(port); RT=$(port); RI=$(port); IP=$(port)

nginx_conf() {  # $1 dir, $2 server block
  mkdir -p "$1/logs" "$1/tmp"
  cat > "$1/nginx.conf" <<EOF
worker_processes 1;
pid $1/nginx.pid;
error_log $1/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $1/tmp; proxy_temp_path $1/tmp; fastcgi_temp_path $1/tmp;
  uwsgi_temp_path $1/tmp; scgi_temp_path $1/tmp;
  keepalive_requests 1000000;
  $2
}
EOF
}
mkdir -p "$DIR/up/www"
head -c 100 /dev/zero | tr '\0' 'x' > "$DIR/up/www/index.txt"
# nginx's workers drop root (www-data): they must be able to read the page.
chmod 755 "$DIR" "$DIR/up" "$DIR/up/www" && chmod 644 "$DIR/up/www/index.txt"
nginx_conf "$DIR/up" "server { listen 127.0.0.1:$UP; root $DIR/up/www; location / { try_files /index.txt =404; } }"
nginx_conf "$DIR/px" "upstream backend_ka { server 127.0.0.1:$UP; keepalive 64; }
  server { listen 127.0.0.1:$PX; location / { proxy_pass http://backend_ka;
    proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
nginx -p "$DIR/up" -c "$DIR/up/nginx.conf"
nginx -p "$DIR/px" -c "$DIR/px/nginx.conf"

# One entity per block, one attribute per line (the router's config syntax). ent TYPE k=v...
ent() { local type=$1; shift; echo "$type {"; for kv in "$@"; do echo "    ${kv/=/: }"; done; echo "}"; }
start_router() {  # $1 name, config in $DIR/$1.conf
  "$ROUTER" -c "$DIR/$1.conf" --log-level warning > "$DIR/$1.log" 2>&1 &
  PIDS+=($!)
  eval "${1}_PID=$!"
}
wait_http() {  # $1 port, $2 what
  for _ in $(seq 100); do curl -sf -m 2 "http://127.0.0.1:$1/" > /dev/null && return 0; sleep 0.1; done
  echo "$2 not serving on $1"; curl -sv -m 2 "http://127.0.0.1:$1/" 2>&1 | tail -5; curl -sv "http://127.0.0.1:$UP/" 2>&1 | tail -3; tail -n 20 "$DIR"/*.log; exit 1
}

# One router: both adaptors of each pair in it.
{
  ent router mode=standalone id=proxy-bench
  ent listener host=127.0.0.1 port=0 saslMechanisms=ANONYMOUS
  ent httpListener name=h-in host=127.0.0.1 port=$RH address=bench/http protocolVersion=HTTP1
  ent httpConnector name=h-out host=127.0.0.1 port=$UP address=bench/http protocolVersion=HTTP1
  ent tcpListener name=t-in host=127.0.0.1 port=$RT address=bench/tcp-http
  ent tcpConnector name=t-out host=127.0.0.1 port=$UP address=bench/tcp-http
  ent tcpListener name=i-in host=127.0.0.1 port=$RI address=bench/iperf
  ent tcpConnector name=i-out host=127.0.0.1 port=$IP address=bench/iperf
} > "$DIR/one.conf"
start_router one
ROUTER_PID=$one_PID

# Two interior routers: the public side (listeners) and the target side (connectors).
IR=$(port); RH2=$(port); RT2=$(port); RI2=$(port)
{
  ent router mode=interior id=bench-public
  ent listener host=127.0.0.1 port=$IR role=inter-router saslMechanisms=ANONYMOUS
  ent httpListener name=h-in host=127.0.0.1 port=$RH2 address=bench2/http protocolVersion=HTTP1
  ent tcpListener name=t-in host=127.0.0.1 port=$RT2 address=bench2/tcp-http
  ent tcpListener name=i-in host=127.0.0.1 port=$RI2 address=bench2/iperf
} > "$DIR/public.conf"
start_router public
{
  ent router mode=interior id=bench-target
  ent connector host=127.0.0.1 port=$IR role=inter-router
  ent httpConnector name=h-out host=127.0.0.1 port=$UP address=bench2/http protocolVersion=HTTP1
  ent tcpConnector name=t-out host=127.0.0.1 port=$UP address=bench2/tcp-http
  ent tcpConnector name=i-out host=127.0.0.1 port=$IP address=bench2/iperf
} > "$DIR/target.conf"
start_router target

# ioFog's shape with fogmesh parts: proxy -> router -> proxy (standalone fogmesh-proxy).
PROXY=$(dirname "$ROUTER")/../proxy/fogmesh-proxy
NR=$(port); PH=$(port)
{
  ent router mode=standalone id=bench-network
  ent listener host=127.0.0.1 port=$NR saslMechanisms=ANONYMOUS
} > "$DIR/network.conf"
start_router network
if [ -x "$PROXY" ]; then
  "$PROXY" --router 127.0.0.1:$NR --id bench-ingress --log-level warning "http:127.0.0.1:$PH=>amqp:bench3/http" > "$DIR/p1.log" 2>&1 &
  PIDS+=($!)
  "$PROXY" --router 127.0.0.1:$NR --id bench-egress --log-level warning "amqp:bench3/http=>http:127.0.0.1:$UP" > "$DIR/p2.log" 2>&1 &
  PIDS+=($!)
fi

iperf3 -s -p "$IP" > "$DIR/iperf-server.log" 2>&1 &
PIDS+=($!)
wait_http "$RH" "router httpListener"
wait_http "$RH2" "two-router httpListener"
[ -x "$PROXY" ] && wait_http "$PH" "fogmesh-proxy pair"

rss() { awk '/VmRSS/ {print $2}' /proc/$ROUTER_PID/status; }
run_wrk() {  # $1 label, $2 port
  wrk -t1 -c50 -d3s "http://127.0.0.1:$2/" > /dev/null  # warm-up
  local out
  out=$(wrk -t1 -c50 -d"${SECS}s" --latency "http://127.0.0.1:$2/")
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  printf "| %-44s | %10s | %8s | %8s |\n" "$1" "$rps" "$p50" "$p99"
}
run_iperf() {  # $1 label, $2 port
  local bps
  bps=$(iperf3 -c 127.0.0.1 -p "$2" -t "$SECS" -f g | awk '/receiver/ {print $(NF-2), $(NF-1)}')
  printf "| %-44s | %s |\n" "$1" "$bps"
}

echo "date: $(date -u +%FT%TZ)  machine: $(nproc) vCPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "router: $ROUTER ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo
echo "| wrk -t1 -c50 -d${SECS}s, 100 B responses          |      req/s |      p50 |      p99 |"
echo "|---|---|---|---|"
run_wrk "nginx upstream direct" "$UP"
run_wrk "nginx reverse proxy (keep-alive upstream)" "$PX"
run_wrk "fogmesh-router httpListener -> httpConnector" "$RH"
run_wrk "fogmesh-router tcpListener -> tcpConnector" "$RT"
run_wrk "two routers, HTTP adaptors" "$RH2"
run_wrk "two routers, TCP adaptors" "$RT2"
[ -x "$PROXY" ] && run_wrk "fogmesh-proxy -> router -> fogmesh-proxy" "$PH"
echo
echo "router RSS after the HTTP runs: $(rss) KiB"
echo
echo "| iperf3 -t ${SECS} (1 stream)                        | receiver |"
echo "|---|---|"
run_iperf "direct" "$IP"
run_iperf "fogmesh-router tcpListener -> tcpConnector" "$RI"
run_iperf "two routers" "$RI2"
echo
echo "router RSS after iperf3: $(rss) KiB"
# Idle proxied TCP connections: router RSS per connection (both ends are in this router).
BEFORE=$(rss)
/usr/bin/python3 - "$RT" > "$DIR/idle.log" <<'EOF' &
import socket, sys, time
port = int(sys.argv[1])
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(1000)]
time.sleep(2)
print("open", flush=True)
time.sleep(4)
EOF
IDLE_PID=$!
for _ in $(seq 100); do grep -q open "$DIR/idle.log" 2>/dev/null && break; sleep 0.1; done
AFTER=$(rss)
wait $IDLE_PID
echo "router RSS with 1,000 idle proxied TCP connections: $BEFORE -> $AFTER KiB, $(( (AFTER - BEFORE) * 1024 / 1000 )) bytes each"
