#!/usr/bin/env bash
# Installs what building, running and testing imagegate needs on Debian bookworm (as root).
set -euo pipefail
packages=(
  build-essential cmake pkg-config make git ca-certificates
  libboost-json1.81-dev libboost1.81-dev libcpp-httplib-dev libspdlog-dev libssl-dev doctest-dev
  libbenchmark-dev clang-14 clang-format-14 libclang-rt-14-dev
  docker.io docker-registry busybox-static curl openssl systemd jq python3 dpkg-dev file nginx-light
  golang-go golang-github-docker-docker-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "imagegate: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
