#!/usr/bin/env bash
# Benchmarks of the Kubernetes side (issue 9; figures in benchmarks/RESULTS.md, "Kubernetes"):
# a real kube-apiserver 1.20 + etcd (scripts/kube-apiserver-up.sh, the test fixture's script, on
# its own ports and state so a running test instance is not touched) and a real
# fogmesh-controller on a fresh embedded PostgreSQL; k8sbench.py drives them through their REST
# APIs and prints `RESULT name value unit  # what` lines.
#
#   benchmarks/k8s/run.sh [k8sbench.py options] [operator] [idle] [kubelet]
#
# BUILD       build tree with k8s/ and controller/ (default build/k8s-release: RelWithDebInfo,
#             cmake -S . -B build/k8s-release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
#             -DFOGMESH_EXCLUDE_COMPONENTS="agent;ctl;proxy"; then
#             ninja -C build/k8s-release fogmesh-operator fogmesh-port-manager fogmesh-kubelet
#             fogmesh-controller)
# KUBECONFIG  use this API server instead of starting one (token + certificate-authority-data)
# APISERVER_PORT / ETCD_PORT / ETCD_PEER_PORT  ports of the one started here (26443/22379/22380)
# APISERVER_PROFILING=true  kube-apiserver serves /debug/pprof (for --pprof-apiserver S)
# Options of k8sbench.py: --agents N (1000) --microservices N (5000) --applications N (100)
#   --window S (60, the quiet window for request counts) --settle S (10, before idle RSS).
# Needs python3 (standard library only); the API server build is cached in ~/.cache/fogmesh-k8s.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${BUILD:-$root/build/k8s-release}" && pwd)
for bin in k8s/fogmesh-operator k8s/fogmesh-port-manager k8s/fogmesh-kubelet \
           controller/fogmesh-controller; do
  [ -x "$build/$bin" ] || { echo "run.sh: $build/$bin is missing (build it first)" >&2; exit 1; }
done

started=0
if [ -z "${KUBECONFIG:-}" ]; then
  export K8S_STATE=${K8S_STATE:-$(mktemp -d /tmp/k8sbench-apiserver.XXXXXX)}
  export APISERVER_PORT=${APISERVER_PORT:-26443} ETCD_PORT=${ETCD_PORT:-22379}
  export ETCD_PEER_PORT=${ETCD_PEER_PORT:-22380}
  KUBECONFIG=$("$root/scripts/kube-apiserver-up.sh" up)
  started=1
fi
stop() {
  if [ $started = 1 ]; then
    "$root/scripts/kube-apiserver-up.sh" down || true
    rmdir "$K8S_STATE" 2>/dev/null || true
  fi
}
trap stop EXIT

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
  "build $(grep -m1 CMAKE_BUILD_TYPE: "$build/CMakeCache.txt" | cut -d= -f2)"
state_args=()
[ -z "${K8S_STATE:-}" ] || state_args=(--apiserver-state "$K8S_STATE")
python3 "$here/k8sbench.py" --kubeconfig "$KUBECONFIG" --bin-dir "$build/k8s" \
  --controller "$build/controller/fogmesh-controller" "${state_args[@]}" "$@"
echo "# done, load average $(cut -d' ' -f1-3 /proc/loadavg)"
