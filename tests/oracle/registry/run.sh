#!/usr/bin/env bash
# The gateway's differential test (docs/reading-requests.md, "The gateway's reading"): builds
# registry-oracle from Debian's distribution source (golang-go,
# golang-github-docker-distribution-dev; scripts/deps.sh installs both), generates registry
# requests, has the gateway's code take and forward each (imagegate-gateway-differential
# forward), the registry's code read what was forwarded (registry-oracle read), and compares
# that with imagegate's reading (imagegate-gateway-differential check).
#
#     bash tests/oracle/registry/run.sh BUILD_DIR [CASES] [SEED]   # defaults: 20000 cases, seed 1
#
# `make unit` (ctest gateway-differential) runs it with the defaults; `make fuzz` with many more
# cases and a new seed. A disagreement prints the request as base64; replay it alone with
#     echo BASE64 | BUILD_DIR/imagegate-gateway-differential forward |
#         BUILD_DIR/registry-oracle read | BUILD_DIR/imagegate-gateway-differential check
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:?usage: run.sh BUILD_DIR [CASES] [SEED]}
cases=${2:-${GATEWAY_DIFFERENTIAL_CASES:-20000}}
seed=${3:-${GATEWAY_DIFFERENTIAL_SEED:-1}}
build=$(cd "$build" && pwd)
if ! command -v go >/dev/null || [[ ! -d /usr/share/gocode/src/github.com/docker/distribution ]]; then
    echo "run.sh: needs golang-go and golang-github-docker-distribution-dev (bash scripts/deps.sh installs golang-github-docker-docker-dev, which brings it)" >&2
    exit 2
fi
# Debian's Go sources build in GOPATH mode; the build cache stays in the build directory.
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$build/go-cache" GOFLAGS= \
    go build -o "$build/registry-oracle" "$here"/registry_oracle.go "$here"/generate.go
echo "gateway-differential: $cases generated registry requests (seed $seed) and the seed requests"
"$build/registry-oracle" gen -n "$cases" -seed "$seed" |
    "$build/imagegate-gateway-differential" forward |
    "$build/registry-oracle" read |
    "$build/imagegate-gateway-differential" check
