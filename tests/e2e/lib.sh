# shellcheck shell=bash
# The end-to-end harness: real docker-registry, real dockerd, the freshly built imagegate.
#
# A suite sources this file with its own arguments:
#
#     source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   # $1 = path to the imagegate binary
#
# Sourcing it: checks the tools, makes one short temporary directory ($E2E_TMP, under /tmp so
# that unix socket paths stay far below 108 bytes), and installs a trap that stops everything
# the suite started and removes $E2E_TMP, whatever way the suite ends. A suite ends with
# `e2e_finish`, which prints the summary line `N passed, N failed` and exits 0 only if
# nothing failed.
#
# Nothing here touches the host's own Docker: every dockerd gets its own data root, exec
# root, socket and managed containerd; every imagegate gets a plugin socket named
# /run/docker/plugins/imagegate-e2e-<pid>[-N].sock. dockerd gets a proxy that refuses
# everything but loopback, so a test can never reach the real Docker Hub: what an allowed
# `docker pull alpine` fetches comes from the local registry through `--registry-mirror`.
#
# Environment (all optional):
#   IMAGEGATE        the binary, when no argument is given (default: <repo>/build/imagegate)
#   DOCKER_CLI       the docker client used by `dk` (default /usr/bin/docker, Debian's 20.10)
#   DOCKER_CLI_NEW   the client used by `dk_new` (default /usr/local/bin/docker if present)
#   E2E_TIMEOUT      seconds a single checked command may take (default 120)
#   E2E_KEEP=1       keep $E2E_TMP (logs, policies) after the run, for debugging
#   E2E_VERBOSE=1    print the output of passing checks too

set -uo pipefail

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_REPO_DIR=$(cd "$E2E_LIB_DIR/../.." && pwd)
E2E_FIXTURES="$E2E_LIB_DIR/fixtures"
E2E_SUITE=$(basename "${0:-suite}" .sh)

IMAGEGATE=${1:-${IMAGEGATE:-$E2E_REPO_DIR/build/imagegate}}
case $IMAGEGATE in /*) ;; *) IMAGEGATE="$PWD/$IMAGEGATE" ;; esac
DOCKER_CLI=${DOCKER_CLI:-/usr/bin/docker}
DOCKER_CLI_NEW=${DOCKER_CLI_NEW:-/usr/local/bin/docker}
[[ -x $DOCKER_CLI_NEW ]] || DOCKER_CLI_NEW=$DOCKER_CLI
E2E_TIMEOUT=${E2E_TIMEOUT:-120}
E2E_PASSED=0
E2E_FAILED=0

# Processes and instances this suite started, for the cleanup trap.
E2E_DOCKERD_DIRS=()  # one directory per dockerd instance (holds its pid file and roots)
E2E_IMAGEGATE_PIDS=()
E2E_IMAGEGATE_SOCKS=()
E2E_REGISTRY_PIDS=()
E2E_IMAGEGATE_COUNT=0
E2E_DOCKERD_COUNT=0

# ---------------------------------------------------------------------------------------
# Messages and fatal errors

# e2e_log MSG...: a progress line on stderr, prefixed with the suite name.
e2e_log() { printf '[%s] %s\n' "$E2E_SUITE" "$*" >&2; }

# e2e_fatal MSG...: the harness itself could not do its job (a daemon would not start):
# counts one failure, prints the summary and exits; the trap still cleans up.
e2e_fatal() {
    printf '[%s] FATAL: %s\n' "$E2E_SUITE" "$*" >&2
    E2E_FAILED=$((E2E_FAILED + 1))
    e2e_finish
}

# e2e_require_root_and_tools: refuses to run without root or without a tool it needs.
e2e_require_root_and_tools() {
    [[ $(id -u) == 0 ]] || { echo "e2e: must run as root (dockerd)" >&2; exit 2; }
    local tool missing=()
    for tool in dockerd containerd docker-registry curl jq python3 tar timeout "$DOCKER_CLI"; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [[ -x /bin/busybox ]] || missing+=("/bin/busybox (busybox-static)")
    if ((${#missing[@]})); then
        echo "e2e: missing: ${missing[*]} (run scripts/deps.sh)" >&2
        exit 2
    fi
}

# ---------------------------------------------------------------------------------------
# Small utilities

# free_port: prints a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_until SECONDS CMD...: runs CMD every 0.2 s until it succeeds; fails after SECONDS.
wait_until() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# pid_alive PID: true while PID exists and is not a zombie.
pid_alive() {
    [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null || return 1
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ $state != Z ]]
}

# stop_pid PID [SECONDS]: SIGTERM, wait up to SECONDS (default 15), then SIGKILL.
stop_pid() {
    local pid=$1 grace=${2:-15}
    pid_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null
    local deadline=$((SECONDS + grace))
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    if pid_alive "$pid"; then
        e2e_log "pid $pid ignored SIGTERM for ${grace}s; killing it"
        kill -KILL "$pid" 2>/dev/null
        sleep 0.2
    fi
    wait "$pid" 2>/dev/null || true
}

# pids_mentioning PATH: pids of processes whose command line contains PATH (this run's own
# temporary directory, so only processes this suite started: containerd shims and the like).
pids_mentioning() {
    local needle=$1 dir pid cmdline
    for dir in /proc/[0-9]*; do
        pid=${dir#/proc/}
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        cmdline=$(tr '\0' ' ' 2>/dev/null <"$dir/cmdline") || continue
        [[ $cmdline == *"$needle"* ]] && echo "$pid"
    done
    return 0
}

# ---------------------------------------------------------------------------------------
# docker-registry

# start_registry: a real docker-registry (filesystem storage under $E2E_TMP) on
# 127.0.0.1:<free port>. Sets REGISTRY_PORT, REGISTRY (127.0.0.1:PORT) and REGISTRY_ALT
# (localhost:PORT: the same registry under a second registry name). dockerds started
# afterwards use it as their Docker Hub mirror.
start_registry() {
    local dir="$E2E_TMP/registry"
    mkdir -p "$dir/data"
    REGISTRY_PORT=$(free_port)
    REGISTRY="127.0.0.1:$REGISTRY_PORT"
    REGISTRY_ALT="localhost:$REGISTRY_PORT"
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REGISTRY_PORT
  secret: imagegate-e2e-$$
EOF
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    REGISTRY_PID=$!
    E2E_REGISTRY_PIDS+=("$REGISTRY_PID")
    if ! wait_until 20 curl -fsS "http://$REGISTRY/v2/"; then
        tail -20 "$dir/log" >&2
        e2e_fatal "docker-registry did not answer on $REGISTRY"
    fi
    export REGISTRY REGISTRY_ALT REGISTRY_PORT
    e2e_log "registry on $REGISTRY (also $REGISTRY_ALT)"
}

# ---------------------------------------------------------------------------------------
# dockerd

# start_dockerd [DOCKERD_ARGS...]: a fresh dockerd (own data root, exec root, socket, managed
# containerd; vfs; no bridge, no iptables) using the registry as its Docker Hub mirror when
# start_registry ran. Extra arguments go to dockerd (--authorization-plugin=NAME, -H tcp://...,
# --tlsverify ...). Waits until the API answers. Sets DOCKERD_DIR, DOCKERD_PID, DOCKERD_LOG,
# DOCKER_SOCK and exports DOCKER_HOST=unix://$DOCKER_SOCK, so `dk` talks to it.
start_dockerd() {
    E2E_DOCKERD_COUNT=$((E2E_DOCKERD_COUNT + 1))
    DOCKERD_DIR="$E2E_TMP/d$E2E_DOCKERD_COUNT"
    mkdir -p "$DOCKERD_DIR"
    E2E_DOCKERD_DIRS+=("$DOCKERD_DIR")
    _dockerd_launch "$@"
}

# restart_dockerd [DOCKERD_ARGS...]: stops the current dockerd and starts it again on the same
# data root with these arguments (e.g. images seeded without the plugin, then
# --authorization-plugin=$IG_NAME). Arguments are not inherited from the previous start.
restart_dockerd() {
    [[ -n ${DOCKERD_DIR:-} ]] || e2e_fatal "restart_dockerd: no dockerd was started"
    stop_dockerd "$DOCKERD_DIR"
    _dockerd_launch "$@"
}

_dockerd_launch() {
    local dir=$DOCKERD_DIR
    mkdir -p "$dir/data" "$dir/x"
    DOCKER_SOCK="$dir/docker.sock"
    DOCKERD_LOG="$dir/dockerd.log"
    local args=(
        --data-root "$dir/data" --exec-root "$dir/x" -H "unix://$DOCKER_SOCK"
        --pidfile "$dir/dockerd.pid" --iptables=false --ip6tables=false --bridge=none
        --storage-driver=vfs --log-level=info
    )
    if [[ -n ${REGISTRY:-} ]]; then
        args+=(--registry-mirror "http://$REGISTRY" --insecure-registry "$REGISTRY"
            --insecure-registry "$REGISTRY_ALT")
    fi
    {
        echo "=== $(date -u +%FT%TZ) dockerd ${args[*]} $*"
    } >>"$DOCKERD_LOG"
    # A dead proxy for everything but loopback: nothing in a test may reach the internet,
    # and a fall-back from the mirror to registry-1.docker.io fails at once instead of
    # hanging on DNS.
    # E2E_DOCKERD_PROXY (the registry gateway suite): that proxy for everything instead, with
    # E2E_DOCKERD_SSL_CERT_DIR as Go's extra root directory (docs/gateway.md).
    local proxy=${E2E_DOCKERD_PROXY:-http://127.0.0.1:9} no_proxy=127.0.0.1,localhost,::1
    [[ -n ${E2E_DOCKERD_PROXY:-} ]] && no_proxy=
    HTTP_PROXY=$proxy HTTPS_PROXY=$proxy NO_PROXY=$no_proxy \
        SSL_CERT_DIR=${E2E_DOCKERD_SSL_CERT_DIR:-} \
        dockerd "${args[@]}" "$@" >>"$DOCKERD_LOG" 2>&1 &
    DOCKERD_PID=$!
    echo "$DOCKERD_PID" >"$dir/launched.pid"
    export DOCKER_HOST="unix://$DOCKER_SOCK"
    local deadline=$((SECONDS + 60))
    # Any HTTP answer means the API is up (with a plugin that denies /_ping it is a 403).
    until [[ -S $DOCKER_SOCK ]] &&
        curl -s -o /dev/null --max-time 5 --unix-socket "$DOCKER_SOCK" http://docker/_ping; do
        if ! pid_alive "$DOCKERD_PID" || ((SECONDS >= deadline)); then
            tail -25 "$DOCKERD_LOG" >&2
            e2e_fatal "dockerd did not start (log: $DOCKERD_LOG)"
        fi
        sleep 0.2
    done
    e2e_log "dockerd $DOCKERD_PID on $DOCKER_SOCK${*:+ with $*}"
}

# stop_dockerd [DIR]: stops a dockerd (default: the current one), then its managed containerd
# and any containerd shim of it that is still around, and unmounts what it left mounted.
stop_dockerd() {
    local dir=${1:-${DOCKERD_DIR:-}} pid
    [[ -n $dir && -d $dir ]] || return 0
    pid=$(cat "$dir/launched.pid" 2>/dev/null)
    if pid_alive "$pid"; then
        # Kill running containers first: dockerd would give each 10 s to stop. (Best effort:
        # through the API, hence through the plugin, which allows these.)
        local id
        for id in $(curl -s --max-time 5 --unix-socket "$dir/docker.sock" \
            http://docker/containers/json 2>/dev/null | jq -r '.[].Id' 2>/dev/null); do
            curl -s -o /dev/null --max-time 10 --unix-socket "$dir/docker.sock" \
                -X POST "http://docker/containers/$id/kill"
        done
        # dockerd stops its containers and its managed containerd on SIGTERM.
        stop_pid "$pid" 40
    fi
    rm -f "$dir/launched.pid"
    # A dockerd killed hard (or crashed) leaves its containerd running: stop it by its pid
    # file, then anything else still naming this instance's directory (shims).
    local ctd
    ctd=$(cat "$dir/x/containerd/containerd.pid" 2>/dev/null)
    if pid_alive "$ctd" && tr '\0' ' ' <"/proc/$ctd/cmdline" | grep -qF "$dir/" 2>/dev/null; then
        stop_pid "$ctd" 10
    fi
    # Containers a dead dockerd could not stop outlive their shims: kill them through runc's
    # state (dockerd's runtime root is EXEC_ROOT/runtime-runc/moby).
    local runc_root="$dir/x/runtime-runc/moby" container
    if [[ -d $runc_root ]] && command -v runc >/dev/null; then
        for container in $(runc --root "$runc_root" list -q 2>/dev/null); do
            runc --root "$runc_root" delete --force "$container" >/dev/null 2>&1
        done
    fi
    # (Only containerd and its shims: an imagegate's command line may name this dockerd's
    # socket too.)
    for pid in $(pids_mentioning "$dir/"); do
        [[ $(cat "/proc/$pid/comm" 2>/dev/null) == containerd* ]] && stop_pid "$pid" 5
    done
    unmount_under "$dir"
}

# unmount_under DIR: lazily unmounts every mount point under DIR, deepest first.
unmount_under() {
    local dir=$1 mp
    awk -v d="$dir" '{ gsub(/\\040/, " ", $5); if (index($5, d "/") == 1 || $5 == d) print $5 }' \
        /proc/self/mountinfo | sort -r | while read -r mp; do
        umount -l "$mp" 2>/dev/null || umount -f "$mp" 2>/dev/null || true
    done
}

# ---------------------------------------------------------------------------------------
# The docker client

# dk ARGS...: the docker CLI ($DOCKER_CLI) against the current dockerd. An executable on
# PATH (not a function), so `timeout` and the expect_* helpers can run it.
# dk_new ARGS...: the same with the newer CLI ($DOCKER_CLI_NEW, default /usr/local/bin/docker
# when present: clients >= 28.1 send fully qualified names, `docker.io/library/alpine`).
_make_dk() {
    mkdir -p "$E2E_TMP/bin" "$E2E_TMP/cli"
    cat >"$E2E_TMP/bin/dk" <<EOF
#!/bin/sh
exec "\${DOCKER_CLI:-$DOCKER_CLI}" "\$@"
EOF
    cat >"$E2E_TMP/bin/dk_new" <<EOF
#!/bin/sh
exec "\${DOCKER_CLI_NEW:-$DOCKER_CLI_NEW}" "\$@"
EOF
    chmod +x "$E2E_TMP/bin/dk" "$E2E_TMP/bin/dk_new"
    export PATH="$E2E_TMP/bin:$PATH"
    # A private client configuration: no credentials, contexts or plugins of the host's user.
    export DOCKER_CONFIG="$E2E_TMP/cli"
    export DOCKER_CLI DOCKER_CLI_NEW
}

# ---------------------------------------------------------------------------------------
# Test images

# E2E_SEED_REPOS: what seed_images pushes, under the names a Docker Hub mirror serves.
E2E_SEED_REPOS=(
    library/alpine library/busybox bitnami/redis grafana/grafana curlimages/curl
    someone/tool someone/approved-tool acme/app
)
declare -gA IMAGE_DIGEST=()

# make_rootfs_tar: prints the path of a tar of a tiny root filesystem: /bin/busybox (static)
# with sh, true, echo, id, cat, ls, sleep linked to it. Built once per run.
make_rootfs_tar() {
    local tarball="$E2E_TMP/rootfs.tar" root="$E2E_TMP/rootfs"
    if [[ ! -f $tarball ]]; then
        mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev"
        cp /bin/busybox "$root/bin/busybox"
        local tool
        for tool in sh true echo id cat ls sleep; do ln -sf busybox "$root/bin/$tool"; done
        echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
        echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>"$root/etc/passwd"
        tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$tarball" .
    fi
    echo "$tarball"
}

# seed_images [REPO...]: with the current dockerd (run it WITHOUT the plugin), imports the
# busybox rootfs once per REPO (default: E2E_SEED_REPOS; each gets its own LABEL, hence its
# own image and manifest digest over one shared layer), pushes it to $REGISTRY/REPO:latest
# and removes it locally again, so later pulls really pull. Records each manifest digest in
# IMAGE_DIGEST[REPO] (sha256:...).
seed_images() {
    local repos=("$@") repo tarball ref out
    ((${#repos[@]})) || repos=("${E2E_SEED_REPOS[@]}")
    tarball=$(make_rootfs_tar)
    for repo in "${repos[@]}"; do
        ref="$REGISTRY/$repo:latest"
        "$DOCKER_CLI" import -c 'CMD ["/bin/sh"]' -c "LABEL org.imagegate.e2e=$repo" \
            "$tarball" "$ref" >/dev/null || e2e_fatal "seed: docker import $ref failed"
        out=$("$DOCKER_CLI" push "$ref" 2>&1) || { echo "$out" >&2; e2e_fatal "seed: push $ref failed"; }
        IMAGE_DIGEST[$repo]=$(sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\).*/\1/p' <<<"$out" | tail -1)
        [[ -n ${IMAGE_DIGEST[$repo]} ]] || { echo "$out" >&2; e2e_fatal "seed: no digest for $ref"; }
        "$DOCKER_CLI" rmi "$ref" >/dev/null || e2e_fatal "seed: rmi $ref failed"
    done
    e2e_log "seeded ${#repos[@]} images into $REGISTRY"
}

# seed_local_tag REPO TARGET...: (plugin still inactive) pulls REPO from the registry and
# tags it locally as each TARGET (e.g. someone/tool), so a later `docker run TARGET` needs
# no pull; then removes the registry-named tag.
seed_local_tag() {
    local src="$REGISTRY/$1:latest" target; shift
    "$DOCKER_CLI" pull -q "$src" >/dev/null || e2e_fatal "seed: pull $src failed"
    for target in "$@"; do
        "$DOCKER_CLI" tag "$src" "$target" || e2e_fatal "seed: tag $src $target failed"
    done
    "$DOCKER_CLI" rmi "$src" >/dev/null || true
}

# setup_world [REPO...]: the usual start of a suite: start_registry, a plugin-less
# start_dockerd, seed_images. Leaves that dockerd running (seed_local_tag next, then
# start_imagegate and restart_dockerd --authorization-plugin=$IG_NAME).
setup_world() {
    start_registry
    start_dockerd
    seed_images "$@"
}

# ---------------------------------------------------------------------------------------
# imagegate

# policy_from_template TEMPLATE OUT: copies a policy template, replacing @REGISTRY@ and
# @REGISTRY_ALT@ with this run's registry names and @TMP@ with $E2E_TMP.
policy_from_template() {
    sed -e "s|@REGISTRY@|${REGISTRY:-}|g" -e "s|@REGISTRY_ALT@|${REGISTRY_ALT:-}|g" \
        -e "s|@TMP@|$E2E_TMP|g" "$1" >"$2" || e2e_fatal "cannot write $2"
}

# make_config OUT [POLICY_FILE]: writes an imagegate.json (README) whose every path is in
# $E2E_TMP: decisionLog, adminSocket, cacheDir, dockerSockets (the current dockerd), and
# policyFile when given (without it: the shipped default policy).
make_config() {
    local out=$1 policy=${2:-} dir="$E2E_TMP/ig"
    mkdir -p "$dir/cache"
    jq -n --arg log "$dir/decisions.jsonl" --arg admin "$dir/admin.sock" \
        --arg cache "$dir/cache" --arg dsock "${DOCKER_SOCK:-/nonexistent/docker.sock}" \
        --arg policy "$policy" '
        { decisionLog: $log, adminSocket: $admin, cacheDir: $cache, dockerSockets: [$dsock] }
        + (if $policy == "" then {} else { policyFile: $policy } end)' >"$out" ||
        e2e_fatal "cannot write $out"
}

# start_imagegate POLICY_FILE [NAME]            serve --policy POLICY_FILE --socket SOCK
# start_imagegate --config CONFIG_FILE [NAME]   serve --config COPY (COPY = CONFIG_FILE with
#                                               "socket" set to SOCK; no --socket flag)
# start_imagegate --bare [NAME]                 serve --socket SOCK (no policy, no config:
#                                               /etc/imagegate/imagegate.json if it exists,
#                                               else the shipped default policy)
# Without --config it also passes --decision-log and --admin-socket (in $E2E_TMP) and
# --docker-socket $DOCKER_SOCK (the current dockerd), so nothing goes to the host's paths.
# Starts "$IMAGEGATE" as the v1 plugin NAME (default imagegate-e2e-<pid>, then -2, -3...),
# socket /run/docker/plugins/NAME.sock, and waits until POST /Plugin.Activate answers.
# Sets IG_NAME, IG_SOCK, IG_PID, IG_LOG (its stdout+stderr) and, with --config, IG_CONFIG,
# IG_DECISION_LOG, IG_ADMIN_SOCK. A start that fails is fatal for the suite.
# Then: restart_dockerd --authorization-plugin="$IG_NAME".
start_imagegate() {
    try_start_imagegate "$@" || {
        tail -25 "$IG_LOG" >&2
        e2e_fatal "imagegate did not come up on $IG_SOCK (log: $IG_LOG)"
    }
}

# try_start_imagegate ARGS...: start_imagegate that returns 1 instead of ending the suite
# when imagegate exits or does not answer within 20 s (IG_PID then says which process;
# `wait $IG_PID` gives its exit status when it exited).
try_start_imagegate() {
    local mode=policy file=""
    case ${1:-} in
    --config) mode=config; shift; file=${1:?start_imagegate --config FILE}; shift ;;
    --bare) mode=bare; shift ;;
    *) file=${1:?start_imagegate POLICY_FILE}; shift ;;
    esac
    E2E_IMAGEGATE_COUNT=$((E2E_IMAGEGATE_COUNT + 1))
    local default_name="imagegate-e2e-$$"
    ((E2E_IMAGEGATE_COUNT > 1)) && default_name+="-$E2E_IMAGEGATE_COUNT"
    IG_NAME=${1:-$default_name}
    IG_SOCK="/run/docker/plugins/$IG_NAME.sock"
    IG_LOG="$E2E_TMP/$IG_NAME.log"
    IG_CONFIG=""
    IG_DECISION_LOG=""
    IG_ADMIN_SOCK=""
    mkdir -p /run/docker/plugins
    [[ -e $IG_SOCK ]] && e2e_fatal "$IG_SOCK exists already: another run uses the name $IG_NAME"
    local args=(serve)
    case $mode in
    config)
        IG_CONFIG="$E2E_TMP/$IG_NAME.json"
        jq --arg sock "$IG_SOCK" '.socket = $sock' "$file" >"$IG_CONFIG" ||
            e2e_fatal "start_imagegate: $file is not JSON"
        IG_DECISION_LOG=$(jq -r '.decisionLog // empty' "$IG_CONFIG")
        IG_ADMIN_SOCK=$(jq -r '.adminSocket // empty' "$IG_CONFIG")
        args+=(--config "$IG_CONFIG")
        ;;
    bare | policy)
        [[ $mode == policy ]] && args+=(--policy "$file")
        # Keep the run hermetic: without a configuration the decision log and the admin
        # socket would default to /var/log/imagegate and /run/imagegate (shared with a real
        # install and other runs), and dockerd's API to /var/run/docker.sock.
        IG_DECISION_LOG="$E2E_TMP/$IG_NAME.decisions.jsonl"
        IG_ADMIN_SOCK="$E2E_TMP/$IG_NAME.admin.sock"
        args+=(--socket "$IG_SOCK" --decision-log "$IG_DECISION_LOG" --admin-socket "$IG_ADMIN_SOCK")
        [[ -n ${DOCKER_SOCK:-} ]] && args+=(--docker-socket "$DOCKER_SOCK")
        ;;
    esac
    [[ -x $IMAGEGATE ]] || e2e_fatal "no imagegate binary at $IMAGEGATE (build it: make build)"
    echo "=== $(date -u +%FT%TZ) $IMAGEGATE ${args[*]}" >"$IG_LOG"
    "$IMAGEGATE" "${args[@]}" >>"$IG_LOG" 2>&1 &
    IG_PID=$!
    E2E_IMAGEGATE_PIDS+=("$IG_PID")
    E2E_IMAGEGATE_SOCKS+=("$IG_SOCK")
    export IG_NAME IG_SOCK
    local deadline=$((SECONDS + 20))
    until [[ -S $IG_SOCK ]] && curl -fsS --max-time 5 --unix-socket "$IG_SOCK" \
        -X POST http://plugin/Plugin.Activate 2>/dev/null | grep -q authz; do
        if ! pid_alive "$IG_PID" || ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.1
    done
    e2e_log "imagegate $IG_PID as plugin $IG_NAME (${args[*]:1})"
}

# stop_imagegate [PID]: stops an imagegate (default the current one) and removes its socket.
stop_imagegate() {
    local pid=${1:-${IG_PID:-}} i
    [[ -n $pid ]] || return 0
    stop_pid "$pid" 10
    for i in "${!E2E_IMAGEGATE_PIDS[@]}"; do
        if [[ ${E2E_IMAGEGATE_PIDS[$i]} == "$pid" ]]; then
            rm -f "${E2E_IMAGEGATE_SOCKS[$i]}"
        fi
    done
}

# plugin_request PATH JSON: POSTs JSON straight to the current imagegate socket, as dockerd
# would (no dockerd involved); prints the reply body.
plugin_request() {
    curl -sS --max-time 10 --unix-socket "$IG_SOCK" -X POST \
        -H 'Accept: application/vnd.docker.plugins.v1.2+json' --data-binary "$2" \
        "http://plugin.moby.localhost$1"
}

# ---------------------------------------------------------------------------------------
# Assertions

E2E_LAST_OUT=""
E2E_LAST_ERR=""
E2E_LAST_RC=0

# _run CMD...: runs CMD with a timeout; stdout and stderr land in E2E_LAST_OUT/ERR files.
_run() {
    E2E_LAST_OUT="$E2E_TMP/last.out"
    E2E_LAST_ERR="$E2E_TMP/last.err"
    if [[ $(type -t "$1") == file ]]; then
        timeout -k 5 "$E2E_TIMEOUT" "$@" >"$E2E_LAST_OUT" 2>"$E2E_LAST_ERR" </dev/null
    else
        "$@" >"$E2E_LAST_OUT" 2>"$E2E_LAST_ERR" </dev/null
    fi
    E2E_LAST_RC=$?
    ((E2E_LAST_RC == 124)) && echo "(timed out after ${E2E_TIMEOUT}s)" >>"$E2E_LAST_ERR"
    return 0
}

_quote() { local a s=""; for a in "$@"; do s+="${s:+ }$(printf '%q' "$a")"; done; echo "$s"; }

# pass DESC / fail DESC [DETAILS...]: count and print one check; fail prints DETAILS indented.
pass() {
    E2E_PASSED=$((E2E_PASSED + 1))
    printf 'ok   %s\n' "$1"
    if [[ ${E2E_VERBOSE:-} == 1 && -n $E2E_LAST_OUT ]]; then
        sed 's/^/       | /' "$E2E_LAST_OUT" "$E2E_LAST_ERR" 2>/dev/null | tail -20
    fi
}
fail() {
    E2E_FAILED=$((E2E_FAILED + 1))
    printf 'FAIL %s\n' "$1"
    shift
    local line
    for line in "$@"; do printf '       %s\n' "$line"; done
}

# _fail_with_output DESC WHY: a failing check with what ran and what came back.
_fail_with_output() {
    fail "$1" "why: $2" "exit status: $E2E_LAST_RC" \
        "stdout: $(tail -c 1500 "$E2E_LAST_OUT" | tail -15 | sed '2,$s/^/        /')" \
        "stderr: $(tail -c 1500 "$E2E_LAST_ERR" | tail -15 | sed '2,$s/^/        /')"
}

# expect_ok CMD...: CMD exits 0.
expect_ok() {
    local desc; desc=$(_quote "$@")
    _run "$@"
    if ((E2E_LAST_RC == 0)); then pass "$desc"; else _fail_with_output "$desc" "expected success"; fi
}

# expect_denied SUBSTRING CMD...: CMD exits non-zero and its stderr says
# "authorization denied by plugin" and contains SUBSTRING (may be empty).
expect_denied() {
    local want=$1; shift
    local desc; desc="denied: $(_quote "$@")${want:+  [\"$want\"]}"
    _run "$@"
    if ((E2E_LAST_RC == 0)); then
        _fail_with_output "$desc" "expected a denial, it succeeded"
    elif ! grep -qF "authorization denied by plugin" "$E2E_LAST_ERR"; then
        _fail_with_output "$desc" "failed, but not with 'authorization denied by plugin'"
    elif ! grep -qF -- "$want" "$E2E_LAST_ERR"; then
        _fail_with_output "$desc" "denied, but the message lacks \"$want\""
    else
        pass "$desc"
    fi
}

# expect_not_denied CMD...: imagegate let CMD through, whatever happened next (e.g. a push
# to Docker Hub, which cannot succeed offline): no "authorization denied" in its stderr and
# no plugin error.
expect_not_denied() {
    local desc; desc="not denied: $(_quote "$@")"
    _run "$@"
    if grep -qE "authorization denied by plugin|plugin [^ ]+ failed with error" "$E2E_LAST_ERR"; then
        _fail_with_output "$desc" "expected imagegate to allow it"
    else
        pass "$desc"
    fi
}

# expect_fail SUBSTRING CMD...: CMD exits non-zero and stdout+stderr contain SUBSTRING
# (for failures that are not AuthZ denials: a CLI that rejects an argument, exit codes).
expect_fail() {
    local want=$1; shift
    local desc; desc="fails: $(_quote "$@")${want:+  [\"$want\"]}"
    _run "$@"
    if ((E2E_LAST_RC == 0)); then
        _fail_with_output "$desc" "expected failure, it succeeded"
    elif ! grep -qF -- "$want" "$E2E_LAST_OUT" "$E2E_LAST_ERR"; then
        _fail_with_output "$desc" "failed, but the output lacks \"$want\""
    else
        pass "$desc"
    fi
}

# expect_output SUBSTRING CMD...: CMD exits 0 and stdout+stderr contain SUBSTRING.
expect_output() {
    local want=$1; shift
    local desc; desc="$(_quote "$@")  [\"$want\"]"
    _run "$@"
    if ((E2E_LAST_RC != 0)); then
        _fail_with_output "$desc" "expected success"
    elif ! grep -qF -- "$want" "$E2E_LAST_OUT" "$E2E_LAST_ERR"; then
        _fail_with_output "$desc" "the output lacks \"$want\""
    else
        pass "$desc"
    fi
}

# check DESC CMD...: a free-form assertion: CMD (a test, a function) succeeds.
check() {
    local desc=$1; shift
    _run "$@"
    if ((E2E_LAST_RC == 0)); then pass "$desc"; else _fail_with_output "$desc" "$(_quote "$@") failed"; fi
}

# api METHOD URI [JSON_BODY]: a raw Engine API request on $DOCKER_SOCK, the URI sent exactly
# as given (no normalisation, no globbing). A body is sent as application/json. Sets
# API_STATUS (HTTP status, 000 if none) and API_BODY (the response body).
api() {
    local method=$1 uri=$2 body=${3-} args=()
    [[ $# -ge 3 ]] && args=(-H 'Content-Type: application/json' --data-binary "$body")
    API_BODY=$(curl -sS -g --path-as-is --max-time "$E2E_TIMEOUT" --unix-socket "$DOCKER_SOCK" \
        -X "$method" "${args[@]}" -w '\n%{http_code}' "http://docker$uri" 2>&1)
    _api_split
    E2E_LAST_RC=$API_STATUS
}

# _api_split: API_BODY holds curl's output ending in "\n%{http_code}": sets API_STATUS and
# API_BODY, and the body as the last command's output (E2E_LAST_OUT) for failure reports.
_api_split() {
    API_STATUS=${API_BODY##*$'\n'}
    API_BODY=${API_BODY%$'\n'*}
    E2E_LAST_OUT="$E2E_TMP/last.out"
    E2E_LAST_ERR="$E2E_TMP/last.err"
    printf '%s\n' "$API_BODY" >"$E2E_LAST_OUT"
    : >"$E2E_LAST_ERR"
}

# expect_api_status STATUS METHOD URI [JSON_BODY]: a raw request answers HTTP STATUS
# (a regex, e.g. 200 or '2..').
expect_api_status() {
    local want=$1; shift
    local desc="$1 $2 -> $want"
    api "$@"
    if [[ $API_STATUS =~ ^($want)$ ]]; then
        pass "$desc"
    else
        fail "$desc" "got HTTP $API_STATUS" "request: $(_quote "$@")" \
            "response: $(head -c 800 <<<"$API_BODY")"
    fi
}

# expect_api_denied SUBSTRING METHOD URI [JSON_BODY]: a raw request answers 403 with
# "authorization denied by plugin" and SUBSTRING in the body.
expect_api_denied() {
    local want=$1; shift
    local desc="denied: $1 $2${want:+  [\"$want\"]}"
    api "$@"
    if [[ $API_STATUS == 403 && $API_BODY == *"authorization denied by plugin"* &&
        $API_BODY == *"$want"* ]]; then
        pass "$desc"
    else
        fail "$desc" "got HTTP $API_STATUS, expected 403 with \"$want\"" \
            "request: $(_quote "$@")" "response: $(head -c 800 <<<"$API_BODY")"
    fi
}

# expect_api_not_denied METHOD URI [JSON_BODY]: imagegate let a raw request through: any
# answer but 403 "authorization denied" or a 500 "plugin ... failed".
expect_api_not_denied() {
    local desc="not denied: $1 $2" plugin_error='plugin [^ ]+ failed with error'
    api "$@"
    if [[ $API_STATUS == 000 || $API_BODY == *"authorization denied by plugin"* ||
        $API_BODY =~ $plugin_error ]]; then
        fail "$desc" "got HTTP $API_STATUS" "request: $(_quote "$@")" \
            "response: $(head -c 800 <<<"$API_BODY")"
    else
        pass "$desc"
    fi
}

# expect_message_has SUBSTRING...: what the previous expect_*/api check got back (stdout,
# stderr, or the API response body) contains every SUBSTRING: the parts of a deny message.
expect_message_has() {
    local want missing=()
    for want in "$@"; do
        grep -qsF -- "$want" "$E2E_LAST_OUT" "$E2E_LAST_ERR" || missing+=("\"$want\"")
    done
    local desc="  ...and the message has: $*"
    if ((${#missing[@]})); then
        fail "$desc" "missing: ${missing[*]}" \
            "got: $(cat "$E2E_LAST_ERR" "$E2E_LAST_OUT" 2>/dev/null | grep -v '^$' | tail -3)"
    else
        pass "$desc"
    fi
}

# section TITLE: a heading in the output.
section() { printf '\n# %s\n' "$*"; }

# e2e_finish: prints `N passed, N failed` and exits (1 if anything failed); the trap cleans up.
e2e_finish() {
    echo
    echo "$E2E_PASSED passed, $E2E_FAILED failed"
    ((E2E_FAILED == 0)) && exit 0
    exit 1
}

# ---------------------------------------------------------------------------------------
# Cleanup

# e2e_cleanup: the EXIT trap. Stops every dockerd (and its containerd and shims), then every
# imagegate, then the registry; anything left naming $E2E_TMP; unmounts; removes $E2E_TMP.
e2e_cleanup() {
    local rc=$? dir pid
    trap - EXIT INT TERM HUP
    set +e
    for dir in "${E2E_DOCKERD_DIRS[@]}"; do stop_dockerd "$dir"; done
    for pid in "${E2E_IMAGEGATE_PIDS[@]}"; do stop_pid "$pid" 10; done
    for pid in "${E2E_IMAGEGATE_SOCKS[@]}"; do rm -f "$pid"; done
    for pid in "${E2E_REGISTRY_PIDS[@]}"; do stop_pid "$pid" 10; done
    if [[ -n ${E2E_TMP:-} && -d $E2E_TMP ]]; then
        for pid in $(pids_mentioning "$E2E_TMP/"); do stop_pid "$pid" 5; done
        unmount_under "$E2E_TMP"
        if [[ ${E2E_KEEP:-} == 1 ]]; then
            e2e_log "kept $E2E_TMP"
        else
            rm -rf "$E2E_TMP"
        fi
    fi
    exit "$rc"
}

# ---------------------------------------------------------------------------------------
# On source

e2e_require_root_and_tools
# A test plugin socket that nobody listens on any more (its suite was killed) costs every
# dockerd on the host 15 s of plugin discovery per lookup of a volume that does not exist,
# which imagegate, failing closed, turns into denials. Only the suites' own names are touched.
for sock in /run/docker/plugins/imagegate-e2e-*.sock /run/docker/plugins/imagegate-load-*.sock; do
    [[ -S $sock ]] || continue
    curl -s --max-time 2 --unix-socket "$sock" -o /dev/null http://plugin/ 2>/dev/null
    (($? == 7)) && rm -f "$sock" && echo "removed the stale plugin socket $sock" >&2
done
E2E_TMP=$(mktemp -d /tmp/ige.XXXXXX) || exit 2
chmod 755 "$E2E_TMP"
trap e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
_make_dk
