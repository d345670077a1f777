#!/usr/bin/env bash
# The escalation corpus (issue 11, docs/hardening.md): Enhanced Container Isolation on Linux — being
# allowed to talk to dockerd must not amount to root on the host. One entry per technique: a
# real docker command or raw API request that would give host root (or write a protected path)
# if allowed, which must be denied with a message naming the rule, and its harmless counterpart,
# which must still work. Then hardening.userNamespaces "required", for real: without and with
# `dockerd --userns-remap=default`.
#
#     bash tests/e2e/eci_test.sh build/imagegate
#
# The policy (fixtures/hardening/eci-policy.json) gives the local socket the Writer role only
# (no Reader, no Manager): imagegate's own lookups through dockerd (an image's user, a
# container's settings) must work all the same.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FIXTURES="$E2E_FIXTURES/hardening"
source "$FIXTURES/corpus.sh"
KIND_LABEL="technique"

# reload_policy JQ_FILTER SERIAL: rewrites the policy with JQ_FILTER and a new serial, SIGHUPs
# imagegate and waits until it serves that serial.
reload_policy() {
    jq "$1 | .serial = $2" "$POLICY" >"$POLICY.new" && mv "$POLICY.new" "$POLICY"
    kill -HUP "$IG_PID"
    wait_until 10 grep -q "reloaded policy: acme serial $2" "$IG_LOG" || e2e_fatal "imagegate did not reload serial $2"
}

# -----------------------------------------------------------------------------------------
section "setup: registry, images, dockerd without a plugin, an admin's containers"
setup_world library/alpine library/busybox
seed_local_tag library/alpine alpine
seed_local_tag library/busybox busybox
"$DOCKER_CLI" import -c 'USER 1000' -c 'CMD ["/bin/sh"]' "$(make_rootfs_tar)" acme/nonroot >/dev/null ||
    e2e_fatal "cannot import acme/nonroot"
ROOT_DEVICE=$(findmnt -no SOURCE / 2>/dev/null | head -1)
[[ $ROOT_DEVICE == /dev/* ]] || ROOT_DEVICE=/dev/vda
FREE="$E2E_TMP/free"
mkdir -p "$FREE" "$E2E_TMP/guarded" "$E2E_TMP/ctx"
echo hello >"$FREE/hello.txt"
# What an admin runs on such hosts: an agent with the Docker socket (CI runners, Portainer,
# Watchtower ...), monitoring with --pid host and --network host, a root service, a service
# of a non-root image, and a privileged container (created only: this sandbox cannot run one).
admin_run() { "$DOCKER_CLI" run -d --restart always "$@" >/dev/null || e2e_fatal "admin container: $*"; }
admin_run --name agent --network none -v "$DOCKER_SOCK:/var/run/docker.sock" busybox sleep 3600
admin_run --name hostpid --network none --pid host busybox sleep 3600
admin_run --name hostnet --network host busybox sleep 3600
admin_run --name rootsvc --network none alpine sleep 3600
admin_run --name appsvc --network none acme/nonroot sleep 3600
"$DOCKER_CLI" create --name priv --network none --privileged busybox sleep 3600 >/dev/null ||
    e2e_fatal "cannot create the privileged container"
# A container created, never started, that binds a protected path: docker cp reads its mounts
# all the same (dockerd mounts them for the copy).
echo 'root:$6$secret:19000:0:99999:7:::' >"$E2E_TMP/guarded/shadow"
"$DOCKER_CLI" create --name vault --network none -v "$E2E_TMP/guarded:/hostsecret:ro" busybox true >/dev/null ||
    e2e_fatal "cannot create the vault container"
POLICY="$E2E_TMP/policy.json"
policy_from_template "$FIXTURES/eci-policy.json" "$POLICY"
make_config "$E2E_TMP/imagegate.json" "$POLICY"
start_imagegate --config "$E2E_TMP/imagegate.json"
# --experimental: the checkpoint routes (kind "checkpoint directories") act only then.
restart_dockerd --authorization-plugin="$IG_NAME" --experimental
wait_until 30 sh -c '[ "$(dk ps -q | wc -l)" -ge 5 ]' || e2e_fatal "the admin's containers did not come back"
RUN=(dk run --rm --network none)
U=(--user 1000)

# -----------------------------------------------------------------------------------------
kind "privileged container (--privileged)"
attempt "a privileged container" "${RUN[@]}" "${U[@]}" --privileged alpine true
attempt "a privileged container" dk_new run --rm --network none "${U[@]}" --privileged alpine true
counterpart "${RUN[@]}" "${U[@]}" alpine true

kind "host PID namespace (--pid host, then nsenter -t 1)"
attempt "the host pid namespace" "${RUN[@]}" "${U[@]}" --pid host alpine true
attempt_api "the host pid namespace" POST /v1.41/containers/create \
    '{"Image":"alpine","User":"1000","HostConfig":{"NetworkMode":"none","PidMode":"HOST"}}' "${JSON[@]}"
counterpart "${RUN[@]}" "${U[@]}" --pid container:appsvc alpine true

kind "host IPC namespace (--ipc host)"
attempt "the host ipc namespace" "${RUN[@]}" "${U[@]}" --ipc host alpine true
counterpart "${RUN[@]}" "${U[@]}" --ipc private alpine true

kind "host UTS namespace (--uts host)"
attempt "the host uts namespace" "${RUN[@]}" "${U[@]}" --uts host alpine true
counterpart "${RUN[@]}" "${U[@]}" --hostname sandbox alpine true

kind "host user namespace (--userns host)"
attempt "the host userns namespace" "${RUN[@]}" "${U[@]}" --userns host alpine true
attempt_api "the host userns namespace" POST /v1.41/containers/create \
    '{"Image":"alpine","User":"1000","HostConfig":{"NetworkMode":"none","UsernsMode":"host"}}' "${JSON[@]}"

kind "host network namespace (--network host)"
attempt "the host network namespace" dk run --rm "${U[@]}" --network host alpine true
attempt "the host network namespace" dk_new run --rm "${U[@]}" --network host alpine true
attempt "the host network namespace" dk run --rm "${U[@]}" --net=host alpine true
counterpart "${RUN[@]}" "${U[@]}" alpine true

kind "host cgroup namespace (--cgroupns host)"
attempt "the host cgroupns namespace" "${RUN[@]}" "${U[@]}" --cgroupns host alpine true
counterpart "${RUN[@]}" "${U[@]}" --cgroupns private alpine true

kind "added capabilities (--cap-add)"
for cap in SYS_ADMIN SYS_PTRACE SYS_MODULE DAC_READ_SEARCH ALL cap_sys_admin NET_ADMIN SYS_RAWIO BPF; do
    attempt "adding capability $cap" "${RUN[@]}" "${U[@]}" --cap-add "$cap" alpine true
done
attempt "adding capability CAP_SYS_ADMIN" dk_new run --rm --network none "${U[@]}" --cap-add CAP_SYS_ADMIN alpine true
attempt_api "adding capability CAP_SYS_ADMIN" POST /v1.41/containers/create \
    '{"Image":"alpine","User":"1000","HostConfig":{"NetworkMode":"none","Capabilities":["CAP_SYS_ADMIN"]}}' "${JSON[@]}"
counterpart "${RUN[@]}" "${U[@]}" --cap-add NET_BIND_SERVICE alpine true
counterpart "${RUN[@]}" "${U[@]}" --cap-add CHOWN --cap-drop ALL alpine true

kind "host devices (--device, --device-cgroup-rule)"
attempt "host device $ROOT_DEVICE" "${RUN[@]}" "${U[@]}" --device "$ROOT_DEVICE" alpine true
attempt "host device /dev/kmsg" "${RUN[@]}" "${U[@]}" --device /dev/kmsg alpine true
attempt "host device /dev/null" "${RUN[@]}" "${U[@]}" --device /dev/null:/dev/mine alpine true
attempt "host device cgroup rule b *:* rwm" "${RUN[@]}" "${U[@]}" --device-cgroup-rule 'b *:* rwm' alpine true
counterpart "${RUN[@]}" "${U[@]}" alpine ls /dev/null

kind "confinement switched off (--security-opt, MaskedPaths/ReadonlyPaths)"
attempt "security option apparmor=unconfined" "${RUN[@]}" "${U[@]}" --security-opt apparmor=unconfined alpine true
attempt "security option seccomp=unconfined" "${RUN[@]}" "${U[@]}" --security-opt seccomp=unconfined alpine true
# (the CLI sends systempaths=unconfined as empty MaskedPaths and ReadonlyPaths)
attempt "security option MaskedPaths without /proc/asound" "${RUN[@]}" "${U[@]}" --security-opt systempaths=unconfined alpine true
attempt_api "security option systempaths=unconfined" POST /v1.41/containers/create \
    '{"Image":"alpine","User":"1000","HostConfig":{"NetworkMode":"none","SecurityOpt":["systempaths=unconfined"]}}' "${JSON[@]}"
attempt "security option label=disable" "${RUN[@]}" "${U[@]}" --security-opt label=disable alpine true
attempt "security option label:disable" "${RUN[@]}" "${U[@]}" --security-opt label:disable alpine true
echo '{"defaultAction":"SCMP_ACT_ALLOW"}' >"$E2E_TMP/allow-all.json"
attempt "security option seccomp=" "${RUN[@]}" "${U[@]}" --security-opt "seccomp=$E2E_TMP/allow-all.json" alpine true
attempt_api "security option ReadonlyPaths without /proc/bus" POST /v1.41/containers/create \
    '{"Image":"alpine","User":"1000","HostConfig":{"NetworkMode":"none","ReadonlyPaths":[]}}' "${JSON[@]}"
attempt_api "security option MaskedPaths without /proc/kcore" POST /v1.41/containers/create \
    '{"Image":"alpine","User":"1000","HostConfig":{"NetworkMode":"none","MaskedPaths":["/proc/asound","/proc/acpi"]}}' "${JSON[@]}"
attempt "security option no-new-privileges=false" "${RUN[@]}" "${U[@]}" --security-opt no-new-privileges=false alpine true
counterpart "${RUN[@]}" "${U[@]}" --security-opt no-new-privileges alpine true
DEFAULTS=$(dk inspect -f '{"MaskedPaths":{{json .HostConfig.MaskedPaths}},"ReadonlyPaths":{{json .HostConfig.ReadonlyPaths}}}' appsvc)
counterpart_api POST /v1.41/containers/create \
    "{\"Image\":\"alpine\",\"User\":\"1000\",\"HostConfig\":$(jq -c '. + {NetworkMode:"none"}' <<<"$DEFAULTS")}" "${JSON[@]}"

kind "host kernel settings (--sysctl outside the namespaced ones)"
# (the docker CLI itself refuses --sysctl outside the namespaced ones; the API does not)
sysctl_body() { jq -cn --arg k "$1" --arg v "$2" '{Image:"alpine", User:"1000", HostConfig:{NetworkMode:"none", Sysctls:{($k):$v}}}'; }
attempt_api "sysctl kernel.core_pattern" POST /v1.41/containers/create "$(sysctl_body kernel.core_pattern core)" "${JSON[@]}"
attempt_api "sysctl kernel.modprobe" POST /v1.41/containers/create "$(sysctl_body kernel.modprobe /sbin/modprobe)" "${JSON[@]}"
attempt_api "sysctl vm.overcommit_memory" POST /v1.41/containers/create "$(sysctl_body vm.overcommit_memory 0)" "${JSON[@]}"
attempt_api "sysctl kernel/core_pattern" POST /v1.41/containers/create "$(sysctl_body kernel/core_pattern core)" "${JSON[@]}"
attempt "the host network namespace" dk run --rm "${U[@]}" --network host --sysctl net.ipv4.ip_forward=1 alpine true
counterpart "${RUN[@]}" "${U[@]}" --sysctl kernel.shm_rmid_forced=1 alpine true
counterpart "${RUN[@]}" "${U[@]}" --sysctl net.ipv4.ip_unprivileged_port_start=0 alpine true

kind "the host's files (-v /:/host, the Docker socket, protected paths)"
attempt "would expose the protected path" "${RUN[@]}" "${U[@]}" -v /:/host alpine true
attempt "would expose the protected path $DOCKER_SOCK" "${RUN[@]}" "${U[@]}" -v "$DOCKER_SOCK:/var/run/docker.sock" alpine true
attempt "would expose the protected path $E2E_TMP/guarded" "${RUN[@]}" "${U[@]}" --mount "type=bind,src=$E2E_TMP/guarded,dst=/g" alpine true
counterpart "${RUN[@]}" "${U[@]}" -v "$FREE:/data:ro" alpine cat /data/hello.txt

kind "the host kernel's filesystems bound in (-v /proc, -v /sys/fs/cgroup: core_pattern, release_agent)"
ln -s /proc "$FREE/to-proc"
attempt "would expose the host kernel's /proc" "${RUN[@]}" "${U[@]}" -v /proc:/hostproc alpine true
attempt "would expose the host kernel's /proc" "${RUN[@]}" "${U[@]}" --mount type=bind,src=/proc/sys,dst=/x alpine true
attempt "would expose the host kernel's /proc" "${RUN[@]}" "${U[@]}" -v "$FREE/to-proc:/hostproc" alpine true
attempt "would expose the host kernel's /sys" "${RUN[@]}" "${U[@]}" -v /sys:/hostsys alpine true
attempt "would expose the host kernel's /sys" "${RUN[@]}" "${U[@]}" -v /sys/fs/cgroup:/cg alpine true
attempt "would expose the host kernel's /dev" "${RUN[@]}" "${U[@]}" -v /dev:/hostdev alpine true
attempt "would expose the host kernel's /proc" dk volume create --opt type=none --opt o=bind --opt device=/proc procbind
counterpart "${RUN[@]}" "${U[@]}" --tmpfs /scratch alpine ls /proc/self

kind "root in the container meets root-owned host files (rw bind as root)"
mkdir -p "$E2E_TMP/rootowned" && chmod 755 "$E2E_TMP/rootowned"
attempt "a container as root" "${RUN[@]}" -v "$E2E_TMP/rootowned:/hostbin" alpine touch /hostbin/planted
attempt "a container as root" "${RUN[@]}" -u 0 -v "$E2E_TMP/rootowned:/hostbin" acme/nonroot touch /hostbin/planted
counterpart "${RUN[@]}" "${U[@]}" -v "$E2E_TMP/rootowned:/hostbin" alpine sh -c '! touch /hostbin/planted'
check "nothing was planted in the root-owned directory" test ! -e "$E2E_TMP/rootowned/planted"

kind "host disk or kernel filesystems through a local volume"
attempt "filesystem type=ext4 device=$ROOT_DEVICE" dk volume create --opt type=ext4 --opt device="$ROOT_DEVICE" disk
attempt "filesystem type=proc" dk volume create --opt type=proc --opt device=proc hostproc
attempt "filesystem type=cgroup" "${RUN[@]}" "${U[@]}" --mount "type=volume,src=cg,dst=/cg,volume-opt=type=cgroup,volume-opt=device=cgroup,volume-opt=o=memory" alpine true
counterpart dk volume create --opt type=tmpfs --opt device=tmpfs --opt o=size=1m scratch
counterpart "${RUN[@]}" "${U[@]}" -v scratch:/scratch alpine true

kind "root in the container (rootInContainer: restricted)"
for user in root 0 0:0 root:root +0 00; do
    attempt "a container as root (user \"$user\")" "${RUN[@]}" --user "$user" alpine true
done
attempt "a container as root (image alpine runs as root; give --user)" "${RUN[@]}" alpine true
attempt "runs as root; give --user" dk_new run --rm --network none alpine true
attempt_api "a container as root (image alpine runs as root" POST /v1.41/containers/create \
    '{"Image":"alpine","User":"","HostConfig":{"NetworkMode":"none"}}' "${JSON[@]}"
counterpart "${RUN[@]}" --user 1000 alpine true
counterpart "${RUN[@]}" --user 1000:0 alpine true
counterpart "${RUN[@]}" --user nobody alpine true
counterpart "${RUN[@]}" acme/nonroot true
counterpart dk_new run --rm --network none acme/nonroot true

kind "exec with privileges or as root (docker exec --privileged / --user 0)"
attempt "privileged exec" dk exec --privileged appsvc true
attempt "privileged exec" dk exec --privileged -u 1000 rootsvc true
attempt "exec as root (user \"0\")" dk exec -u 0 appsvc true
attempt "exec as root (user \"root\")" dk exec -u root appsvc true
attempt "exec as root (container rootsvc runs as root; give --user)" dk exec rootsvc true
counterpart dk exec appsvc true
counterpart dk exec -u 1000 rootsvc id

kind "what another container has (--volumes-from, container:X namespaces)"
attempt "--volumes-from agent" "${RUN[@]}" "${U[@]}" --volumes-from agent alpine true
attempt "--volumes-from agent" "${RUN[@]}" "${U[@]}" --volumes-from agent:ro alpine true
attempt "the host network namespace (through container hostnet)" dk run --rm "${U[@]}" --network container:hostnet alpine true
attempt "the host pid namespace (through container hostpid)" "${RUN[@]}" "${U[@]}" --pid container:hostpid alpine true
counterpart "${RUN[@]}" "${U[@]}" --volumes-from appsvc alpine true
counterpart dk run --rm "${U[@]}" --network container:appsvc alpine true

kind "entering or starting an admin's container (exec, attach, docker cp, start)"
attempt "container agent may not be entered or started" dk exec -u 1000 agent true
attempt "container hostpid may not be entered or started" dk exec -u 1000 hostpid true
attempt "container priv may not be entered or started" dk exec -u 1000 priv true
# (docker cp into a container first stats the target with HEAD, whose denial has no body: the
# CLI says "no such directory". The raw PUT below shows imagegate's message.)
expect_fail "no such directory" dk cp "$FREE/hello.txt" agent:/var/run/
attempt "container agent may not be entered or started" dk cp agent:/var/run/docker.sock "$E2E_TMP/stolen.sock"
attempt_api "container agent may not be entered or started" POST '/v1.41/containers/agent/attach?stream=1&stdin=1&stdout=1' ''
attempt_api "container agent may not be entered or started" PUT '/v1.41/containers/agent/archive?path=/var/run' \
    "@$(make_rootfs_tar)" -H 'Content-Type: application/x-tar'
# docker cp's API before 1.24, POST /containers/{id}/copy (dockerd 20.10 serves it for API 1.12
# to 1.23), reads a path of a container, its mounts included, without starting it: decided as
# GET and HEAD archive are.
for version in /v1.23 /v1.12 ""; do
    attempt_api "container vault may not be entered or started" POST "$version/containers/vault/copy" \
        '{"Resource":"/hostsecret/shadow"}' "${JSON[@]}"
done
attempt_api "container agent may not be entered or started" POST /v1.23/containers/agent/copy \
    '{"Resource":"/var/run/docker.sock"}' "${JSON[@]}"
attempt_api "container vault may not be entered or started" GET '/v1.41/containers/vault/archive?path=/hostsecret/shadow' ''
attempt "container vault may not be entered or started" dk cp vault:/hostsecret/shadow "$E2E_TMP/stolen-shadow"
check "nothing of the vault's protected mount came out" test ! -e "$E2E_TMP/stolen-shadow"
attempt "container priv may not be entered or started" dk start priv
counterpart dk restart -t 1 appsvc
counterpart dk cp "$FREE/hello.txt" appsvc:/tmp/
counterpart dk cp appsvc:/tmp/hello.txt "$E2E_TMP/back.txt"
# The same copy request is served by dockerd when allowed (the route exists: a tar of the file),
# and answered 404 by its handler from API 1.24 on.
copy_served() {
    local code
    code=$(curl -sS --max-time "$E2E_TIMEOUT" --unix-socket "$DOCKER_SOCK" -o "$E2E_TMP/copy.tar" -w '%{http_code}' \
        -X POST -H 'Content-Type: application/json' --data-binary '{"Resource":"/tmp/hello.txt"}' \
        http://docker/v1.23/containers/appsvc/copy) || return 1
    [[ $code == 200 ]] && [[ $(tar -xOf "$E2E_TMP/copy.tar" hello.txt) == hello ]]
}
COUNTERPARTS=$((COUNTERPARTS + 1))
check "POST /v1.23/containers/appsvc/copy is served: a tar holding /tmp/hello.txt" copy_served
raw POST /v1.24/containers/appsvc/copy '{"Resource":"/tmp/hello.txt"}' "${JSON[@]}"
check "POST /v1.24/containers/appsvc/copy reaches its handler, which answers 404 (HTTP $API_STATUS)" test "$API_STATUS" = 404

kind "checkpoint directories (experimental dockerd lists, writes and removes DIR/CHECKPOINT as root)"
mkdir -p "$E2E_TMP/ckpt/victim" && echo keep >"$E2E_TMP/ckpt/victim/data"
attempt_api "host device checkpoint directory $E2E_TMP/ckpt/victim" DELETE \
    "/v1.41/containers/appsvc/checkpoints/victim?dir=$E2E_TMP/ckpt" ''
attempt_api "checkpoint directory $E2E_TMP/guarded would expose the protected path $E2E_TMP/guarded" DELETE \
    "/v1.41/containers/appsvc/checkpoints/guarded?dir=$E2E_TMP" ''
attempt_api "host device checkpoint directory $E2E_TMP/ckpt" GET "/v1.41/containers/appsvc/checkpoints?dir=$E2E_TMP/ckpt" ''
attempt_api "host device checkpoint directory /srv" POST /v1.41/containers/appsvc/checkpoints \
    '{"CheckpointID":"c1","CheckpointDir":"/srv"}' "${JSON[@]}"
attempt_api "container agent may not be entered or started" POST /v1.41/containers/agent/checkpoints \
    '{"CheckpointID":"c1"}' "${JSON[@]}"
check "the checkpoint directory's victim is still there" test -e "$E2E_TMP/ckpt/victim/data"
check "the protected path is still there" test -e "$E2E_TMP/guarded/shadow"
# The routes act: the container's own checkpoints are listed (none), a missing one is named.
raw GET /v1.41/containers/appsvc/checkpoints ''
COUNTERPARTS=$((COUNTERPARTS + 1))
check "GET /v1.41/containers/appsvc/checkpoints is served (HTTP $API_STATUS: $API_BODY)" \
    test "$API_STATUS ${API_BODY%%$'\n'*}" = "200 null"
raw DELETE /v1.41/containers/appsvc/checkpoints/victim ''
body_says() { grep -qF -- "$1" <<<"$API_BODY"; }
check "DELETE /v1.41/containers/appsvc/checkpoints/victim reaches dockerd's checkpoint code ($API_BODY)" \
    body_says "checkpoint victim does not exist"

kind "plugins (they run with the host privileges they ask for: Manager only)"
attempt_api "Manager role" POST '/v1.41/plugins/pull?remote=acme%2Frootkit&name=acme%2Frootkit' \
    '[{"Name":"host pid namespace","Value":["true"]},{"Name":"mount","Value":["/"]}]' "${JSON[@]}"
attempt_api "Manager role" POST '/v1.41/plugins/acme%2Frootkit/upgrade?remote=acme%2Frootkit%3A2' '[]' "${JSON[@]}"
attempt "Manager role" dk plugin enable acme/rootkit
attempt "Manager role" dk plugin set acme/rootkit mount.source=/
attempt_api "Manager role" POST '/v1.41/plugins/create?name=acme%2Frootkit' '' -H 'Content-Type: application/x-tar'
attempt "may not change imagegate's own plugin" dk plugin disable "$IG_NAME"
counterpart dk plugin ls

kind "builds (what the API shows: --network host, --cache-from)"
printf 'FROM alpine\nRUN true\n' >"$E2E_TMP/ctx/Dockerfile"
attempt "the host network namespace" dk build --network host -t acme/hostnet-build "$E2E_TMP/ctx"
attempt_api "the host network namespace" POST '/v1.41/build?networkmode=host&t=acme%2Fx' '' -H 'Content-Type: application/x-tar'
attempt "Community images are restricted" dk build --network none --cache-from someone/tool -t acme/cached "$E2E_TMP/ctx"
counterpart dk build -q --network none -t acme/built "$E2E_TMP/ctx"

kind "swarm services (their tasks are created without the API)"
attempt_api "the host network namespace" POST /v1.41/services/create \
    '{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"alpine"},"Networks":[{"Target":"host"}]}}' "${JSON[@]}"
attempt "adding capability CAP_SYS_ADMIN" dk service create --name s --cap-add SYS_ADMIN alpine
attempt "would expose the protected path" dk service create --name s --mount type=bind,src=/,dst=/host alpine
attempt "sysctl kernel.core_pattern" dk service create --name s --sysctl kernel.core_pattern=x alpine
counterpart_api POST /v1.41/services/create \
    '{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"alpine","User":"1000"}}}' "${JSON[@]}"

kind "a driver a local user serves, and top's ps_args (issue 26 review)"
# dockerd looks a driver name that is no plugin reference up as /run/docker/plugins/NAME.sock,
# joined unchecked: "../../../tmp/X" is a socket any local user may serve. This one is a fake
# volume driver that would mount the host's "/" into a container; it logs what dockerd asks.
EVIL=ige-evil-$$
cat >"$E2E_TMP/evil_plugin.py" <<'PY'
import http.server, json, os, socketserver, sys
path, log = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(log, "a") as f:
            f.write(self.path + "\n")
        answers = {"/Plugin.Activate": {"Implements": ["VolumeDriver", "NetworkDriver"]},
                   "/VolumeDriver.Get": {"Volume": {"Name": "v", "Mountpoint": "/"}},
                   "/VolumeDriver.Mount": {"Mountpoint": "/"}, "/VolumeDriver.Path": {"Mountpoint": "/"},
                   "/VolumeDriver.Capabilities": {"Capabilities": {"Scope": "local"}}}
        body = json.dumps(answers.get(self.path, {})).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, socketserver.UnixStreamServer): pass
if os.path.exists(path): os.unlink(path)
S(path, H).serve_forever()
PY
: >"$E2E_TMP/evil.log"
python3 "$E2E_TMP/evil_plugin.py" "/tmp/$EVIL.sock" "$E2E_TMP/evil.log" &
EVIL_PID=$!
wait_until 10 test -S "/tmp/$EVIL.sock" || e2e_fatal "the fake volume driver did not start"
attempt_api "names the plugin" POST /v1.41/volumes/create "{\"Name\":\"evilvol\",\"Driver\":\"../../../tmp/$EVIL\"}" "${JSON[@]}"
attempt "names the plugin" "${RUN[@]}" "${U[@]}" --volume-driver "../../../tmp/$EVIL" -v evilvol:/h alpine true
attempt "names the plugin" "${RUN[@]}" "${U[@]}" \
    --mount "type=volume,src=evilvol,dst=/h,volume-driver=../../../tmp/$EVIL" alpine true
attempt_api "names the plugin" POST /v1.41/networks/create "{\"Name\":\"evilnet\",\"Driver\":\"../../../tmp/$EVIL\"}" "${JSON[@]}"
check "dockerd never asked the fake driver anything" test ! -s "$E2E_TMP/evil.log"
counterpart dk volume create --driver local goodvol
kill "$EVIL_PID" 2>/dev/null
wait "$EVIL_PID" 2>/dev/null
rm -f "/tmp/$EVIL.sock"
# top: dockerd keeps ps lines whose "PID" column is the container's; a relabelled column and
# `f` (ps -q fails, so it lists every host process) would pass host processes through.
attempt_api "ps_args" GET "/v1.41/containers/appsvc/top?ps_args=-ovsz%3DPID,user,args%20-e%20e%20f" ''
attempt "ps_args" dk top appsvc -o vsz=PID,user,args
counterpart dk top appsvc aux
counterpart dk top appsvc

# -----------------------------------------------------------------------------------------
kind "userNamespaces required, dockerd without --userns-remap"
reload_policy '.hardening.userNamespaces = "required"' 12
attempt "containers may only be created when dockerd runs with --userns-remap (or rootless): it does not" \
    "${RUN[@]}" "${U[@]}" alpine true
attempt "--userns-remap" dk_new run --rm --network none acme/nonroot true
attempt "the host userns namespace" "${RUN[@]}" "${U[@]}" --userns host alpine true

kind "userNamespaces required, dockerd restarted with --userns-remap=default (same imagegate)"
# dockerd creates the user dockremap and its subordinate ids on first use; its data root's
# parents must be o+x for the remapped root.
chmod o+x "$E2E_TMP" "$DOCKERD_DIR"
restart_dockerd --authorization-plugin="$IG_NAME" --userns-remap=default
expect_output "name=userns" dk info --format '{{json .SecurityOptions}}'
expect_ok dk pull -q alpine
counterpart "${RUN[@]}" "${U[@]}" alpine true
# container root is an unprivileged host uid: uid_map is "0 <subordinate uid> <count>", not "0 0 ..."
uid_map_is_remapped() { dk run --rm --network none --user 1000 alpine cat /proc/self/uid_map | awk '$1 == 0 && $2 != 0 { ok = 1 } END { exit !ok }'; }
check "container uid 0 is mapped to an unprivileged host uid" uid_map_is_remapped
attempt "the host userns namespace" "${RUN[@]}" "${U[@]}" --userns host alpine true
attempt "a container as root" "${RUN[@]}" alpine true

section "userNamespaces optional again: the remapped daemon still runs ordinary containers"
reload_policy '.hardening.userNamespaces = "optional"' 13
counterpart "${RUN[@]}" "${U[@]}" alpine true

corpus_summary "escalation corpus (issue 11): attempts by technique"
e2e_finish
