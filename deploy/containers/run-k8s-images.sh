#!/usr/bin/env bash
# Runs the Kubernetes images (fogmesh-operator, fogmesh-port-manager, fogmesh-kubelet, built by
# build-images.sh) under podman against a real API server, as their Deployments would: uid 65532,
# read-only root filesystem, a kubeconfig mounted read-only, host network (the API server of the
# test tool listens on loopback). Checks, for each image: --help; it takes its leader Lease in a
# fresh namespace; the operator (with --install-crds) writes the children of a ControlPlane from
# inside the container (with the in-cluster PostgreSQL StatefulSet, whose container is then run on
# the controller image when it is there); `podman stop` (SIGTERM) → exit 0 and the Lease released.
#
#   deploy/containers/run-k8s-images.sh KUBECONFIG [TAG (default dev)]
#
# KUBECONFIG: e.g. the one `scripts/kube-apiserver-up.sh up` prints (token + embedded CA).
# KUBECTL (default $K8S_HOME/bin/kubectl, the test tool's). PODMAN (default podman).
# PODMAN_RUN_ARGS: extra `podman run` arguments. Default: --ulimit nofile=<hard limit of this
# shell> and nproc=32768 — podman's defaults (nofile 1048576) are above what root may set on a host
# without CAP_SYS_RESOURCE, and runc then fails with "error setting rlimit type 7: operation not
# permitted" (../shared/reference/environment.md §4).
# The controller is not started: the operator's ControlPlane stays `deploying`
# (WaitingForController) once its children are written; that is all this checks of it.
set -euo pipefail
kubeconfig=${1:?usage: run-k8s-images.sh KUBECONFIG [TAG]}
tag=${2:-dev}
podman=${PODMAN:-podman}
kubectl=${KUBECTL:-${K8S_HOME:-$HOME/.cache/fogmesh-k8s}/bin/kubectl}
[ -n "${PODMAN_RUN_ARGS+x}" ] || PODMAN_RUN_ARGS="--ulimit nofile=$(ulimit -Hn):$(ulimit -Hn) --ulimit nproc=32768:32768"
read -r -a run_args <<< "$PODMAN_RUN_ARGS"
k() { "$kubectl" --kubeconfig "$kubeconfig" "$@"; }

work=$(mktemp -d)
ns=podman-images-$$
names=()
cleanup() {
  for n in "${names[@]}"; do $podman rm -f "$n" >/dev/null 2>&1 || true; done
  k delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cp "$kubeconfig" "$work/kubeconfig" && chmod 755 "$work" && chmod 644 "$work/kubeconfig"
k create namespace "$ns" >/dev/null

fail() { echo "run-k8s-images: FAIL: $*" >&2; exit 1; }
holder() { k -n "$ns" get lease "$1" -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null || true; }
wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local until=$((SECONDS + $1)) what=$2; shift 2
  until "$@"; do [ $SECONDS -lt $until ] || return 1; sleep 0.5; done
}

# The operator's StatefulSet `postgres` runs the controller image's PostgreSQL: its container as
# stored by the API server (command, env; the password from its Secret) is run here with podman
# as the pod would (uid 102, a volume writable for it), on a free port of the host network; then
# a password login over TCP into its database (psql of the host). Skipped without the controller
# image (build-images.sh BUILD_DIR TAG controller).
postgres_from_controller_image() {
  local image=localhost/fogmesh-controller:$tag
  if ! $podman image exists "$image"; then
    echo "postgres: $image missing, StatefulSet container not run"
    return
  fi
  local sts port password env_args=() name=fogmesh-postgres-$$
  sts=$(k -n "$ns" get statefulset postgres -o json)
  password=$(k -n "$ns" get secret postgres -o 'jsonpath={.data.password}' | base64 -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  while IFS= read -r line; do env_args+=(-e "$line"); done < <(python3 -c '
import json, sys
c = json.load(sys.stdin)["spec"]["template"]["spec"]["containers"][0]
for e in c["env"]:
    if "value" in e:
        print(e["name"] + "=" + (sys.argv[1] if e["name"] == "PGPORT" else e["value"]))
' "$port" <<< "$sts")
  env_args+=(-e "POSTGRES_PASSWORD=$password")
  mkdir -p "$work/pgdata" && chown 102:102 "$work/pgdata"
  names+=("$name")
  local uid cmd
  uid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["template"]["spec"]["securityContext"]["runAsUser"])' <<< "$sts")
  cmd=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["template"]["spec"]["containers"][0]["command"][2])' <<< "$sts")
  $podman run -d --name "$name" "${run_args[@]}" --network host --user "$uid:$uid" "${env_args[@]}" \
    -v "$work/pgdata:/var/lib/postgresql/data" --entrypoint /bin/sh "$image" -c "$cmd" > /dev/null
  pg_up() { PGPASSWORD=$password psql -h 127.0.0.1 -p "$port" -U fogmesh -d fogmesh -Atc 'select 1' > /dev/null 2>&1; }
  wait_for 90 postgres pg_up || { $podman logs "$name" | tail -20 >&2; fail "the StatefulSet's PostgreSQL did not come up"; }
  PGPASSWORD=wrong psql -h 127.0.0.1 -p "$port" -U fogmesh -d fogmesh -Atc 'select 1' > /dev/null 2>&1 &&
    fail "the StatefulSet's PostgreSQL let a wrong password in"
  $podman stop -t 20 "$name" > /dev/null
  echo "postgres: the StatefulSet's container ran on $image (uid $uid): initdb, database fogmesh, password login over TCP, wrong password refused"
}

for img in operator port-manager kubelet; do
  image=localhost/fogmesh-$img:$tag
  $podman image exists "$image" || fail "$image is missing (deploy/containers/build-images.sh BUILD_DIR $tag $img)"
  $podman run --rm "${run_args[@]}" "$image" --help > /dev/null || fail "$image --help"
  name=fogmesh-$img-$$
  names+=("$name")
  args=(--kubeconfig /kubeconfig --namespace "$ns" --controller-url http://127.0.0.1:9)
  case $img in
    operator) args+=(--install-crds) ;;
    port-manager) args+=(--email admin@example.com --password password1
                         --router-address router:5672 --proxy-image "localhost/fogmesh-router:$tag") ;;
    kubelet) args+=(--email admin@example.com --password password1) ;;
  esac
  $podman run -d --name "$name" "${run_args[@]}" --network host --read-only --user 65532:65532 \
    -e POD_NAME="$name" -v "$work/kubeconfig:/kubeconfig:ro" "$image" "${args[@]}" > /dev/null
  lease=fogmesh-$img
  holds() { [ "$(holder "$lease")" = "$name" ]; }
  wait_for 60 "Lease $lease" holds ||
    { $podman logs "$name" | tail -20 >&2; fail "$img did not take the Lease $lease"; }
  echo "$img: took the Lease $lease in namespace $ns"
  if [ $img = operator ]; then
    k -n "$ns" apply -f - > /dev/null <<EOF
apiVersion: iofog.org/v3
kind: ControlPlane
metadata: {name: iofog}
spec:
  user: {name: Ada, surname: Admin, email: admin@example.com, password: c2VjcmV0LXBhc3N3b3Jk}
  services: {controller: {type: ClusterIP}, router: {type: ClusterIP}}
  database: {statefulSet: {storage: 1Gi}}
EOF
    children() { k -n "$ns" get deployment/controller deployment/router deployment/port-manager statefulset/postgres > /dev/null 2>&1; }
    wait_for 60 "children" children ||
      { $podman logs "$name" | tail -20 >&2; fail "the operator wrote no children"; }
    echo "operator: wrote the ControlPlane's children ($(k -n "$ns" get deployments,statefulsets -o name | tr '\n' ' '))"
    postgres_from_controller_image
  fi
  $podman stop -t 20 "$name" > /dev/null
  code=$($podman inspect "$name" --format '{{.State.ExitCode}}')
  [ "$code" = 0 ] || { $podman logs "$name" | tail -20 >&2; fail "$img exited $code on SIGTERM"; }
  [ -z "$(holder "$lease")" ] || fail "$img did not release the Lease $lease"
  echo "$img: SIGTERM → exit 0, Lease released"
done
echo "run-k8s-images: all three images ran under podman against $(k config view -o 'jsonpath={.clusters[0].cluster.server}')"
