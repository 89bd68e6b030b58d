#!/usr/bin/env bash
# Installs every Debian 12 package fogmesh needs to build, test and benchmark.
# Idempotent; run as root (or with sudo available). Set FOGMESH_SKIP_APT=1 to skip.
set -euo pipefail
[ "${FOGMESH_SKIP_APT:-0}" = 1 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates procps
  liburing-dev libssl-dev
  libqpid-proton-cpp12-dev libqpid-proton11-dev python3-qpid-proton python3 python3-yaml
  libboost1.81-dev libboost-system1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libboost-program-options1.81-dev
  libgtest-dev libgmock-dev libbenchmark-dev libspdlog-dev libfmt-dev
  clang-14 libclang-rt-14-dev
  libpqxx-dev libpq-dev postgresql libsodium-dev
  libyaml-cpp-dev
  openssl
  nginx-light wrk iperf3
  flatbuffers-compiler libflatbuffers-dev
  podman runc conmon catatonit netavark aardvark-dns containernetworking-plugins uidmap
  busybox-static iptables curl
  openssh-client openssh-server
  python3-pyftpdlib
  docker-registry apache2-utils
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
