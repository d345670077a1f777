#!/usr/bin/env bash
# The route table's completeness test (docs/reading-requests.md, "The route table"): builds
# tests/oracle/routes.go from Debian's moby source and gorilla/mux (golang-go,
# golang-github-docker-docker-dev; scripts/deps.sh installs both) and holds imagegate's route
# table (BUILD_DIR/imagegate-routes) against every route dockerd registers.
#
#     bash tests/oracle/routes.sh BUILD_DIR
#
# `make unit` (ctest) runs it. It fails when the source cannot be read, never passes on nothing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:?usage: routes.sh BUILD_DIR}
build=$(cd "$build" && pwd)
moby=/usr/share/gocode/src/github.com/docker/docker
if ! command -v go >/dev/null || [[ ! -d $moby/api/server/router ]]; then
    echo "routes.sh: needs golang-go and golang-github-docker-docker-dev (bash scripts/deps.sh installs them)" >&2
    exit 2
fi
[[ -x $build/imagegate-routes ]] || { echo "routes.sh: $build/imagegate-routes is not built" >&2; exit 2; }
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$build/go-cache" GOFLAGS= \
    go build -o "$build/dockerd-routes" "$here"/routes.go
"$build/dockerd-routes" -src "$moby" -imagegate "$build/imagegate-routes" -listed "$here/routes_carrying_nothing.txt"
