#!/usr/bin/env bash
# The differential test (docs/reading-requests.md): builds dockerd-oracle from Debian's moby
# source (golang-go, golang-github-docker-docker-dev; scripts/deps.sh installs both), generates
# requests from the seed corpus, and has imagegate-differential compare imagegate's reading of
# each with dockerd's.
#
#     bash tests/oracle/run.sh BUILD_DIR [CASES] [SEED]      # defaults: 20000 cases, seed 1
#
# `make unit` (ctest) runs it with the defaults; `make fuzz` with many more cases and a new seed.
# A disagreement prints the request as base64; replay it alone with
#     echo BASE64 | BUILD_DIR/dockerd-oracle read | BUILD_DIR/imagegate-differential
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:?usage: run.sh BUILD_DIR [CASES] [SEED]}
cases=${2:-${DIFFERENTIAL_CASES:-20000}}
seed=${3:-${DIFFERENTIAL_SEED:-1}}
build=$(cd "$build" && pwd)
if ! command -v go >/dev/null || [[ ! -d /usr/share/gocode/src/github.com/docker/docker ]]; then
    echo "run.sh: needs golang-go and golang-github-docker-docker-dev (bash scripts/deps.sh installs them)" >&2
    exit 2
fi
# Debian's Go sources build in GOPATH mode; the build cache stays in the build directory.
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$build/go-cache" GOFLAGS= \
    go build -o "$build/dockerd-oracle" "$here"/oracle.go "$here"/generate.go
echo "differential: $cases generated requests (seed $seed) and the $(ls "$here"/corpus/*.json | wc -l) seed requests"
"$build/dockerd-oracle" gen -n "$cases" -seed "$seed" "$here/corpus" | "$build/imagegate-differential"
