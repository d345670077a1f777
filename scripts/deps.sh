#!/usr/bin/env bash
# Installs what building, running and testing imagegate needs on Debian bookworm (as root).
set -euo pipefail
packages=(
  build-essential cmake pkg-config make git ca-certificates
  libboost-json1.81-dev libboost1.81-dev libcpp-httplib-dev libspdlog-dev libssl-dev doctest-dev
  libbenchmark-dev clang-14 clang-format-14 libclang-rt-14-dev
  docker.io docker-registry busybox-static curl openssl systemd jq python3 dpkg-dev file nginx-light
  golang-go golang-github-docker-docker-dev
  golang-github-containers-image-dev
)
# The trust tests' independent signer (tests/signer) is built from Debian's sigstore library,
# which bookworm has in bookworm-backports only.
backports=(golang-github-sigstore-sigstore-dev)

# missing_of PACKAGE...: prints those not installed.
missing_of() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
export DEBIAN_FRONTEND=noninteractive
mapfile -t missing < <(missing_of "${packages[@]}")
if ((${#missing[@]})); then
  echo "imagegate: installing ${missing[*]}" >&2
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
mapfile -t missing < <(missing_of "${backports[@]}")
if ((${#missing[@]})); then
  echo "imagegate: installing ${missing[*]} from bookworm-backports" >&2
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" \
      >/etc/apt/sources.list.d/imagegate-bookworm-backports.list
  fi
  apt-get update -q
  apt-get install -y -q --no-install-recommends -t bookworm-backports "${missing[@]}"
fi
