#!/usr/bin/env bash
# kube-apiserver-up.sh - (copy of the team tool shared/tools/k8s/kube-apiserver-up.sh, used by the k8s/ ctest
# fixture; adds K8S_STATE and `restart-apiserver`) a REAL Kubernetes API server (v1.20.2, built from Debian 12's `kubernetes` source
# package) + etcd 3.4 (Debian `etcd-server`) on loopback, offline, for testing the C++ operator.
# No controller-manager, scheduler or kubelet: objects are stored/validated/watched, but nothing reconciles them
# (Deployments get no ReplicaSets/Pods, LoadBalancer Services get no ingress IP, no GC of ownerReferences,
#  deleted namespaces stay Terminating).
#
# Usage:  ../shared/tools/k8s/kube-apiserver-up.sh [up|down|status|env|build]   (cache: $K8S_HOME)
#   build   install Debian deps, `apt-get source kubernetes`, go build cmd/kube-apiserver (cold: ~1.6 min on
#           2 cores), extract kubectl 1.20.2 from Debian's kubernetes-client .deb (no dpkg install, no conflict)
#   up      (default) build if missing; start etcd + kube-apiserver on 127.0.0.1 with a fresh temp data dir;
#           prints the kubeconfig path (admin token, system:masters). Idempotent: if running, just prints it.
#   down    stop both (by recorded PID), delete the temp data dir (KEEP=1 keeps it)
#   status  show PIDs / readiness;  env  print `export KUBECONFIG=...`
# WITH_KCM=1 also builds (+~27 s) and runs kube-controller-manager: ownerReference GC (custom-resource owners are
#   picked up only ~30-40 s after a new CRD), namespace finalization, Deployment->ReplicaSet->Pods (stay Pending: no
#   scheduler/kubelet), default ServiceAccounts. LoadBalancer Services stay <pending> either way (no cloud).
# restart-apiserver  stop kube-apiserver and start it again on the same etcd/data (tests: watch resumption)
# Env knobs: K8S_STATE ($K8S_HOME/run) ETCD_PORT (2379) ETCD_PEER_PORT (2380) APISERVER_PORT (6443) AUTHZ_MODE (RBAC; or AlwaysAllow)
#            APISERVER_V (1)  APISERVER_PROFILING (false; true serves /debug/pprof)  FORCE=1 rebuild  K8S_BUILD_TAGS (providerless; set empty for cloud providers).
# Files in the data dir: kubeconfig (admin), kubeconfig-operator (user "operator", no RBAC grants: bind a
#   ClusterRole to User "operator" to test least-privilege), pki/ca.crt (verifies the serving cert for
#   127.0.0.1 / localhost), tokens.csv, etcd.log, kube-apiserver.log.
set -euo pipefail

K8S=${K8S_HOME:-$HOME/.cache/fogmesh-k8s}
BIN=$K8S/bin
STATE=${K8S_STATE:-$K8S/run}   # pid files + data dir pointer: one per running instance
ETCD_PORT=${ETCD_PORT:-2379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-2380}
APISERVER_PORT=${APISERVER_PORT:-6443}
AUTHZ_MODE=${AUTHZ_MODE:-RBAC}
K8S_VERSION=v1.20.2
K8S_BUILD_TAGS=${K8S_BUILD_TAGS-providerless}   # no in-tree cloud providers: 96 s / 61 MB instead of 153 s / 110 MB
log() { echo "[kube-apiserver-up] $*" >&2; }

apt_ready=0
need_pkgs() {   # install missing Debian packages
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ $apt_ready = 1 ] || { apt-get update -q >/dev/null; apt_ready=1; }
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
}

enable_deb_src() {  # apt-get source needs deb-src entries mirroring the deb ones
  if apt-get source --print-uris -q kubernetes >/dev/null 2>&1; then return 0; fi
  local f changed=0
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    grep -q 'debian' "$f" && grep -q '^Types: deb$' "$f" && { sed -i 's/^Types: deb$/Types: deb deb-src/' "$f"; changed=1; log "enabled deb-src in $f"; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    if grep -qE '^deb .*debian' "$f" && ! grep -qE '^deb-src ' "$f"; then
      grep -E '^deb .*debian' "$f" | sed 's/^deb /deb-src /' >> "$f"; changed=1; log "enabled deb-src in $f"
    fi
  done
  [ $changed = 1 ] || true
  apt-get update -q >/dev/null; apt_ready=1
}

src_dir() { ls -d "$K8S"/kubernetes-*/ 2>/dev/null | head -1 | sed 's:/$::'; }

build() {
  need_pkgs golang-go etcd-server openssl curl dpkg-dev make rsync golang-github-modern-go-reflect2-dev
  mkdir -p "$K8S" "$BIN"
  if [ -z "$(src_dir)" ]; then
    enable_deb_src
    log "apt-get source kubernetes -> $K8S"
    (cd "$K8S" && apt-get source -q kubernetes >/dev/null 2>&1)
  fi
  local SRC; SRC=$(src_dir)
  [ -d "$SRC/cmd/kube-apiserver" ] || { log "no kubernetes source under $K8S"; exit 1; }
  local V=k8s.io/kubernetes/vendor/k8s.io/component-base/version
  local C=k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version
  local LDF="-s -w -X $V.gitVersion=$K8S_VERSION -X $V.gitMajor=1 -X $V.gitMinor=20 -X $V.gitTreeState=archive"
  LDF="$LDF -X $C.gitVersion=$K8S_VERSION -X $C.gitMajor=1 -X $C.gitMinor=20"
  if [ ! -x "$BIN/kube-apiserver" ] || [ "${FORCE:-0}" = 1 ]; then
    # k8s 1.20 builds in GOPATH mode (as hack/lib/golang.sh and debian/rules do). Module mode with
    # -mod=vendor fails on Go 1.19: "updates to go.mod needed, disabled by -mod=vendor".
    # pkg/generated/openapi/zz_generated.openapi.go is not in the tarball (upstream `make` generates it);
    # without it: "cmd/kube-apiserver/app/server.go: undefined: openapi.GetOpenAPIDefinitions". ~15 s.
    if [ ! -f "$SRC/pkg/generated/openapi/zz_generated.openapi.go" ]; then
      log "make gen_openapi"
      (cd "$SRC" && GOCACHE="$K8S/gocache" GOPROXY=off nice -n 10 make gen_openapi >"$K8S/gen_openapi.log" 2>&1) \
        || { log "make gen_openapi failed, see $K8S/gen_openapi.log"; exit 1; }
    fi
    # vendored github.com/modern-go/reflect2 v1.0.1 breaks under Go >= 1.18: the apiserver dies with
    # "fatal error: fault ... runtime.mapiternext ... reflect2.(*UnsafeMapType).UnsafeIterate" on the first
    # custom-resource create. Swap in Debian's reflect2 1.0.2 (API-compatible; what k8s >= 1.23 vendors).
    local R2=$SRC/vendor/github.com/modern-go/reflect2
    if [ ! -f "$R2/go_above_118.go" ]; then
      log "replacing vendored modern-go/reflect2 1.0.1 with Debian's 1.0.2"
      rm -f "$R2"/*.go "$R2"/*.s
      cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$R2/"
    fi
    mkdir -p "$SRC/.go/src/k8s.io"
    [ -L "$SRC/.go/src/k8s.io/kubernetes" ] || ln -s ../../.. "$SRC/.go/src/k8s.io/kubernetes"
    log "building kube-apiserver (GOPATH mode, -p 2, nice; cold build ~1.6 min on 2 cores, 0.8 GB RAM, 0.7 GB GOCACHE)"
    local t0=$SECONDS
    (cd "$SRC/.go/src/k8s.io/kubernetes" && \
      CGO_ENABLED=0 GO111MODULE=off GOPATH="$SRC/.go" GOCACHE="$K8S/gocache" GOPROXY=off GOFLAGS= \
      nice -n 10 go build -p 2 -trimpath -tags "$K8S_BUILD_TAGS" -ldflags "$LDF" -o "$BIN/kube-apiserver" ./cmd/kube-apiserver)
    log "built $BIN/kube-apiserver in $((SECONDS - t0)) s"
  fi
  if [ "${WITH_KCM:-0}" = 1 ] && { [ ! -x "$BIN/kube-controller-manager" ] || [ "${FORCE:-0}" = 1 ]; }; then
    local t1=$SECONDS
    (cd "$SRC/.go/src/k8s.io/kubernetes" && \
      CGO_ENABLED=0 GO111MODULE=off GOPATH="$SRC/.go" GOCACHE="$K8S/gocache" GOPROXY=off GOFLAGS= \
      nice -n 10 go build -p 2 -trimpath -tags "$K8S_BUILD_TAGS" -ldflags "$LDF" -o "$BIN/kube-controller-manager" ./cmd/kube-controller-manager)
    log "built $BIN/kube-controller-manager in $((SECONDS - t1)) s"
  fi
  if [ ! -x "$BIN/kubectl" ]; then   # kubectl 1.20.2 matching the server, without touching /usr/bin/kubectl
    [ $apt_ready = 1 ] || { apt-get update -q >/dev/null; apt_ready=1; }
    local tmpd; tmpd=$(mktemp -d)
    (cd "$tmpd" && apt-get download -q kubernetes-client >/dev/null 2>&1 && dpkg -x kubernetes-client_*.deb x) \
      && cp "$tmpd/x/usr/bin/kubectl" "$BIN/kubectl" || log "could not fetch kubernetes-client; use any kubectl"
    rm -rf "$tmpd"
  fi
}

pid_alive() {   # PID exists and its argv[0] is the expected binary
  local p=$1 bin=$2 a0; [ -n "$p" ] && [ -r "/proc/$p/cmdline" ] || return 1
  a0=$(tr '\0' '\n' <"/proc/$p/cmdline" | head -1); [ "${a0##*/}" = "$bin" ]; }
read_state() { ETCD_PID=$(cat "$STATE/etcd.pid" 2>/dev/null || true); API_PID=$(cat "$STATE/apiserver.pid" 2>/dev/null || true)
               KCM_PID=$(cat "$STATE/kcm.pid" 2>/dev/null || true)
               DATA=$(cat "$STATE/datadir" 2>/dev/null || true); }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_apiserver() {   # uses DATA, K; waits for /readyz; returns 1 if it did not become ready
  local K=$DATA/pki ADMIN_TOKEN i
  ADMIN_TOKEN=$(head -1 "$DATA/tokens.csv" | cut -d, -f1)
  nohup "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" --insecure-port=0 \
    --tls-cert-file="$K/apiserver.crt" --tls-private-key-file="$K/apiserver.key" --client-ca-file="$K/ca.crt" \
    --token-auth-file="$DATA/tokens.csv" --authorization-mode="$AUTHZ_MODE" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$K/sa.pub" --service-account-signing-key-file="$K/sa.key" \
    --service-cluster-ip-range=10.96.0.0/12 --disable-admission-plugins=ServiceAccount \
    --allow-privileged=true --profiling="${APISERVER_PROFILING:-false}" --v="${APISERVER_V:-1}" \
    >"$DATA/kube-apiserver.log" 2>&1 </dev/null &
  echo $! > "$STATE/apiserver.pid"
  ok=0
  for i in $(seq 1 600); do
    pid_alive "$(cat "$STATE/apiserver.pid")" kube-apiserver || break
    if [ "$(curl -s --cacert "$K/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
           "https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null)" = ok ]; then ok=1; break; fi
    sleep 0.1
  done
  [ $ok = 1 ]
}

up() {
  read_state
  if pid_alive "$API_PID" kube-apiserver && pid_alive "$ETCD_PID" etcd; then
    log "already running (etcd $ETCD_PID, kube-apiserver $API_PID)"; echo "$DATA/kubeconfig"; return 0
  fi
  [ -n "$API_PID$ETCD_PID$KCM_PID" ] && down
  [ -x "$BIN/kube-apiserver" ] && command -v etcd >/dev/null && command -v openssl >/dev/null \
    && { [ "${WITH_KCM:-0}" != 1 ] || [ -x "$BIN/kube-controller-manager" ]; } || build
  local p; for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT"; do
    port_busy "$p" && { log "port 127.0.0.1:$p already in use"; exit 1; }; done
  mkdir -p "$STATE"
  DATA=$(mktemp -d -t k8s-test.XXXXXX); echo "$DATA" > "$STATE/datadir"
  mkdir -p "$DATA/pki"; local K=$DATA/pki
  # PKI: own CA so clients can verify TLS (kubeconfig carries ca.crt); SA signing key pair
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=test-kube-ca" \
    -keyout "$K/ca.key" -out "$K/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$K/apiserver.key" -out "$K/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' > "$K/ext.cnf"
  openssl x509 -req -in "$K/apiserver.csr" -CA "$K/ca.crt" -CAkey "$K/ca.key" -CAcreateserial -days 30 \
    -extfile "$K/ext.cnf" -out "$K/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$K/sa.key" 2048 2>/dev/null; openssl rsa -in "$K/sa.key" -pubout -out "$K/sa.pub" 2>/dev/null
  local ADMIN_TOKEN OP_TOKEN; ADMIN_TOKEN=$(openssl rand -hex 16); OP_TOKEN=$(openssl rand -hex 16)
  printf '%s,admin,admin-uid,"system:masters"\n%s,operator,operator-uid\n' "$ADMIN_TOKEN" "$OP_TOKEN" > "$DATA/tokens.csv"

  local t0; t0=$(date +%s.%N)
  nohup etcd --name default --data-dir "$DATA/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
    >"$DATA/etcd.log" 2>&1 </dev/null &
  echo $! > "$STATE/etcd.pid"
  local i; for i in $(seq 1 100); do curl -sf "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
  local ok=1; start_apiserver || ok=0
  if [ $ok != 1 ]; then log "kube-apiserver did not become ready; tail of $DATA/kube-apiserver.log:"; tail -20 "$DATA/kube-apiserver.log" >&2; down; exit 1; fi
  log "ready in $(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo '?') s (etcd $(cat "$STATE/etcd.pid"), kube-apiserver $(cat "$STATE/apiserver.pid"))"
  local u t; for u in admin operator; do
    [ $u = admin ] && t=$ADMIN_TOKEN || t=$OP_TOKEN
    cat > "$DATA/kubeconfig$([ $u = admin ] || echo -operator)" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 < "$K/ca.crt")
users:
- name: $u
  user:
    token: $t
contexts:
- name: local
  context: {cluster: local, user: $u, namespace: default}
current-context: local
EOF
  done
  if [ "${WITH_KCM:-0}" = 1 ]; then   # GC of ownerReferences, namespace finalization, Deployment->RS->Pods, SAs
    nohup "$BIN/kube-controller-manager" --kubeconfig="$DATA/kubeconfig" --bind-address=127.0.0.1 \
      --secure-port=0 --port=0 --leader-elect=false --use-service-account-credentials=false \
      --service-account-private-key-file="$K/sa.key" --root-ca-file="$K/ca.crt" \
      --cluster-signing-cert-file="$K/ca.crt" --cluster-signing-key-file="$K/ca.key" --v=1 \
      >"$DATA/kube-controller-manager.log" 2>&1 </dev/null &
    echo $! > "$STATE/kcm.pid"; log "kube-controller-manager $(cat "$STATE/kcm.pid")"
  fi
  echo "$DATA/kubeconfig"
}

down() {
  read_state
  local p bin
  for p in "$KCM_PID:kube-controller-manager" "$API_PID:kube-apiserver" "$ETCD_PID:etcd"; do
    bin=${p#*:}; p=${p%%:*}
    if pid_alive "$p" "$bin"; then
      kill "$p"; for _ in $(seq 1 100); do pid_alive "$p" "$bin" || break; sleep 0.1; done
      pid_alive "$p" "$bin" && kill -9 "$p"; log "stopped $bin ($p)"
    fi
  done
  if [ -n "$DATA" ] && [ -d "$DATA" ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$DATA"; fi
  rm -f "$STATE/etcd.pid" "$STATE/apiserver.pid" "$STATE/kcm.pid" "$STATE/datadir"
}

restart_apiserver() {
  read_state
  pid_alive "$API_PID" kube-apiserver || { log "kube-apiserver is not running"; exit 1; }
  kill "$API_PID"; for _ in $(seq 1 100); do pid_alive "$API_PID" kube-apiserver || break; sleep 0.1; done
  pid_alive "$API_PID" kube-apiserver && kill -9 "$API_PID"
  local ok=1; start_apiserver || ok=0
  [ $ok = 1 ] || { log "kube-apiserver did not come back; see $DATA/kube-apiserver.log"; exit 1; }
  log "kube-apiserver restarted ($(cat "$STATE/apiserver.pid"))"
}

status() {
  read_state
  pid_alive "$ETCD_PID" etcd && echo "etcd: running pid $ETCD_PID" || echo "etcd: not running"
  [ -z "$KCM_PID" ] || { pid_alive "$KCM_PID" kube-controller-manager && echo "kube-controller-manager: running pid $KCM_PID" || echo "kube-controller-manager: not running"; }
  pid_alive "$API_PID" kube-apiserver && echo "kube-apiserver: running pid $API_PID, kubeconfig $DATA/kubeconfig" \
    || { echo "kube-apiserver: not running"; return 1; }
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) read_state; echo "export KUBECONFIG=$DATA/kubeconfig" ;;
  build) build ;;
  restart-apiserver) restart_apiserver ;;
  *) echo "usage: $0 [up|down|status|env|build|restart-apiserver]" >&2; exit 2 ;;
esac
