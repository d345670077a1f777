#!/usr/bin/env bash
# The bypass corpus (issue 5, docs/hardening.md, docs/authz-protocol.md §2, §3, §6): real docker commands
# and raw requests on dockerd's socket that try to get a restricted image or a protected host
# path past imagegate. Each attempt must be denied with a message that names the rule; each
# harmless counterpart must still work. The closing table counts the attempts by kind.
#
#     bash tests/e2e/hardening_test.sh build/imagegate
#
# Protected here (imagegate runs with --config, so the set is the one a real install has): the
# dockerd socket, /run/docker/plugins (imagegate's socket directory), the configuration, policy,
# cache, decision-log and admin-socket paths (all under $E2E_TMP/ig), /etc/imagegate,
# /etc/docker, /var/lib/docker, and the policy's own protectedPaths ($E2E_TMP/guarded).
# $E2E_TMP itself is therefore a parent of protected paths; $E2E_TMP/free is not.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FIXTURES="$E2E_FIXTURES/hardening"


source "$FIXTURES/corpus.sh"


# -----------------------------------------------------------------------------------------
section "setup: registry, images, dockerd without a plugin, an admin's volume and agent"
setup_world library/alpine library/busybox someone/tool
seed_local_tag library/alpine alpine
seed_local_tag library/busybox busybox
seed_local_tag someone/tool someone/tool
TOOL_ID=$("$DOCKER_CLI" image inspect -f '{{.Id}}' someone/tool) || e2e_fatal "no someone/tool"
ROOT_DEVICE=$(findmnt -no SOURCE / 2>/dev/null | head -1)
[[ $ROOT_DEVICE == /dev/* ]] || ROOT_DEVICE=/dev/vda
FREE="$E2E_TMP/free"
GUARDED="$E2E_TMP/guarded"
mkdir -p "$FREE/data" "$GUARDED/inside" "$E2E_TMP/ovl/upper" "$E2E_TMP/ovl/work"
echo hello >"$FREE/data/hello.txt"
# What an admin set up before imagegate: a bind volume of /etc, a local volume of a free dir.
"$DOCKER_CLI" volume create --opt type=none --opt o=bind --opt device=/etc admin-etc >/dev/null ||
    e2e_fatal "cannot create the admin's volume"
"$DOCKER_CLI" volume create --opt type=none --opt o=bind --opt device="$FREE/data" admin-data >/dev/null ||
    e2e_fatal "cannot create the admin's data volume"
POLICY="$E2E_TMP/policy.json"
policy_from_template "$FIXTURES/policy.json" "$POLICY"
make_config "$E2E_TMP/imagegate.json" "$POLICY"
start_imagegate --config "$E2E_TMP/imagegate.json"
restart_dockerd --authorization-plugin="$IG_NAME"
CONFIG_COPY="$IG_CONFIG"
PLUGIN_SOCK="$IG_SOCK"

# Symlinks a user can make in a directory of their own.
ln -s "$GUARDED" "$FREE/to-guarded"
ln -s "$E2E_TMP/ig" "$FREE/to-config-dir"     # the decision log's and admin socket's directory
ln -s "$CONFIG_COPY" "$FREE/to-config"
ln -s /etc "$FREE/to-etc"
ln -s /run/docker/plugins "$FREE/to-plugins"
ln -s "$DOCKER_SOCK" "$FREE/to-docker.sock"
ln -s / "$FREE/to-root"
ln -s .. "$FREE/up"                       # relative: $E2E_TMP, a parent of protected paths
ln -s "$FREE/to-guarded" "$FREE/chain"     # a link to a link
ln -s "$FREE/data" "$FREE/to-data"         # harmless

section "harmless counterparts work under the hardened policy"
counterpart dk run --rm --network none alpine true
counterpart dk run --rm --network none -v "$FREE/data:/data:ro" alpine cat /data/hello.txt
counterpart dk run --rm --network none --mount "type=bind,src=$FREE/data,dst=/data" alpine cat /data/hello.txt
counterpart dk run --rm --network none -v "$FREE/to-data:/data" alpine cat /data/hello.txt
counterpart dk run --rm --network none -v admin-data:/data alpine cat /data/hello.txt
counterpart dk run --rm --network none -v scratch:/scratch alpine true
counterpart dk run --rm --network none --tmpfs /t alpine true
counterpart dk_new run --rm --network none -v "$FREE/data:/data" alpine cat /data/hello.txt

# -----------------------------------------------------------------------------------------
kind "mounts: every spelling of a protected path"
attempt "would expose the protected path $GUARDED" dk run --rm --network none -v "$GUARDED:/x" alpine true
attempt "would expose the protected path $GUARDED" dk run --rm --network none -v "$GUARDED/inside:/x:ro" alpine true
attempt "would expose the protected path $GUARDED" dk run --rm --network none --mount "type=bind,src=$GUARDED,dst=/x" alpine true
attempt "would expose the protected path $GUARDED" dk run --rm --network none --mount "type=bind,source=$GUARDED/inside,target=/x,readonly" alpine true
attempt "would expose the protected path $GUARDED" dk_new run --rm --network none --mount "type=bind,src=$GUARDED,dst=/x" alpine true
attempt "would expose the protected path $DOCKER_SOCK" dk run --rm --network none -v "$DOCKER_SOCK:/var/run/docker.sock" alpine true
attempt "would expose the protected path $DOCKER_SOCK" dk_new run --rm --network none -v "$DOCKER_SOCK:/var/run/docker.sock" alpine true
attempt "would expose the protected path /run/docker/plugins" dk run --rm --network none -v "$PLUGIN_SOCK:/p.sock" alpine true
attempt "would expose the protected path /run/docker/plugins" dk run --rm --network none -v /run/docker/plugins:/p alpine true
attempt "would expose the protected path $CONFIG_COPY" dk run --rm --network none -v "$CONFIG_COPY:/c.json" alpine true
attempt "would expose the protected path $POLICY" dk run --rm --network none -v "$POLICY:/p.json" alpine true
attempt "would expose the protected path $E2E_TMP/ig" dk run --rm --network none -v "$E2E_TMP/ig:/ig" alpine true
attempt "would expose the protected path /etc/imagegate" dk run --rm --network none -v /etc/imagegate:/x alpine true
attempt "would expose the protected path /etc/docker" dk run --rm --network none -v /etc/docker:/x alpine true
attempt "would expose the protected path /var/lib/docker" dk run --rm --network none -v /var/lib/docker:/x alpine true

kind "mounts: parents of protected paths"
attempt "would expose the protected path" dk run --rm --network none -v /:/host alpine true
attempt "would expose the protected path" dk_new run --rm --network none -v /:/host alpine true
attempt "would expose the protected path /etc/" dk run --rm --network none -v /etc:/x alpine true
attempt "would expose the protected path /run/" dk run --rm --network none -v /run:/x alpine true
attempt "would expose the protected path /run/docker/plugins" dk run --rm --network none -v /run/docker:/x alpine true
attempt "would expose the protected path /var/" dk run --rm --network none -v /var:/x alpine true
attempt "would expose the protected path" dk run --rm --network none -v /tmp:/x alpine true
attempt "would expose the protected path" dk run --rm --network none -v "$E2E_TMP:/x" alpine true
attempt "would expose the protected path" dk run --rm --network none --mount type=bind,src=/,dst=/host alpine true

kind "mounts: path spellings"
attempt "would expose the protected path /etc/imagegate" dk run --rm --network none -v //etc/imagegate:/x alpine true
attempt "would expose the protected path" dk run --rm --network none -v //etc:/x alpine true
attempt "would expose the protected path /etc/imagegate" dk run --rm --network none -v /etc/./imagegate:/x alpine true
attempt "would expose the protected path /etc/imagegate" dk run --rm --network none -v /etc/imagegate/:/x alpine true
attempt "would expose the protected path" dk run --rm --network none -v /tmp/../etc:/x alpine true
attempt "would expose the protected path $GUARDED" dk run --rm --network none -v "$FREE/../guarded:/x" alpine true
attempt "would expose the protected path $GUARDED" dk run --rm --network none -v "$FREE/data/../../guarded/./inside:/x" alpine true
attempt "would expose the protected path /run/docker/plugins" dk run --rm --network none -v ///run//docker//plugins//:/x alpine true
attempt "would expose the protected path" dk run --rm --network none --mount "type=bind,src=/tmp/../,dst=/x" alpine true

kind "mounts: symlinks to protected paths"
attempt "would expose the protected path $GUARDED" dk run --rm --network none -v "$FREE/to-guarded:/x" alpine true
attempt "would expose the protected path $GUARDED" dk run --rm --network none -v "$FREE/to-guarded/inside:/x" alpine true
attempt "would expose the protected path $GUARDED" dk run --rm --network none -v "$FREE/to-guarded/not-yet/there:/x" alpine true
attempt "would expose the protected path $GUARDED" dk run --rm --network none -v "$FREE/chain:/x" alpine true
attempt "would expose the protected path $E2E_TMP/ig" dk run --rm --network none -v "$FREE/to-config-dir:/x" alpine true
attempt "would expose the protected path $CONFIG_COPY" dk run --rm --network none -v "$FREE/to-config:/c.json" alpine true
attempt "would expose the protected path /etc/imagegate" dk run --rm --network none -v "$FREE/to-etc/imagegate:/x" alpine true
attempt "would expose the protected path" dk run --rm --network none -v "$FREE/to-etc:/x" alpine true
attempt "would expose the protected path /run/docker/plugins" dk run --rm --network none -v "$FREE/to-plugins:/x" alpine true
attempt "would expose the protected path $DOCKER_SOCK" dk run --rm --network none -v "$FREE/to-docker.sock:/var/run/docker.sock" alpine true
attempt "would expose the protected path" dk run --rm --network none -v "$FREE/to-root:/host" alpine true
attempt "would expose the protected path" dk run --rm --network none -v "$FREE/up:/x" alpine true
attempt "would expose the protected path $GUARDED" dk run --rm --network none --mount "type=bind,src=$FREE/to-guarded,dst=/x" alpine true
attempt "would expose the protected path $GUARDED" dk_new run --rm --network none --mount "type=bind,src=$FREE/chain,dst=/x" alpine true
# a directory swapped for a symlink after the create was allowed: start checks the container again
mkdir -p "$FREE/swap"
SWAPPED=$(dk create --network none -v "$FREE/swap:/x" alpine ls /x 2>/dev/null)
counterpart dk start -a "$SWAPPED"
rmdir "$FREE/swap" && ln -s "$GUARDED" "$FREE/swap"
attempt "may not be entered or started" dk start "$SWAPPED"
attempt "may not be entered or started" dk restart "$SWAPPED"

kind "volumes: local-driver options that bind or mount host paths"
attempt "would expose the protected path /etc/imagegate" dk volume create --opt type=none --opt o=bind --opt device=/etc etc-vol
attempt "would expose the protected path $GUARDED" dk volume create --opt type=none --opt o=bind --opt device="$GUARDED" g-vol
attempt "would expose the protected path $GUARDED" dk volume create --opt type=none --opt o=bind --opt device="$FREE/to-guarded" link-vol
attempt "would expose the protected path /etc/imagegate" dk volume create --opt type=none --opt o=bind --opt device=//etc/./imagegate/ spelled-vol
attempt "would expose the protected path" dk volume create --opt type=tmpfs --opt o=bind --opt device=/ bind-flag-vol
attempt 'host path "etc" is not absolute' dk volume create --opt type=none --opt o=bind --opt device=etc relative-vol
attempt "filesystem type=ext4 device=$ROOT_DEVICE" dk volume create --opt type=ext4 --opt device="$ROOT_DEVICE" disk-vol
attempt "filesystem type=proc" dk volume create --opt type=proc --opt device=/proc proc-vol
attempt "filesystem type=sysfs" dk volume create --opt type=sysfs --opt device=sysfs sys-vol
attempt "filesystem type=overlay" dk volume create --opt type=overlay --opt device=overlay \
    --opt "o=lowerdir=/etc/imagegate,upperdir=$E2E_TMP/ovl/upper,workdir=$E2E_TMP/ovl/work" ovl-vol
attempt_api "would expose the protected path /etc/imagegate" POST /v1.41/volumes/create \
    '{"Name":"api-vol","DriverOpts":{"type":"none","o":"bind","device":"/etc"}}' "${JSON[@]}"
attempt_api "would expose the protected path /etc/imagegate" POST /v1.41/volumes/create \
    '{"Name":"api-vol","driveropts":{"type":"none","o":"bind","device":"/etc"}}' "${JSON[@]}"
attempt "would expose the protected path /etc/imagegate" dk run --rm --network none \
    --mount "type=volume,src=mv1,dst=/x,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/etc" alpine true
attempt "would expose the protected path $GUARDED" dk_new run --rm --network none \
    --mount "type=volume,src=mv2,dst=/x,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=$FREE/to-guarded" alpine true
attempt "filesystem type=proc" dk run --rm --network none \
    --mount "type=volume,src=mv3,dst=/x,volume-opt=type=proc,volume-opt=device=proc" alpine true
# the admin's /etc volume, created before imagegate: using it is checked through its device
attempt "volume admin-etc binds /etc" dk run --rm --network none -v admin-etc:/x alpine true
attempt "volume admin-etc binds /etc" dk run --rm --network none --mount type=volume,src=admin-etc,dst=/x alpine true
section "their counterparts"
counterpart dk volume create --opt type=none --opt o=bind --opt device="$FREE/data" free-vol
counterpart dk volume create --opt type=tmpfs --opt device=tmpfs --opt o=size=1m tmp-vol
counterpart dk volume create plain-vol
counterpart dk run --rm --network none -v free-vol:/a -v tmp-vol:/b -v plain-vol:/c alpine cat /a/hello.txt

kind "container settings through other doors (top-level HostConfig, update, old API start)"
attempt_api "would expose the protected path" POST /v1.41/containers/create \
    '{"Image":"alpine","Binds":["/:/host"]}' "${JSON[@]}"
attempt_api "a privileged container" POST /v1.41/containers/create '{"Image":"alpine","Privileged":true}' "${JSON[@]}"
attempt_api "the host network namespace" POST /v1.41/containers/create '{"Image":"alpine","NetworkMode":"host"}' "${JSON[@]}"
attempt_api "would expose the protected path /etc/imagegate" POST /v1.41/containers/create \
    '{"Image":"alpine","Mounts":[{"Type":"bind","Source":"/etc","Target":"/x"}]}' "${JSON[@]}"
attempt_api "would expose the protected path" POST /v1.41/containers/create \
    '{"Image":"alpine","HostConfig":{"NetworkMode":"none"},"Binds":["/:/host"]}' "${JSON[@]}"
STOPPED=$(dk create --network none alpine ls /host 2>/dev/null)
attempt_api "would expose the protected path" POST "/v1.23/containers/$STOPPED/start" '{"Binds":["/:/host"]}' "${JSON[@]}"
attempt_api "would expose the protected path" POST "/v1.23/containers/$STOPPED/start" '{"HostConfig":{"Binds":["/etc:/x"]}}' "${JSON[@]}"
attempt_api "a privileged container" POST "/v1.23/containers/$STOPPED/start" '{"Privileged":true}' "${JSON[@]}"
attempt_api "" POST "/v1.23/containers/$STOPPED/start" '{"Binds":["/:/host"]}' "${JSON[@]}" -H 'Transfer-Encoding: chunked'
attempt_api "host device $ROOT_DEVICE" POST "/v1.41/containers/$STOPPED/update" \
    "{\"Devices\":[{\"PathOnHost\":\"$ROOT_DEVICE\",\"PathInContainer\":\"/dev/x\",\"CgroupPermissions\":\"rwm\"}]}" "${JSON[@]}"
attempt_api "a privileged container" POST /containers/create '{"Image":"alpine","HostConfig":{"Privileged":true}}' "${JSON[@]}"
counterpart_api POST "/v1.23/containers/$STOPPED/start" '{"NetworkMode":"none"}' "${JSON[@]}"
counterpart_api POST "/v1.41/containers/$STOPPED/update" '{"Memory":67108864,"MemorySwap":-1}' "${JSON[@]}"

kind "JSON decoding: case-folded and duplicate keys"
attempt_api "would expose the protected path" POST /v1.41/containers/create \
    '{"Image":"alpine","HostConfig":{"binds":["/:/host"]}}' "${JSON[@]}"
attempt_api "would expose the protected path" POST /v1.41/containers/create \
    '{"Image":"alpine","hostconfig":{"BINDS":["/:/host"]}}' "${JSON[@]}"
attempt_api "would expose the protected path" POST /v1.41/containers/create \
    '{"Image":"alpine","HostConfig":{"Bind\u017f":["/:/host"]}}' "${JSON[@]}"
attempt_api "would expose the protected path" POST /v1.41/containers/create \
    "$(printf '{"Image":"alpine","HostConfig":{"Bind\xc5\xbf":["/:/host"]}}')" "${JSON[@]}"
attempt_api "a privileged container" POST /v1.41/containers/create \
    "$(printf '{"Image":"alpine","Ho\xc5\xbftConfig":{"PRIVILEGED":true}}')" "${JSON[@]}"
attempt_api "security option MaskedPaths" POST /v1.41/containers/create \
    "$(printf '{"Image":"alpine","HostConfig":{"Mas\xe2\x84\xaaedPaths":[]}}')" "${JSON[@]}"
attempt_api "security option seccomp=unconfined" POST /v1.41/containers/create \
    "$(printf '{"Image":"alpine","HostConfig":{"\xc5\xbfecurityOpt":["seccomp=unconfined"]}}')" "${JSON[@]}"
attempt_api "would expose the protected path" POST /v1.41/containers/create \
    '{"Image":"alpine","HostConfig":{"\u0042inds":["/:/host"]}}' "${JSON[@]}"
attempt_api "is given more than once" POST /v1.41/containers/create \
    '{"Image":"alpine","HostConfig":{"Binds":["/tmp/x:/x"],"binds":["/:/host"]}}' "${JSON[@]}"
attempt_api "is given more than once" POST /v1.41/containers/create \
    '{"Image":"alpine","HostConfig":{"NetworkMode":"none"},"hostConfig":{"Privileged":true}}' "${JSON[@]}"
# The same key twice: Go applies both (a later null keeps the first), so it is refused.
attempt_api "is given twice in one object" POST /v1.41/containers/create \
    '{"Image":"alpine","HostConfig":{"Binds":["/tmp/x:/x"],"Binds":["/:/host"]}}' "${JSON[@]}"
attempt_api "is given twice in one object" POST /v1.41/containers/create \
    '{"Image":"alpine","Image":"someone/tool"}' "${JSON[@]}"
attempt_api "is given twice in one object" POST /v1.41/containers/create \
    '{"Image":"alpine","HostConfig":{"Privileged":true,"Privileged":null,"NetworkMode":"none"}}' "${JSON[@]}"
attempt_api "Community images are restricted" POST /v1.41/containers/create '{"image":"someone/tool"}' "${JSON[@]}"
attempt_api "is not true or false" POST /v1.41/containers/create \
    '{"Image":"alpine","HostConfig":{"Privileged":1}}' "${JSON[@]}"
counterpart_api POST /v1.41/containers/create '{"image":"alpine","hostconfig":{"networkmode":"none","binds":["'"$FREE/data"':/d"]}}' "${JSON[@]}"

kind "protocol: bodies dockerd may withhold (CVE-2024-41110, CVE-2026-34040)"
attempt_api "Community images are restricted" POST /v1.41/containers/create \
    '{"Image":"someone/tool"}' "${JSON[@]}" -H 'Transfer-Encoding: chunked'
attempt_api "would expose the protected path" POST /v1.41/containers/create \
    '{"Image":"alpine","HostConfig":{"Binds":["/:/host"]}}' "${JSON[@]}" -H 'Transfer-Encoding: chunked'
# 1 MiB and more: not shown to plugins by dockerd < 29.3.1 (curl reads the body from a file)
BIG="$E2E_TMP/big.json"
{ printf '{"Image":"someone/tool","Labels":{"pad":"'; head -c 1100000 /dev/zero | tr '\0' a; printf '"}}'; } >"$BIG"
attempt_api "" POST /v1.41/containers/create "@$BIG" "${JSON[@]}"
attempt_api "" POST /v1.41/containers/create "@$BIG" "${JSON[@]}" -H 'Transfer-Encoding: chunked'
attempt_api "form-encoded POST bodies are refused" POST '/v1.41/images/create?fromImage=alpine' \
    'fromImage=someone%2Ftool' -H 'Content-Type: application/x-www-form-urlencoded'
attempt_api "form-encoded POST bodies are refused" POST "/v1.41/commit?container=$STOPPED&repo=acme%2Fsnap" \
    'repo=someone%2Ftool' -H 'Content-Type: application/x-www-form-urlencoded'
attempt_api "form-encoded POST bodies are refused" POST '/v1.41/images/create?fromImage=alpine' \
    'fromImage=someone%2Ftool' -H 'Content-Type: application/x-www-form-urlencoded; charset=utf-8'
attempt_api "that dockerd did not show imagegate" POST /v1.41/containers/create \
    '{"Image":"someone/tool"}' -H 'Content-Type: text/plain'
attempt_api "that dockerd did not show imagegate" POST /v1.41/volumes/create \
    '{"Name":"v","DriverOpts":{"type":"none","o":"bind","device":"/etc"}}' -H 'Content-Type: text/plain'
attempt_api "that dockerd did not show imagegate" POST /v1.41/services/create \
    '{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"someone/tool"}}}' -H 'Content-Type: text/plain'
attempt_api "is not valid JSON" POST /v1.41/containers/create \
    '{"Image":"alpine"} {"HostConfig":{"Privileged":true}}' "${JSON[@]}"

kind "protocol: request URIs (/auth suffix, encoded and unclean paths)"
attempt_api 'ends in \"/auth\"' POST '/v1.41/containers/create?x=/auth' '{"Image":"someone/tool"}' "${JSON[@]}"
attempt_api 'ends in \"/auth\"' POST '/v1.41/images/create?fromImage=someone%2Ftool&x=/auth' ''
attempt_api 'ends in \"/auth\"' POST '/v1.41/containers/create?name=a/auth' '{"Image":"someone/tool"}' "${JSON[@]}"
attempt_api "Community images are restricted" POST '/v1.41/containers/create?x=%2Fauth' '{"Image":"someone/tool"}' "${JSON[@]}"
attempt_api "Community images are restricted" POST '/v1.41/images/someone%2Ftool/tag?repo=alpine&tag=evil' ''
attempt_api "Community images are restricted" POST '/v1.41/images/create?fromImage=someone%2Ftool' ''
attempt_api "Community images are restricted" POST '/v1.41/images/create?from%49mage=someone%2Ftool' ''
attempt_api "Community images are restricted" POST '/v1.41/containers/%63reate' '{"Image":"someone/tool"}' "${JSON[@]}"
attempt_api "repeated with different values" POST '/v1.41/images/create?fromImage=alpine&fromImage=someone%2Ftool' ''
attempt_api "query contains ';'" POST '/v1.41/images/create?fromImage=alpine;fromImage=someone%2Ftool' ''
attempt_api "Community images are restricted" POST '/containers/create' '{"Image":"someone/tool"}' "${JSON[@]}"
attempt_api "Community images are restricted" POST /v1.41/containers/create '{"Image":"someone/tool"}' "${JSON[@]}" \
    --request-target 'http://docker/v1.41/containers/create'
attempt_api 'ends in \"/auth\"' POST /v1.41/containers/create '{"Image":"someone/tool"}' "${JSON[@]}" \
    --request-target 'http://docker/v1.41/containers/create?x=/auth'
attempt_api "Community images are restricted" POST '/v1.12/containers/create' '{"Image":"someone/tool"}' "${JSON[@]}"
# dockerd answers these itself (a redirect to the clean path, or no route) before any plugin
# is asked; imagegate, were it asked, would refuse them too.
refused_before_imagegate POST '/v1.41//containers/create' '{"Image":"someone/tool"}'
refused_before_imagegate POST '/v1.41/x/../containers/create' '{"Image":"someone/tool"}'
refused_before_imagegate POST '/v1.41/x/%2e%2e/containers/create' '{"Image":"someone/tool"}'
refused_before_imagegate POST '/v1.41/./containers/create' '{"Image":"someone/tool"}'
plugin_denies "empty, '.' or '..' segments" '/v1.41//containers/create' '{"Image":"someone/tool"}'
plugin_denies "empty, '.' or '..' segments" '/v1.41/x/%2e%2e/containers/create' '{"Image":"someone/tool"}'
plugin_denies "not cleanly percent-encoded" '/v1.41/containers/create%zz' '{"Image":"someone/tool"}'
plugin_denies "NUL byte" '/v1.41/containers/create%00' '{"Image":"someone/tool"}'

kind "restricted images by other names (IDs, digests, tags, services)"
attempt "Community images are restricted" dk run --rm --network none someone/tool true
attempt "Community images are restricted" dk_new run --rm --network none someone/tool true
attempt "Community images are restricted" dk run --rm --network none "$TOOL_ID" true
attempt "Community images are restricted" dk run --rm --network none "${TOOL_ID#sha256:}" true
attempt "Community images are restricted" dk run --rm --network none "${TOOL_ID:7:12}" true
attempt "Community images are restricted" dk run --rm --network none "sha256:${TOOL_ID:7:12}" true
attempt "Community images are restricted" dk_new run --rm --network none "${TOOL_ID:7:12}" true
attempt "Community images are restricted" dk create --network none someone/tool
attempt "Community images are restricted" dk tag someone/tool alpine:evil
attempt "Community images are restricted" dk tag "${TOOL_ID:7:12}" alpine:evil
attempt "Community images are restricted" dk pull someone/tool
attempt "Community images are restricted" dk service create --name tool someone/tool
attempt_api "Community images are restricted" POST /v1.41/services/create \
    '{"Name":"tool","TaskTemplate":{"ContainerSpec":{"Image":"docker.io/someone/tool:latest"}}}' "${JSON[@]}"
# swarm skips the pull of an image given by ID and runs the local image
attempt_api "Community images are restricted" POST /v1.41/services/create \
    "{\"Name\":\"t\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"$TOOL_ID\"}}}" "${JSON[@]}"
attempt_api "Community images are restricted" POST /v1.41/services/create \
    "{\"Name\":\"t\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"${TOOL_ID#sha256:}\"}}}" "${JSON[@]}"
attempt_api "Community images are restricted" POST /v1.41/containers/create \
    '{"Image":"index.docker.io/someone/tool"}' "${JSON[@]}"
attempt_api "Community images are restricted" POST /v1.41/containers/create \
    '{"Image":"registry-1.docker.io/someone/tool:latest"}' "${JSON[@]}"
attempt_api "is not allowed by acme's Registry Access Management" POST /v1.41/containers/create \
    '{"Image":"quay.io/someone/tool"}' "${JSON[@]}"
section "their counterparts"
ALPINE_ID=$(dk image inspect -f '{{.Id}}' alpine 2>/dev/null)
counterpart dk run --rm --network none "${ALPINE_ID:7:12}" true
counterpart dk run --rm --network none "$ALPINE_ID" true
counterpart dk tag alpine alpine:mine
counterpart_api POST /v1.41/services/create '{"Name":"a","TaskTemplate":{"ContainerSpec":{"Image":"alpine"}}}' "${JSON[@]}"

kind "services (swarm tasks are created without the API)"
attempt "would expose the protected path" dk service create --name s --mount type=bind,src=/,dst=/host alpine
attempt "would expose the protected path /etc/imagegate" dk service create --name s \
    --mount "type=volume,src=sv,dst=/x,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/etc" alpine
attempt "adding capability" dk service create --name s --cap-add SYS_ADMIN alpine
attempt "sysctl kernel.core_pattern" dk service create --name s --sysctl kernel.core_pattern=core alpine
attempt_api "the host network namespace" POST /v1.41/services/create \
    '{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"alpine"},"Networks":[{"Target":"host"}]}}' "${JSON[@]}"
attempt_api "label=disable" POST /v1.41/services/create \
    '{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"alpine","Privileges":{"SELinuxContext":{"Disable":true}}}}}' "${JSON[@]}"
attempt_api "seccomp mode unconfined" POST /v1.41/services/create \
    '{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"alpine","Privileges":{"Seccomp":{"Mode":"unconfined"}}}}}' "${JSON[@]}"
attempt_api "would expose the protected path" POST /v1.41/services/s/update \
    '{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"alpine","Mounts":[{"Type":"bind","Source":"/","Target":"/h"}]}}}' "${JSON[@]}"

kind "images in by other ways (imageImport, imageBuild restricted)"
dk save -o "$E2E_TMP/alpine.tar" alpine >/dev/null 2>&1 || true
attempt "docker load, import and commit are restricted" dk load -i "$E2E_TMP/alpine.tar"
attempt "docker load, import and commit are restricted" dk import "$(make_rootfs_tar)" acme/imported
attempt "docker load, import and commit are restricted" dk commit "$STOPPED" acme/committed
attempt "docker load, import and commit are restricted" dk commit "$STOPPED"
mkdir -p "$E2E_TMP/ctx" && printf 'FROM someone/tool\nRUN true\n' >"$E2E_TMP/ctx/Dockerfile"
attempt "docker build is restricted" dk build -t acme/built "$E2E_TMP/ctx"
attempt "docker build is restricted" env DOCKER_BUILDKIT=0 dk_new build -t acme/built "$E2E_TMP/ctx"
attempt_api "docker build is restricted" POST '/v1.41/build?t=acme%2Fx' '' -H 'Content-Type: application/x-tar'
attempt_api "Community images are restricted" POST '/v1.41/build?remote=someone%2Ftool&t=acme%2Fx' ''
attempt_api "docker build is restricted" POST /v1.41/grpc '' -H 'Upgrade: h2c' -H 'Connection: Upgrade'
attempt_api "docker build is restricted" POST /v1.41/session '' -H 'Upgrade: h2c' -H 'Connection: Upgrade' \
    -H 'X-Docker-Expose-Session-Uuid: e2e'

kind "plugins: imagegate itself, and any install (Manager only)"
attempt "may not change imagegate's own plugin" dk plugin disable "$IG_NAME"
attempt "may not change imagegate's own plugin" dk plugin disable -f "$IG_NAME"
attempt "may not change imagegate's own plugin" dk plugin rm -f "$IG_NAME"
attempt "may not change imagegate's own plugin" dk plugin set "$IG_NAME" DEBUG=1
attempt "may not change imagegate's own plugin" dk plugin disable imagegate
attempt "may not change imagegate's own plugin" dk plugin disable imagegate:latest
attempt "may not change imagegate's own plugin" dk plugin rm acme/imagegate:1.0
attempt "may not change imagegate's own plugin" dk plugin push imagegate
attempt "may not change imagegate's own plugin" dk plugin disable 4f2a9c   # an ID prefix may be imagegate's
# (the CLI asks the registry for the plugin's privileges first, which fails offline: raw requests)
attempt_api "may not change imagegate's own plugin" POST "/v1.41/plugins/$IG_NAME/upgrade?remote=acme%2Fimagegate%3A2" '[]' "${JSON[@]}"
attempt_api "Manager role" POST '/v1.41/plugins/pull?remote=acme%2Fsshfs&name=acme%2Fsshfs' '[]' "${JSON[@]}"
attempt "Manager role" dk plugin enable acme/sshfs
attempt "Manager role" dk plugin set acme/sshfs DEBUG=1
attempt_api "Manager role" POST '/v1.41/plugins/create?name=acme%2Fevil' '' -H 'Content-Type: application/x-tar'
attempt_api "may not change imagegate's own plugin" POST "/v1.41/plugins/$IG_NAME/disable" ''
attempt_api "may not change imagegate's own plugin" DELETE "/v1.41/plugins/$IG_NAME?force=1" ''
counterpart dk plugin ls

# -----------------------------------------------------------------------------------------
section "a Manager may manage plugins (dockerd then says imagegate is no managed plugin)"
jq '.defaultRoles = ["Manager"] | .serial = 8' "$POLICY" >"$POLICY.new" && mv "$POLICY.new" "$POLICY"
kill -HUP "$IG_PID"
wait_until 10 grep -q "reloaded policy: acme serial 8" "$IG_LOG" || e2e_fatal "imagegate did not reload"
expect_fail "not found" dk plugin disable "$IG_NAME"
expect_api_not_denied POST '/v1.41/plugins/pull?remote=acme%2Fsshfs&name=acme%2Fsshfs' '[]'

section "many named volumes: answered from one GET /volumes, bound to 5 s of lookups"
# More than 8 named volumes are checked against dockerd's volume list, not one by one.
many=()
for i in $(seq 1 40); do many+=(-v "scratch$i:/s$i"); done
attempt "volume admin-etc binds /etc" dk create --network none "${many[@]}" -v admin-etc:/x alpine true
counterpart dk create --name many-volumes --network none "${many[@]}" -v admin-data:/d alpine true
dk rm -f many-volumes >/dev/null 2>&1
dk volume rm $(printf 'scratch%s ' $(seq 1 40)) >/dev/null 2>&1
# An imagegate whose "dockerd" (a stand-in on a socket of its own) never answers volume
# lookups and answers container lookups with 404 after 0.25 s. A volume it cannot ask about
# is denied (fail closed); 40 containers to lend volumes cost 10 s of lookups, more than the
# 5 s one decision may spend, so that request is denied once the budget is spent instead of
# holding the docker command (dockerd waits for a plugin for ever).
python3 -c '
import socket, sys, threading, time
def serve(c):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(4096)
        if not chunk: return
        data += chunk
    if data.startswith(b"GET /volumes"):
        time.sleep(3600); return
    time.sleep(0.25)
    body = b"{\"message\":\"No such container\"}"
    try:
        c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    except OSError:
        pass
    c.close()
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$E2E_TMP/silent.sock" &
SILENT_PID=$!
wait_until 10 test -S "$E2E_TMP/silent.sock" || e2e_fatal "no stand-in dockerd socket"
jq --arg s "$E2E_TMP/silent.sock" --arg d "$E2E_TMP/silent" \
    '.dockerSockets = [$s] | .adminSocket = "\($d)/admin.sock" | .decisionLog = "\($d)/decisions.jsonl"' \
    "$E2E_TMP/imagegate.json" >"$E2E_TMP/silent.json"
mkdir -p "$E2E_TMP/silent"
main_ig=$(declare -p IG_NAME IG_PID IG_SOCK IG_LOG IG_CONFIG IG_DECISION_LOG IG_ADMIN_SOCK)
start_imagegate --config "$E2E_TMP/silent.json"
restart_dockerd --authorization-plugin="$IG_NAME"
attempt "named volume silent1: imagegate cannot ask dockerd what it binds" \
    dk create --network none -v silent1:/a alpine true
lenders=$(jq -cn '[range(40) | "lender\(.)"]')
started=$SECONDS
attempt_api "could not be decided within 5 s" POST /v1.41/containers/create \
    "{\"Image\":\"alpine\",\"HostConfig\":{\"VolumesFrom\":$lenders}}" "${JSON[@]}"
check "the denial came within 30 s ($((SECONDS - started)) s)" test $((SECONDS - started)) -lt 30
stop_imagegate
kill "$SILENT_PID" 2>/dev/null; wait "$SILENT_PID" 2>/dev/null
eval "${main_ig//declare /declare -g }"
restart_dockerd --authorization-plugin="$IG_NAME"

section "audit mode: allows, and logs the denial it would have made"
jq '.mode = "audit" | .defaultRoles = ["Reader","Writer"] | .serial = 9' "$POLICY" >"$POLICY.new" && mv "$POLICY.new" "$POLICY"
kill -HUP "$IG_PID"
wait_until 10 grep -q "reloaded policy: acme serial 9" "$IG_LOG" || e2e_fatal "imagegate did not reload the audit policy"
expect_ok dk create --name audited --network none -v /:/host alpine true
expect_ok dk create --name audited-tool --network none someone/tool true
# (jq -s: jq 1.6's -e looks only at the last input line)
check "the decision log records the would-be denial of -v /:/host" wait_until 10 jq -se \
    'any(.[]; .decision == "deny" and .mode == "audit" and ((.reason // "") | contains("would expose the protected path")))' \
    "$IG_DECISION_LOG"
check "the decision log records the would-be denial of someone/tool" wait_until 10 jq -se \
    'any(.[]; .decision == "deny" and .mode == "audit" and .reference == "docker.io/someone/tool:latest")' \
    "$IG_DECISION_LOG"
dk rm -f audited audited-tool >/dev/null 2>&1

# -----------------------------------------------------------------------------------------
corpus_summary "bypass corpus (issue 5): attempts by kind"
e2e_finish
