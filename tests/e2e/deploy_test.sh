#!/usr/bin/env bash
# Deployment, end to end (issue 6):
#   1. install-docker / uninstall-docker on daemon.json fixtures (the real binary);
#   2. socket activation: systemd-socket-activate holds /run/docker/plugins/NAME.sock and starts
#      `imagegate serve` on dockerd's first connection; a real dockerd in front denies a
#      restricted pull; a --authorization-plugin flag conflicts with install-docker; daemon.json
#      + SIGHUP (install-docker --reload) wires it; dockerd fails closed when the plugin is down,
#      and uninstall-docker --reload brings docker back;
#   3. the managed plugin: make-plugin.sh, docker plugin create/set/enable, daemon.json + SIGHUP,
#      a restricted pull denied through it;
#   4. the Debian package (cpack, as make deb runs it); dpkg -i on this machine; the installed
#      imagegate (shipped imagegate.json and policy.json) socket-activated in front of dockerd;
#      dpkg -r (its prerm unwires a daemon.json) and dpkg -P leave nothing behind.
#
#     bash tests/e2e/deploy_test.sh build/imagegate
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FIX="$E2E_FIXTURES/deploy"
BUILD_DIR=$(dirname "$IMAGEGATE")
T="$E2E_TMP/deploy"
mkdir -p "$T"

# A run that stops half-way purges the package it installed, then lib.sh cleans up the rest.
DEB_INSTALLED=0
deploy_cleanup() {
    if ((DEB_INSTALLED)) && dpkg-query -W imagegate >/dev/null 2>&1; then
        mkdir -p "$T/etc-docker-cleanup"
        unshare --mount --pid --fork --mount-proc \
            sh -c 'mount --bind "$1" /etc/docker && dpkg -P imagegate' sh "$T/etc-docker-cleanup" >/dev/null 2>&1
    fi
}
trap 'rc=$?; deploy_cleanup; (exit $rc); e2e_cleanup' EXIT

# same_bytes A B: A and B are byte-for-byte equal.
same_bytes() { cmp -s "$1" "$2"; }
# json_equal A B: the same JSON value (key order ignored).
json_equal() { [[ $(jq -S . "$1") == $(jq -S . "$2") ]]; }
# comm_of PID: the process name (what it execs into).
comm_of() { cat "/proc/$1/comm" 2>/dev/null; }
is_imagegate() { [[ $(comm_of "$1") == imagegate ]]; }
pull_denied() { ! dk pull -q someone/tool >/dev/null 2>"$T/pull.err" && grep -q "authorization denied" "$T/pull.err"; }
api_answers() { dk version >/dev/null 2>&1; }

# expect_status STATUS DESC CMD...: CMD exits with exactly STATUS; its stderr is kept in
# $T/status.err for the checks that follow (a check overwrites E2E_LAST_ERR).
expect_status() {
    local want=$1 desc=$2; shift 2
    _run "$@"
    cp "$E2E_LAST_ERR" "$T/status.err"
    if ((E2E_LAST_RC == want)); then pass "$desc"; else _fail_with_output "$desc" "expected exit status $want"; fi
}

# expect_said WANT CMD...: CMD exits 0 and its stdout or stderr contains WANT. (grep on the
# files: lib.sh's expect_output pipes cat into grep -q, which can fail under pipefail when grep
# exits before cat has written everything.)
expect_said() {
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

# activate NAME CONFIG_OR_EMPTY: systemd-socket-activate listens on /run/docker/plugins/NAME.sock
# and runs `imagegate serve` on the first connection. Sets ACT_PID and ACT_SOCK.
activate() {
    local name=$1 config=$2 binary=${3:-$IMAGEGATE}
    ACT_SOCK="/run/docker/plugins/$name.sock"
    [[ -e $ACT_SOCK ]] && e2e_fatal "$ACT_SOCK exists already"
    mkdir -p /run/docker/plugins
    local args=(serve)
    [[ -n $config ]] && args+=(--config "$config")
    systemd-socket-activate -l "$ACT_SOCK" "$binary" "${args[@]}" >>"$T/$name.log" 2>&1 &
    ACT_PID=$!
    E2E_IMAGEGATE_PIDS+=("$ACT_PID")
    E2E_IMAGEGATE_SOCKS+=("$ACT_SOCK")
    wait_until 10 test -S "$ACT_SOCK" || e2e_fatal "systemd-socket-activate did not listen on $ACT_SOCK"
}

# ---------------------------------------------------------------------------------------
section "install-docker / uninstall-docker on daemon.json fixtures"

expect_said "usage: imagegate install-docker" "$IMAGEGATE" install-docker --help
expect_said "usage: imagegate uninstall-docker" "$IMAGEGATE" uninstall-docker --help
expect_status 2 "install-docker: an unknown argument is bad usage" "$IMAGEGATE" install-docker --bogus

# An absent file (and directory) is created.
expect_said "created $T/absent/docker/daemon.json" \
    "$IMAGEGATE" install-docker --daemon-json "$T/absent/docker/daemon.json"
check "absent: the new file lists imagegate only" \
    test "$(jq -c . "$T/absent/docker/daemon.json")" == '{"authorization-plugins":["imagegate"]}'
check "absent: no backup of a file that did not exist" test ! -e "$T/absent/docker/daemon.json.imagegate.bak"

# Existing keys: kept, in order; the list appended; a backup of the original; the mode kept.
cp "$FIX/daemon-existing.json" "$T/existing.json"
chmod 0600 "$T/existing.json"
expect_said "added \"imagegate\" to \"authorization-plugins\" in $T/existing.json" \
    "$IMAGEGATE" install-docker --daemon-json "$T/existing.json"
check "existing keys: every key kept in order, imagegate appended" same_bytes "$T/existing.json" "$FIX/daemon-existing.expected.json"
check "existing keys: backup is the original" same_bytes "$T/existing.json.imagegate.bak" "$FIX/daemon-existing.json"
check "existing keys: mode 0600 kept" test "$(stat -c %a "$T/existing.json")" == 600
expect_said "removed \"imagegate\"" "$IMAGEGATE" uninstall-docker --daemon-json "$T/existing.json"
check "uninstall-docker restores the original settings" json_equal "$T/existing.json" "$FIX/daemon-existing.json"

# Already listed: nothing written.
cp "$FIX/daemon-listed.json" "$T/listed.json"
expect_said "is already in \"authorization-plugins\"" "$IMAGEGATE" install-docker --daemon-json "$T/listed.json"
check "already listed: file unchanged" same_bytes "$T/listed.json" "$FIX/daemon-listed.json"
check "already listed: no backup" test ! -e "$T/listed.json.imagegate.bak"
expect_ok "$IMAGEGATE" uninstall-docker --daemon-json "$T/listed.json"
check "uninstall-docker keeps the other plugin" same_bytes "$T/listed.json" "$FIX/daemon-listed.uninstalled.json"

# Not JSON / not an object: exit 2, byte-for-byte unchanged, the file named.
for bad in daemon-invalid.json daemon-array.json; do
    cp "$FIX/$bad" "$T/$bad"
    expect_status 2 "install-docker refuses $bad (exit 2)" "$IMAGEGATE" install-docker --daemon-json "$T/$bad"
    check "$bad: the error names the file" grep -qF "$T/$bad: not " "$T/status.err"
    check "$bad: unchanged" same_bytes "$T/$bad" "$FIX/$bad"
    expect_status 2 "uninstall-docker refuses $bad (exit 2)" "$IMAGEGATE" uninstall-docker --daemon-json "$T/$bad"
    check "$bad: still unchanged, no backup" eval "cmp -s '$T/$bad' '$FIX/$bad' && test ! -e '$T/$bad.imagegate.bak'"
done

# ---------------------------------------------------------------------------------------
section "socket activation (systemd-socket-activate) with dockerd in front"

DJ="$T/daemon.json" # the daemon.json the test dockerd reads (--config-file)
cp "$FIX/daemon-existing.json" "$DJ"
start_registry
start_dockerd --config-file "$DJ"
seed_images library/alpine someone/tool

NAME="imagegate-deploy-$$"
make_config "$T/imagegate.json"
activate "$NAME" "$T/imagegate.json"
check "nothing runs imagegate before the first connection" eval "! is_imagegate $ACT_PID"

restart_dockerd --config-file "$DJ" --authorization-plugin="$NAME"
check "dockerd's first connection started imagegate on the passed socket" is_imagegate "$ACT_PID"
expect_denied "Community images are restricted" dk pull someone/tool
expect_ok dk pull -q alpine

# A --authorization-plugin flag and daemon.json together stop dockerd from starting.
expect_status 1 "install-docker refuses while dockerd runs with --authorization-plugin" \
    "$IMAGEGATE" install-docker --daemon-json "$DJ" --name "$NAME"
check "the conflict names dockerd's pid and flag" \
    grep -qF "dockerd (pid $DOCKERD_PID) runs with --authorization-plugin=$NAME" "$T/status.err"
check "conflict: daemon.json unchanged" same_bytes "$DJ" "$FIX/daemon-existing.json"

# Without the flag: daemon.json + SIGHUP.
restart_dockerd --config-file "$DJ"
expect_not_denied dk pull -q someone/tool
dk rmi -f someone/tool >/dev/null 2>&1
expect_said "sent SIGHUP to dockerd (pid $DOCKERD_PID)" \
    "$IMAGEGATE" install-docker --daemon-json "$DJ" --name "$NAME" --reload
check "daemon.json: the plugin listed, the other keys kept" \
    test "$(jq -c '[."authorization-plugins", ."max-concurrent-downloads", ."shutdown-timeout"]' "$DJ")" == "[[\"$NAME\"],3,5]"
check "after the reload, a restricted pull is denied" wait_until 15 pull_denied
expect_denied "authorization denied by plugin $NAME: imagegate: pull of docker.io/someone/tool:latest denied" \
    dk pull someone/tool
expect_ok dk pull -q alpine

# The plugin down (its socket file left behind, nobody listening): dockerd retries, then fails
# closed with a 500 that names the plugin.
stop_pid "$ACT_PID" 10
start=$SECONDS
expect_api_status 500 GET /version
e2e_log "with the plugin down, GET /version failed after $((SECONDS - start)) s: $(head -c 300 <<<"$API_BODY")"
echo "$API_BODY" >"$T/down.body"
check "the failure names the plugin" grep -qF "plugin $NAME failed with error" "$T/down.body"
rm -f "$ACT_SOCK"
# ... and uninstall-docker --reload gives docker back without it.
expect_said "sent SIGHUP to dockerd (pid $DOCKERD_PID)" \
    "$IMAGEGATE" uninstall-docker --daemon-json "$DJ" --name "$NAME" --reload
check "after uninstall-docker --reload, docker answers without the plugin" wait_until 30 api_answers
check "uninstall-docker: daemon.json back to its settings" json_equal "$DJ" "$FIX/daemon-existing.json"

# ---------------------------------------------------------------------------------------
section "managed plugin: docker plugin create / enable, daemon.json + SIGHUP"

PLUGIN="imagegate-deploy:latest"
expect_said "created $PLUGIN" env DOCKER="$DOCKER_CLI" bash "$E2E_REPO_DIR/packaging/make-plugin.sh" \
    "$IMAGEGATE" "$T/plugin" "$PLUGIN"
check "the rootfs has the binary and its loader" eval "test -x '$T/plugin/rootfs/imagegate' && ls '$T'/plugin/rootfs/lib*/ld-linux* >/dev/null"
mkdir -p "$T/pconfig" "$T/pcache" "$T/plog"
expect_ok dk plugin set "$PLUGIN" config.source="$T/pconfig" cache.source="$T/pcache" log.source="$T/plog"
expect_ok dk plugin enable "$PLUGIN"
check "docker plugin ls shows it enabled" eval "dk plugin ls --format '{{.Name}} {{.Enabled}}' | grep -qx '$PLUGIN true'"
expect_said "sent SIGHUP to dockerd (pid $DOCKERD_PID)" \
    "$IMAGEGATE" install-docker --daemon-json "$DJ" --name "$PLUGIN" --reload
check "after the reload, a restricted pull is denied through the managed plugin" wait_until 15 pull_denied
expect_denied "authorization denied by plugin $PLUGIN: imagegate: pull of docker.io/someone/tool:latest denied" \
    dk pull someone/tool
expect_ok dk pull -q alpine
check "the decision log lands in the mounted log directory" \
    grep -q '"reference":"docker.io/someone/tool:latest"' "$T/plog/decisions.jsonl"
expect_ok "$IMAGEGATE" uninstall-docker --daemon-json "$DJ" --name "$PLUGIN" --reload
check "unwired: docker answers" wait_until 15 api_answers
expect_ok dk plugin disable "$PLUGIN"
expect_ok dk plugin rm "$PLUGIN"

# ---------------------------------------------------------------------------------------
section "Debian package: make deb, dpkg -i, the installed imagegate, dpkg -r, dpkg -P"

deb_test() {
    if dpkg-query -W -f='${Status}' imagegate 2>/dev/null | grep -q "install ok"; then
        fail "a package imagegate is installed on this machine already; not touching it"
        return
    fi
    if [[ -e /usr/bin/imagegate || -e /run/docker/plugins/imagegate.sock ]]; then
        fail "/usr/bin/imagegate or /run/docker/plugins/imagegate.sock exists; not touching it"
        return
    fi
    if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
        fail "no CMake build directory at $BUILD_DIR (the binary's directory): cannot make deb"
        return
    fi
    # What `make deb` runs after the build: cpack on the build directory, packaging the
    # binary under test as it is (no rebuild).
    expect_ok cmake -S "$E2E_REPO_DIR" -B "$BUILD_DIR"
    expect_ok sh -c 'cd "$1" && cpack -G DEB --config CPackConfig.cmake' sh "$BUILD_DIR"
    local deb
    deb=$(ls -t "$BUILD_DIR"/imagegate_*_*.deb 2>/dev/null | head -1)
    check "make deb built a package" test -f "$deb"
    [[ -f $deb ]] || return

    DEB_INSTALLED=1
    expect_ok dpkg -i "$deb"
    check "installed: /usr/bin/imagegate runs" /usr/bin/imagegate version
    for f in /lib/systemd/system/imagegate.socket /lib/systemd/system/imagegate.service \
        /lib/systemd/system/imagegate-sync.service /lib/systemd/system/imagegate-sync.timer \
        /etc/imagegate/imagegate.json /etc/imagegate/policy.json /usr/share/doc/imagegate/deploy.md; do
        check "installed: $f" test -f "$f"
    done
    check "installed: the containerd verifier wrapper" \
        test "$(cat /opt/containerd/image-verifier/bin/imagegate)" == "$(printf '#!/bin/sh\nexec /usr/bin/imagegate-containerd-verify "$@"')"
    check "installed: /usr/bin/imagegate-containerd-verify (the verifier the wrapper runs)" \
        test -x /usr/bin/imagegate-containerd-verify
    # The installed verifier decides a pull as containerd runs it (a digest, a descriptor on stdin).
    expect_output "allow" sh -c 'printf %s "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"sha256:$(printf %064d 0)\",\"size\":1}" |
        /opt/containerd/image-verifier/bin/imagegate -name docker.io/library/alpine:3.19 -digest "sha256:$(printf %064d 0)" \
            -stdin-media-type application/vnd.oci.descriptor.v1+json' 
    check "installed: conffiles" eval "dpkg-query -W -f='\${Conffiles}' imagegate | grep -q /etc/imagegate/imagegate.json"
    check "installed: the socket is enabled" test -L /etc/systemd/system/sockets.target.wants/imagegate.socket
    check "installed: /var/lib/imagegate is 0700" test "$(stat -c %a /var/lib/imagegate)" == 700
    check "installed: the units pass systemd-analyze verify" \
        systemd-analyze verify /lib/systemd/system/imagegate.socket /lib/systemd/system/imagegate.service \
        /lib/systemd/system/imagegate-sync.service /lib/systemd/system/imagegate-sync.timer
    check "the shipped policy is the embedded default" \
        eval "diff <(/usr/bin/imagegate policy default) /etc/imagegate/policy.json"
    expect_ok /usr/bin/imagegate policy lint /etc/imagegate/policy.json
    expect_ok dpkg -i "$deb" # an upgrade in place: postinst with the old version

    # The README's path: the installed imagegate, on the unit's socket, with the shipped
    # /etc/imagegate/imagegate.json, started by socket activation as the unit does.
    activate imagegate "" /usr/bin/imagegate
    expect_said "sent SIGHUP to dockerd (pid $DOCKERD_PID)" \
        /usr/bin/imagegate install-docker --daemon-json "$DJ" --reload
    check "the installed imagegate denies a restricted pull" wait_until 15 pull_denied
    expect_denied "authorization denied by plugin imagegate: imagegate: pull of docker.io/someone/tool:latest denied" \
        dk pull someone/tool
    check "its decision log is /var/log/imagegate/decisions.jsonl" \
        grep -q '"reference":"docker.io/someone/tool:latest"' /var/log/imagegate/decisions.jsonl
    expect_ok /usr/bin/imagegate uninstall-docker --daemon-json "$DJ" --reload
    wait_until 15 api_answers
    stop_pid "$ACT_PID" 10
    rm -f "$ACT_SOCK"

    # dpkg -r with a daemon.json that lists imagegate: the prerm takes it out first. It runs in
    # private mount and pid namespaces, so it edits a scratch /etc/docker and signals no
    # dockerd of this machine.
    mkdir -p "$T/etc-docker"
    cp "$FIX/daemon-listed.json" "$T/etc-docker/daemon.json"
    expect_ok unshare --mount --pid --fork --mount-proc \
        sh -c 'mount --bind "$1" /etc/docker && dpkg -r imagegate' sh "$T/etc-docker"
    check "prerm removed imagegate from daemon.json" same_bytes "$T/etc-docker/daemon.json" "$FIX/daemon-listed.uninstalled.json"
    check "prerm left daemon.json.imagegate.bak" same_bytes "$T/etc-docker/daemon.json.imagegate.bak" "$FIX/daemon-listed.json"
    check "removed: package state 'deinstall ok config-files'" \
        test "$(dpkg-query -W -f='${Status}' imagegate)" == "deinstall ok config-files"
    for f in /usr/bin/imagegate /usr/bin/imagegate-containerd-verify /lib/systemd/system/imagegate.socket \
        /lib/systemd/system/imagegate.service /opt/containerd/image-verifier/bin/imagegate /usr/share/doc/imagegate; do
        check "removed: $f" test ! -e "$f"
    done
    check "removed: conffiles kept until purge" test -f /etc/imagegate/imagegate.json

    expect_ok dpkg -P imagegate
    check "purged: not known to dpkg" eval "! dpkg-query -W imagegate >/dev/null 2>&1"
    for f in /etc/imagegate /var/lib/imagegate /var/log/imagegate /opt/containerd/image-verifier \
        /etc/systemd/system/sockets.target.wants/imagegate.socket /etc/systemd/system/imagegate.socket; do
        check "purged: $f" test ! -e "$f" -a ! -L "$f"
    done
    check "purged: no imagegate unit state left in /etc/systemd/system" \
        eval "! find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled -name 'imagegate*' 2>/dev/null | grep -q ."
}
deb_test

e2e_finish
