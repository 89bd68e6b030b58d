#!/usr/bin/env bash
# Builds the container images of fogmesh-router, fogmesh-controller, fogmesh-agent and the
# Kubernetes side (fogmesh-operator, fogmesh-port-manager, fogmesh-kubelet) from a build tree's
# binaries, offline: each image is busybox-static + the binaries + exactly the shared libraries
# they load (from ldd), FROM scratch — no base image, no registry.
# Usage: deploy/containers/build-images.sh [BUILD_DIR (default build/release)] [TAG (default dev)]
#                                          [IMAGE...]   (default: router controller agent
#                                                        operator port-manager kubelet)
# Images: localhost/fogmesh-NAME:TAG (podman; PODMAN="podman --root ..." works). REGISTRY=R also
# tags each as R/NAME:TAG, e.g. REGISTRY=ghcr.io/fogmesh TAG 0.1.0 gives the names that
# deploy/kubernetes and the operator's defaults use (ghcr.io/fogmesh/operator:0.1.0, ...).
# The router image carries fogmesh-proxy too when the build tree has it: the port manager's proxy
# Deployment runs `fogmesh-proxy` from the router image.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../../build/release}" && pwd)
tag=${2:-dev}
shift $(($# < 2 ? $# : 2))
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(router controller agent operator port-manager kubelet)
for name in "${images[@]}"; do
  case $name in
    router | controller | agent | operator | port-manager | kubelet) ;;
    *) echo "build-images: unknown image '$name' (router controller agent operator port-manager kubelet)" >&2; exit 2 ;;
  esac
done
wanted() { [[ " ${images[*]} " == *" $1 "* ]]; }
podman=${PODMAN:-podman}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Copies files (and the shared libraries they need) into a root filesystem at the same paths.
add_with_libraries() {
  local rootfs=$1; shift
  for f in "$@"; do
    mkdir -p "$rootfs$(dirname "$f")"
    cp -L "$f" "$rootfs$f"
    ldd "$f" 2>/dev/null | awk '/=> \// {print $3} /^\t\/.*ld-linux/ {print $1}' | while read -r lib; do
      [ -e "$rootfs$lib" ] && continue
      mkdir -p "$rootfs$(dirname "$lib")"
      cp -L "$lib" "$rootfs$lib"
    done
  done
}

new_rootfs() {
  local rootfs=$work/$1
  mkdir -p "$rootfs"/{bin,etc,tmp,usr/local/bin,var/lib,etc/fogmesh} && chmod 1777 "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:102:102:PostgreSQL:/var/lib/postgresql:/bin/sh\n' > "$rootfs/etc/passwd"
  printf 'root:x:0:\npostgres:x:102:\n' > "$rootfs/etc/group"
  echo "$rootfs"
}

binary() {
  local path=$build/$1
  [ -x "$path" ] || { echo "build-images: $path is missing (build it first)" >&2; exit 1; }
  echo "$path"
}

# A build-tree binary into /usr/local/bin of the root filesystem, with its libraries.
install_binary() {
  local rootfs=$1 path
  path=$(binary "$2")
  add_with_libraries "$rootfs" "$path"
  # Debug information stays in the build tree (RelWithDebInfo binaries are mostly DWARF: the
  # three Kubernetes binaries made a 193 MB image with it, 28 MB without).
  strip --strip-debug "$rootfs$path"
  mv "$rootfs$path" "$rootfs/usr/local/bin/"
}

if wanted router; then
  router=$(new_rootfs router)
  install_binary "$router" router-core/fogmesh-router
  [ -x "$build/proxy/fogmesh-proxy" ] && install_binary "$router" proxy/fogmesh-proxy
  cat > "$router/etc/fogmesh/router.conf" <<'CONF'
router {
    mode: interior
    id: fogmesh-router
}
listener {
    host: 0.0.0.0
    port: 5672
    saslMechanisms: ANONYMOUS
}
CONF
fi

if wanted controller; then
  controller=$(new_rootfs controller)
  install_binary "$controller" controller/fogmesh-controller
  pg=/usr/lib/postgresql/15
  [ -x $pg/bin/initdb ] || { echo "build-images: PostgreSQL 15 is not installed ($pg)" >&2; exit 1; }
  add_with_libraries "$controller" $pg/bin/initdb $pg/bin/pg_ctl $pg/bin/postgres $pg/bin/pg_isready
  cp -a $pg/lib "$controller$pg/"
  mkdir -p "$controller/usr/share/postgresql" && cp -a /usr/share/postgresql/15 "$controller/usr/share/postgresql/"
  for so in "$controller$pg"/lib/*.so; do add_with_libraries "$controller" "${so#"$controller"}" 2>/dev/null || true; done
  mkdir -p "$controller/var/lib/fogmesh-controller" "$controller/var/run/postgresql"
fi

if wanted agent; then
  agent=$(new_rootfs agent)
  install_binary "$agent" agent/fogmesh-agent
  install_binary "$agent" router-core/fogmesh-router
  mkdir -p "$agent/etc/fogmesh/agent"
fi

# The Kubernetes side: one root filesystem with the three binaries (they link the same
# libraries), three images that differ only in their entry point, so podman stores the files once.
# In a pod they run as an unprivileged user (uid 65532, the manifests' securityContext) and find
# the API server through the service account; DNS through the pod's /etc/resolv.conf.
if wanted operator || wanted port-manager || wanted kubelet; then
  k8s_root=$(new_rootfs k8s)
  for bin in operator port-manager kubelet; do install_binary "$k8s_root" "k8s/fogmesh-$bin"; done
  printf 'nonroot:x:65532:65532:nonroot:/tmp:/bin/sh\n' >> "$k8s_root/etc/passwd"
  printf 'nonroot:x:65532:\n' >> "$k8s_root/etc/group"
  printf 'hosts: files dns\n' > "$k8s_root/etc/nsswitch.conf"
  # TLS to servers outside the cluster (an https controller URL): the host's CA bundle.
  [ -f /etc/ssl/certs/ca-certificates.crt ] && mkdir -p "$k8s_root/etc/ssl/certs" &&
    cp /etc/ssl/certs/ca-certificates.crt "$k8s_root/etc/ssl/certs/"
  rm -rf "${work:?}/k8s$build"
  for bin in operator port-manager kubelet; do ln -sfn k8s "$work/$bin"; done
fi

for name in "${images[@]}"; do
  rm -rf "${work:?}/$name$build"  # the copies left at the build tree's path
  $podman build -q -f "$here/$name.Containerfile" -t "localhost/fogmesh-$name:$tag" "$work/$name/" >/dev/null
  [ -z "${REGISTRY:-}" ] || $podman tag "localhost/fogmesh-$name:$tag" "$REGISTRY/$name:$tag"
  echo "localhost/fogmesh-$name:$tag${REGISTRY:+ ($REGISTRY/$name:$tag)}  $($podman image inspect --format '{{.Size}}' "localhost/fogmesh-$name:$tag" | awk '{printf "%.0f MB", $1/1e6}')"
done
