#!/usr/bin/env bash
# Builds the container images of fogmesh-router, fogmesh-controller and fogmesh-agent from a
# build tree's binaries, offline: each image is busybox-static + the binaries + exactly the
# shared libraries they load (from ldd), FROM scratch — no base image, no registry.
# Usage: deploy/containers/build-images.sh [BUILD_DIR (default build/release)] [TAG (default dev)]
# Images: localhost/fogmesh-{router,controller,agent}:TAG (podman; PODMAN="podman --root ..." works).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../../build/release}" && pwd)
tag=${2:-dev}
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
  mv "$rootfs$path" "$rootfs/usr/local/bin/"
}

router=$(new_rootfs router)
install_binary "$router" router-core/fogmesh-router
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

controller=$(new_rootfs controller)
install_binary "$controller" controller/fogmesh-controller
pg=/usr/lib/postgresql/15
[ -x $pg/bin/initdb ] || { echo "build-images: PostgreSQL 15 is not installed ($pg)" >&2; exit 1; }
add_with_libraries "$controller" $pg/bin/initdb $pg/bin/pg_ctl $pg/bin/postgres $pg/bin/pg_isready
cp -a $pg/lib "$controller$pg/"
mkdir -p "$controller/usr/share/postgresql" && cp -a /usr/share/postgresql/15 "$controller/usr/share/postgresql/"
for so in "$controller$pg"/lib/*.so; do add_with_libraries "$controller" "${so#"$controller"}" 2>/dev/null || true; done
mkdir -p "$controller/var/lib/fogmesh-controller" "$controller/var/run/postgresql"

agent=$(new_rootfs agent)
install_binary "$agent" agent/fogmesh-agent
install_binary "$agent" router-core/fogmesh-router
mkdir -p "$agent/etc/fogmesh/agent"

for name in router controller agent; do
  rm -rf "${work:?}/$name$build"  # the copies left at the build tree's path
  $podman build -q -f "$here/$name.Containerfile" -t "localhost/fogmesh-$name:$tag" "$work/$name" >/dev/null
  echo "localhost/fogmesh-$name:$tag  $($podman image inspect --format '{{.Size}}' "localhost/fogmesh-$name:$tag" | awk '{printf "%.0f MB", $1/1e6}')"
done
