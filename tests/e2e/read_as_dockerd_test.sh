#!/usr/bin/env bash
# Reading a request as dockerd reads it (issue 16, docs/reading-requests.md): four bypasses
# found against dockerd 20.10 / Go 1.19, with their variants, replayed through the real dockerd
# this suite starts. Each attempt must be refused by dockerd on imagegate's word (HTTP 403,
# "authorization denied by plugin") AND its effect must not have happened: no image pulled or
# imported, no container started or created, no volume created, no service created. The
# assertions are on effects and on dockerd's status and wording, never on imagegate's message.
# Harmless twins of the same requests must still work, so every part can fail both ways.
#
#     bash tests/e2e/read_as_dockerd_test.sh build/imagegate
#
#  1. A Content-Type Go still reads as a form (Unicode spaces trimmed by strings.TrimSpace,
#     upper case, U+0130 lowered to "i" by strings.ToLower, parameters): dockerd's ParseForm
#     reads fromImage / fromSrc+repo from the body, and a body value wins over the query.
#  2. A pre-1.24 containers/{id}/start whose HostConfig body dockerd withholds from plugins
#     (1 MiB or more, chunked) while CheckForJSON still accepts its Content-Type.
#  3. The DriverConfig of a second (third, first) volume mount whose VolumeOptions or mount
#     object has 8 keys or more (containers/create and services/create).
#  4. A service on the host network named by ID (full, unique prefix; dockerd's host network
#     and swarm's own predefined one, which GET /networks does not list), in
#     TaskTemplate.Networks, the deprecated spec-level Networks, and services/update. Swarm
#     runs such tasks with NetworkMode "host". Containers with NetworkMode = the host network's
#     ID: dockerd 20.10 gives them a network namespace of their own (the calibration looks), so
#     for them the assertion is "not in the host's network namespace" (denied, or run apart);
#     were dockerd to put them in the host's, a denial would be required.
#
# Before imagegate is put in front of dockerd, a calibration runs the key bypasses against the
# plugin-less dockerd and checks that their effects really happen there (the image is pulled,
# the container runs with / bound, ...): the effect checks later are not vacuous.
#
# Swarm: `docker swarm init` on 127.0.0.1 (listen and advertise address on loopback); the
# ingress network it makes is removed at once, overlay control services run no task (replicas
# 0), and a docker_gwbridge interface the swarm leaves behind is deleted at exit. When swarm
# cannot start, the service parts are skipped (and say so); the container parts still run.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FIXTURES="$E2E_FIXTURES/hardening"
source "$FIXTURES/corpus.sh"
KIND_LABEL="bypass"

# Swarm leaves a docker_gwbridge bridge on the host; remove it after every dockerd stopped,
# unless it was there before this suite (someone else's).
GWBRIDGE_BEFORE=""
command -v ip >/dev/null && ip link show docker_gwbridge >/dev/null 2>&1 && GWBRIDGE_BEFORE=yes
rad_exit() {
    local rc=$? dir
    for dir in "${E2E_DOCKERD_DIRS[@]}"; do stop_dockerd "$dir"; done
    if [[ -z $GWBRIDGE_BEFORE ]] && command -v ip >/dev/null && ip link show docker_gwbridge >/dev/null 2>&1; then
        ip link del docker_gwbridge 2>/dev/null
    fi
    (exit "$rc")
    e2e_cleanup
}
trap rad_exit EXIT

# -----------------------------------------------------------------------------------------
# Effects, read back from dockerd's listings (image.list and plain listings, which imagegate
# allows). Each prints why and fails when the effect happened or cannot be read.

_listing() {
    local out
    out=$(curl -sS -g --max-time 30 --unix-socket "$DOCKER_SOCK" "http://docker$1" 2>&1) &&
        jq -e "${2:-type == \"array\"}" <<<"$out" >/dev/null 2>&1 && printf '%s' "$out"
}
# no_image REPO:TAG / has_image REPO:TAG
no_image() {
    local l; l=$(_listing /v1.41/images/json) || { echo "cannot list images"; return 1; }
    if jq -e --arg r "$1" 'any(.[]; (.RepoTags // []) | index($r))' <<<"$l" >/dev/null; then
        echo "the image $1 is there: dockerd pulled or imported it"; return 1
    fi
}
has_image() {
    local l; l=$(_listing /v1.41/images/json) || { echo "cannot list images"; return 1; }
    jq -e --arg r "$1" 'any(.[]; (.RepoTags // []) | index($r))' <<<"$l" >/dev/null ||
        { echo "the image $1 is not there"; return 1; }
}
# _container NAME: the container's listing entry, or null.
_container() {
    local l; l=$(_listing '/v1.41/containers/json?all=1') || { echo "cannot list containers"; return 2; }
    jq -c --arg n "/$1" 'first(.[] | select(.Names | index($n))) // null' <<<"$l"
}
# not_started NAME: the container exists, is not running and has no bind of "/".
not_started() {
    local c; c=$(_container "$1") || { echo "$c"; return 1; }
    [[ $c != null ]] || { echo "the container $1 is gone"; return 1; }
    if [[ $(jq -r .State <<<"$c") == running ]]; then
        echo "the container $1 is running (mounts: $(jq -c '[.Mounts[]? | .Source]' <<<"$c"))"; return 1
    fi
    if jq -e 'any(.Mounts[]?; .Source == "/")' <<<"$c" >/dev/null; then
        echo "the container $1 was given a bind of / (dockerd applied the start body)"; return 1
    fi
}
is_running() {
    local c; c=$(_container "$1") || { echo "$c"; return 1; }
    [[ $(jq -r '.State // empty' <<<"$c") == running ]] || { echo "the container $1 is not running: $c"; return 1; }
}
no_container() {
    local c; c=$(_container "$1") || { echo "$c"; return 1; }
    [[ $c == null ]] || { echo "the container $1 was created: $(jq -c '{State, Mounts: [.Mounts[]? | {Name, Source}]}' <<<"$c")"; return 1; }
}
has_container() {
    local c; c=$(_container "$1") || { echo "$c"; return 1; }
    [[ $c != null ]] || { echo "the container $1 was not created"; return 1; }
}
no_volume() {
    local l; l=$(_listing /v1.41/volumes '.Volumes | type == "array"') || { echo "cannot list volumes"; return 1; }
    if jq -e --arg n "$1" 'any(.Volumes[]; .Name == $n)' <<<"$l" >/dev/null; then
        echo "the volume $1 was created: $(jq -c --arg n "$1" '.Volumes[] | select(.Name == $n) | .Options' <<<"$l")"; return 1
    fi
}
# no_container_nor_volume NAME VOLUME
no_container_nor_volume() { no_container "$1" && no_volume "$2"; }
_service() {
    local l; l=$(_listing /v1.41/services) || { echo "cannot list services"; return 2; }
    jq -c --arg n "$1" 'first(.[] | select(.Spec.Name == $n)) // null' <<<"$l"
}
no_service() {
    local s; s=$(_service "$1") || { echo "$s"; return 1; }
    [[ $s == null ]] || { echo "the service $1 was created: $(jq -c '{TaskTemplate: .Spec.TaskTemplate.Networks, Networks: .Spec.Networks, Mounts: .Spec.TaskTemplate.ContainerSpec.Mounts}' <<<"$s" | head -c 400)"; return 1; }
}
has_service() {
    local s; s=$(_service "$1") || { echo "$s"; return 1; }
    [[ $s != null ]] || { echo "the service $1 was not created"; return 1; }
}
# service_not_on NAME NETWORK_ID: the service (which must exist) is not attached to NETWORK_ID.
service_not_on() {
    local s; s=$(_service "$1") || { echo "$s"; return 1; }
    [[ $s != null ]] || { echo "the service $1 is gone"; return 1; }
    if jq -e --arg id "$2" 'any((.Spec.TaskTemplate.Networks // [])[], (.Spec.Networks // [])[]; .Target == $id)' <<<"$s" >/dev/null; then
        echo "the service $1 is now on the host network $2"; return 1
    fi
}

# -----------------------------------------------------------------------------------------
# Attempts and controls.

# blocked DESC EFFECT METHOD URI BODY [CURL_ARGS...]: the raw request (corpus.sh's raw: sent
# exactly as given) is answered 403 "authorization denied by plugin", and EFFECT (a command
# and its arguments in one string, e.g. "no_image randomdev/tool:t3") finds no effect.
# With REFUSED_OK=CODE in the environment of the call, dockerd's own refusal with that status
# (before any plugin is asked, e.g. Go's 400 "invalid header value") counts as refused too.
blocked() {
    local desc="$1" effect=() before=$E2E_FAILED
    read -ra effect <<<"$2"
    shift 2
    raw "$@"
    local status=$API_STATUS response=$API_BODY why=""
    if [[ $status == 403 && $response == *"authorization denied by plugin"* ]]; then
        :
    elif [[ -n ${REFUSED_OK:-} && $status == "$REFUSED_OK" ]]; then
        desc+=" (dockerd itself answers $status)"
    else
        why="expected HTTP 403 \"authorization denied by plugin\", got HTTP $status"
    fi
    _judge "denied, no effect: $desc" "$why" "$response" "${effect[@]}" -- "$@"
    _counted "$before"
}

# _judge NAME WHY RESPONSE EFFECT... -- REQUEST...: runs EFFECT (it prints why it found one and
# fails), then passes NAME when neither WHY nor the effect says anything, else fails it.
_judge() {
    local name=$1 why=$2 response=$3 effect=() seen
    shift 3
    while [[ $1 != -- ]]; do effect+=("$1"); shift; done
    shift
    if ! seen=$("${effect[@]}"); then
        why+="${why:+; }$seen"
    fi
    if [[ -z $why ]]; then
        pass "$name"
    else
        fail "$name" "why: $why" "request: $(_raw_desc "$@" | head -c 300)" \
            "response: $(head -c 400 <<<"$response" | tr '\n' ' ')"
    fi
}

# works DESC EFFECT METHOD URI BODY [CURL_ARGS...]: the harmless twin: a 2xx answer, no
# denial, and EFFECT (e.g. "has_image busybox:latest") finds that it happened.
works() {
    local desc="$1" effect=()
    read -ra effect <<<"$2"
    shift 2
    COUNTERPARTS=$((COUNTERPARTS + 1))
    raw "$@"
    local status=$API_STATUS response=$API_BODY why=""
    if [[ ! $status =~ ^2 || $response == *"authorization denied"* || $response == *"failed with error"* ]]; then
        why="expected a 2xx answer without a denial, got HTTP $status"
    fi
    _judge "allowed and done: $desc" "$why" "$response" "${effect[@]}" -- "$@"
}

# calibrate DESC CMD...: a check on the plugin-less dockerd (what dockerd does without imagegate).
calibrate() { check "without imagegate, dockerd $1" "${@:2}"; }

# Unicode white space Go's strings.TrimSpace removes (U+000A and U+000D cannot be carried in
# a header value; U+000B and U+000C reach Go, which refuses them: HTTP 400).
SPACE_NAMES=(U+0009 U+000B U+000C U+0085 U+00A0 U+1680
    U+2000 U+2001 U+2002 U+2003 U+2004 U+2005 U+2006 U+2007 U+2008 U+2009 U+200A
    U+2028 U+2029 U+202F U+205F U+3000)
SPACES=($'\t' $'\x0b' $'\x0c' $'\xc2\x85' $'\xc2\xa0' $'\xe1\x9a\x80'
    $'\xe2\x80\x80' $'\xe2\x80\x81' $'\xe2\x80\x82' $'\xe2\x80\x83' $'\xe2\x80\x84' $'\xe2\x80\x85'
    $'\xe2\x80\x86' $'\xe2\x80\x87' $'\xe2\x80\x88' $'\xe2\x80\x89' $'\xe2\x80\x8a'
    $'\xe2\x80\xa8' $'\xe2\x80\xa9' $'\xe2\x80\xaf' $'\xe2\x81\x9f' $'\xe3\x80\x80')
# refused_ok NAME: the status dockerd's HTTP server gives a header carrying that space itself.
refused_ok() { case $1 in U+000B | U+000C) echo 400 ;; *) echo "" ;; esac; }
NBSP=$'\xc2\xa0'
DOTTED_I=$'\xc4\xb0'   # U+0130: strings.ToLower gives "i"
FORM=application/x-www-form-urlencoded

# -----------------------------------------------------------------------------------------
section "setup: registry, images, dockerd without a plugin, swarm on loopback"
setup_world library/alpine library/busybox randomdev/tool
seed_local_tag library/alpine alpine
FREE="$E2E_TMP/free"
mkdir -p "$FREE/data" "$E2E_TMP/guarded"
echo hello >"$FREE/data/hello.txt"
HOST_NETNS=$(readlink /proc/self/ns/net)
MANIFEST_TYPE=application/vnd.docker.distribution.manifest.v2+json
curl -fsS -H "Accept: $MANIFEST_TYPE" -o "$E2E_TMP/tool.manifest" \
    "http://$REGISTRY/v2/randomdev/tool/manifests/latest" || e2e_fatal "no manifest of randomdev/tool"
curl -fsS -H "Accept: $MANIFEST_TYPE" -o "$E2E_TMP/busybox.manifest" \
    "http://$REGISTRY/v2/library/busybox/manifests/latest" || e2e_fatal "no manifest of library/busybox"
# A gzipped tar of the test root filesystem, served over HTTP on loopback (the registry's
# layer blob of library/alpine): a fromSrc URL.
curl -fsS -H "Accept: $MANIFEST_TYPE" -o "$E2E_TMP/alpine.manifest" \
    "http://$REGISTRY/v2/library/alpine/manifests/latest" || e2e_fatal "no manifest of library/alpine"
IMPORT_URL="http://$REGISTRY/v2/library/alpine/blobs/$(jq -r '.layers[0].digest' "$E2E_TMP/alpine.manifest")"
curl -fsS -o /dev/null "$IMPORT_URL" || e2e_fatal "the layer blob $IMPORT_URL does not answer"
# tool_tag TAG / busybox_tag TAG: another tag of the same image in the registry (each attempt
# pulls a tag of its own, so one attempt that gets through does not hide another's effect).
tool_tag() {
    curl -fsS -o /dev/null -X PUT -H "Content-Type: $MANIFEST_TYPE" --data-binary "@$E2E_TMP/tool.manifest" \
        "http://$REGISTRY/v2/randomdev/tool/manifests/$1" || e2e_fatal "cannot tag randomdev/tool:$1"
}
busybox_tag() {
    curl -fsS -o /dev/null -X PUT -H "Content-Type: $MANIFEST_TYPE" --data-binary "@$E2E_TMP/busybox.manifest" \
        "http://$REGISTRY/v2/library/busybox/manifests/$1" || e2e_fatal "cannot tag library/busybox:$1"
}

SWARM=""
SWARM_PORT=$(free_port)
if "$DOCKER_CLI" swarm init --advertise-addr "127.0.0.1:$SWARM_PORT" --listen-addr "127.0.0.1:$SWARM_PORT" \
    >"$E2E_TMP/swarm-init.log" 2>&1; then
    SWARM=yes
    # No ingress: its sandbox would open the VXLAN port on every address.
    wait_until 20 sh -c "curl -s --unix-socket '$DOCKER_SOCK' -X DELETE http://d/v1.41/networks/ingress >/dev/null;
        ! curl -s --unix-socket '$DOCKER_SOCK' http://d/v1.41/networks | jq -e 'any(.[]; .Name == \"ingress\")'" ||
        e2e_log "the ingress network is still there"
    e2e_log "swarm manager on 127.0.0.1:$SWARM_PORT"
else
    e2e_log "swarm cannot start here: the service parts are skipped ($(tail -1 "$E2E_TMP/swarm-init.log"))"
fi
HOST_NET_ID=$("$DOCKER_CLI" network inspect -f '{{.Id}}' host) || e2e_fatal "no host network"
# the shortest prefix (at least 3 characters) of the host network's ID that no other network
# ID starts with
ALL_NET_IDS=$("$DOCKER_CLI" network ls -q --no-trunc)
HOST_PREFIX=""
for len in $(seq 3 ${#HOST_NET_ID}); do
    p=${HOST_NET_ID:0:len}
    if [[ $(grep -c "^$p" <<<"$ALL_NET_IDS") == 1 ]]; then HOST_PREFIX=$p; break; fi
done

# -----------------------------------------------------------------------------------------
section "calibration: what the plugin-less dockerd does with these requests"
D=(-H "Content-Type: $FORM$NBSP")
tool_tag cal
raw POST '/v1.41/images/create?fromImage=alpine&tag=latest' 'fromImage=randomdev%2Ftool&tag=cal' "${D[@]}"
calibrate "pulls randomdev/tool from a form body typed \"$FORM<U+00A0>\" (query: alpine)" has_image randomdev/tool:cal
tool_tag cal2
raw POST '/v1.41/images/create?fromImage=alpine&tag=latest' 'fromImage=randomdev%2Ftool&tag=cal2' \
    -H "Content-Type: APPL${DOTTED_I}CATION/X-WWW-FORM-URLENCODED"
calibrate "pulls randomdev/tool from a form body typed \"APPL<U+0130>CATION/X-WWW-FORM-URLENCODED\"" has_image randomdev/tool:cal2
raw POST '/v1.41/images/create?fromImage=alpine&tag=latest' 'x' -H "Content-Type: $FORM"$'\x0b'
calibrate "refuses a Content-Type carrying U+000B with HTTP 400 (Go: invalid header value)" test "$API_STATUS" = 400
printf -- '--XX\r\nContent-Disposition: form-data; name="fromImage"\r\n\r\nrandomdev/tool\r\n--XX\r\nContent-Disposition: form-data; name="tag"\r\n\r\ncal3\r\n--XX--\r\n' >"$E2E_TMP/multipart.body"
tool_tag cal3
raw POST '/v1.41/images/create?fromImage=alpine&tag=latest' "@$E2E_TMP/multipart.body" \
    -H 'Content-Type: multipart/form-data; boundary=XX'
if has_image randomdev/tool:cal3 >/dev/null; then MULTIPART_READ=yes; else MULTIPART_READ=""; fi
e2e_log "note: images/create $([[ -n $MULTIPART_READ ]] && echo DOES || echo 'does not') read fromImage from a multipart/form-data body"
raw POST '/v1.41/images/create?tag=latest' \
    "fromSrc=$(jq -rn --arg v "$IMPORT_URL" '$v | @uri')&repo=acme%2Fcal" "${D[@]}"
calibrate "imports acme/cal from fromSrc=URL in a form body typed \"$FORM<U+00A0>\" (query: tag=latest)" has_image acme/cal:latest
BIG="$E2E_TMP/start-big.json"     # 1.1 MiB: never shown to plugins
{ printf '{"Binds":["/:/host"],"PidMode":"host","Padding":"'; head -c 1153434 /dev/zero | tr '\0' x; printf '"}'; } >"$BIG"
"$DOCKER_CLI" create --name cal-start --network none alpine sleep 3600 >/dev/null || e2e_fatal "cannot create cal-start"
raw POST /v1.23/containers/cal-start/start "@$BIG" -H "Content-Type: application/json$NBSP"
started_with_root() { [[ $("$DOCKER_CLI" inspect -f '{{.State.Running}} {{json .HostConfig.Binds}} {{.HostConfig.PidMode}}' cal-start) == 'true ["/:/host"] host' ]]; }
calibrate "starts a container with / bound and the host pid namespace from a 1.1 MiB pre-1.24 start body typed \"application/json<U+00A0>\"" \
    started_with_root
pad8='"NoCopy":false,"Labels":{"e2e":"pad"},"p1":1,"p2":2,"p3":3,"p4":4,"p5":5,"p6":6'
raw POST '/v1.41/containers/create?name=cal-mount' "{\"Image\":\"alpine\",\"Cmd\":[\"true\"],\"HostConfig\":{\"NetworkMode\":\"none\",\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"cal-pad\",\"Target\":\"/a\",\"VolumeOptions\":{$pad8}},{\"Type\":\"volume\",\"Source\":\"cal-root\",\"Target\":\"/b\",\"VolumeOptions\":{$pad8,\"DriverConfig\":{\"Name\":\"local\",\"Options\":{\"type\":\"none\",\"o\":\"bind\",\"device\":\"/\"}}}}]}}" "${JSON[@]}"
volume_binds_root() { [[ $("$DOCKER_CLI" volume inspect -f '{{.Options.type}} {{.Options.o}} {{.Options.device}}' cal-root) == 'none bind /' ]]; }
calibrate "creates a container and a local volume binding / from a second mount's DriverConfig" volume_binds_root
# a container with NetworkMode = the host network's ID
cal_netns=$("$DOCKER_CLI" run --rm --network "$HOST_NET_ID" alpine /bin/busybox readlink /proc/self/ns/net 2>&1)
if [[ $cal_netns == "$HOST_NETNS" ]]; then CONTAINER_ID_JOINS_HOST=yes; else CONTAINER_ID_JOINS_HOST=""; fi
if [[ -n $CONTAINER_ID_JOINS_HOST ]]; then
    e2e_log "note: a container with NetworkMode=<host network ID> JOINS the host network namespace"
else
    e2e_log "note: a container with NetworkMode=<host network ID> gets a network namespace of its own ($cal_netns; the host: $HOST_NETNS)"
fi
SWARM_HOST_ID=""
if [[ -n $SWARM ]]; then
    raw POST /v1.41/services/create "{\"Name\":\"cal-svc\",\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"alpine\",\"Command\":[\"sleep\",\"300\"]},\"Networks\":[{\"Target\":\"$HOST_PREFIX\"}]}}" "${JSON[@]}"
    # swarm writes its own predefined host network's ID into the spec (GET /networks does not list it)
    SWARM_HOST_ID=$("$DOCKER_CLI" service inspect -f '{{(index .Spec.TaskTemplate.Networks 0).Target}}' cal-svc 2>/dev/null)
    svc_task_netns() {
        local c pid
        c=$("$DOCKER_CLI" ps -q --filter label=com.docker.swarm.service.name=cal-svc | head -1)
        [[ -n $c ]] || return 1
        [[ $("$DOCKER_CLI" inspect -f '{{.HostConfig.NetworkMode}}' "$c") == host ]] || return 1
        pid=$("$DOCKER_CLI" inspect -f '{{.State.Pid}}' "$c")
        [[ $(readlink "/proc/$pid/ns/net") == "$HOST_NETNS" ]]
    }
    calibrate "runs the task of a service on Target=<host network ID prefix $HOST_PREFIX> in the host's network namespace" \
        wait_until 30 svc_task_netns
    e2e_log "note: swarm's own host network is $SWARM_HOST_ID (dockerd's: $HOST_NET_ID)"
    listed=$(curl -s --unix-socket "$DOCKER_SOCK" http://d/v1.41/networks | jq --arg id "$SWARM_HOST_ID" 'any(.[]; .Id == $id)')
    by_id=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$DOCKER_SOCK" "http://d/v1.41/networks/$SWARM_HOST_ID")
    e2e_log "note: GET /networks lists it: $listed; GET /networks/$SWARM_HOST_ID answers $by_id"
    "$DOCKER_CLI" service rm cal-svc >/dev/null
    # the shortest prefix of swarm's host network ID that swarm resolves to it
    SWARM_HOST_PREFIX=""
    if [[ -n $SWARM_HOST_ID ]]; then
        for len in $(seq 1 12); do
            raw POST /v1.41/services/create "{\"Name\":\"cal-p$len\",\"Mode\":{\"Replicated\":{\"Replicas\":0}},\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"alpine\"},\"Networks\":[{\"Target\":\"${SWARM_HOST_ID:0:len}\"}]}}" "${JSON[@]}"
            target=$("$DOCKER_CLI" service inspect -f '{{(index .Spec.TaskTemplate.Networks 0).Target}}' "cal-p$len" 2>/dev/null)
            "$DOCKER_CLI" service rm "cal-p$len" >/dev/null 2>&1
            if [[ $target == "$SWARM_HOST_ID" ]]; then SWARM_HOST_PREFIX=${SWARM_HOST_ID:0:len}; break; fi
        done
        e2e_log "note: swarm resolves the prefix \"$SWARM_HOST_PREFIX\" to its host network"
    fi
    "$DOCKER_CLI" network create -d overlay --attachable=false rad-ov >/dev/null || e2e_fatal "cannot create the overlay network rad-ov"
    OV_ID=$("$DOCKER_CLI" network inspect -f '{{.Id}}' rad-ov)
fi
# undo the calibration's effects
"$DOCKER_CLI" rm -f cal-start cal-mount >/dev/null 2>&1
"$DOCKER_CLI" volume rm cal-pad cal-root >/dev/null 2>&1
"$DOCKER_CLI" rmi randomdev/tool:cal randomdev/tool:cal2 randomdev/tool:cal3 acme/cal >/dev/null 2>&1
no_containers() { [[ -z $("$DOCKER_CLI" ps -aq) ]]; }
wait_until 30 no_containers || e2e_log "calibration containers are still there"

# -----------------------------------------------------------------------------------------
section "imagegate in front of dockerd (the hardening policy: Community restricted, imageImport restricted, host namespaces and network restricted)"
POLICY="$E2E_TMP/policy.json"
policy_from_template "$FIXTURES/policy.json" "$POLICY"
make_config "$E2E_TMP/imagegate.json" "$POLICY"
start_imagegate --config "$E2E_TMP/imagegate.json"
restart_dockerd --authorization-plugin="$IG_NAME"
if [[ -n $SWARM ]]; then
    wait_until 60 sh -c '[ "$(dk info -f "{{.Swarm.LocalNodeState}}/{{.Swarm.ControlAvailable}}")" = active/true ]' ||
        e2e_fatal "the swarm did not come back after the restart"
fi
N=0   # numbers the attempts' own tags, containers, volumes and services

# -----------------------------------------------------------------------------------------
kind "1. form bodies whose Content-Type Go still reads as a form (images/create)"
# pull ATTEMPT_DESC CONTENT_TYPE [REFUSED_OK]: query alpine, form body randomdev/tool:tN.
pull_attempt() {
    N=$((N + 1)); tool_tag "t$N"
    REFUSED_OK=${3:-} blocked "$1: form body fromImage=randomdev/tool, query fromImage=alpine" \
        "no_image randomdev/tool:t$N" POST '/v1.41/images/create?fromImage=alpine&tag=latest' \
        "fromImage=randomdev%2Ftool&tag=t$N" -H "Content-Type: $2"
}
pull_attempt "Content-Type \"$FORM<U+00A0>\" (the reported bypass)" "$FORM$NBSP"
pull_attempt "Content-Type \"$FORM\" (plain)" "$FORM"
for i in "${!SPACES[@]}"; do
    pull_attempt "Content-Type ${SPACE_NAMES[$i]} before \"$FORM\"" "${SPACES[$i]}$FORM" "$(refused_ok "${SPACE_NAMES[$i]}")"
    pull_attempt "Content-Type \"$FORM\" then ${SPACE_NAMES[$i]}" "$FORM${SPACES[$i]}" "$(refused_ok "${SPACE_NAMES[$i]}")"
done
pull_attempt "Content-Type \"APPLICATION/X-WWW-FORM-URLENCODED\"" APPLICATION/X-WWW-FORM-URLENCODED
pull_attempt "Content-Type \"appl<U+0130>cation/x-www-form-urlencoded\"" "appl${DOTTED_I}cation/x-www-form-urlencoded"
pull_attempt "Content-Type \"APPL<U+0130>CATION/X-WWW-FORM-URLENCODED\"" "APPL${DOTTED_I}CATION/X-WWW-FORM-URLENCODED"
pull_attempt "Content-Type \"$FORM; charset=utf-8\"" "$FORM; charset=utf-8"
pull_attempt "Content-Type \"$FORM;charset=utf-8\"" "$FORM;charset=utf-8"
pull_attempt "Content-Type \"$FORM; =x\" (malformed parameter)" "$FORM; =x"
pull_attempt "Content-Type \"$FORM<U+00A0>; charset=utf-8\"" "$FORM$NBSP; charset=utf-8"
pull_attempt "Content-Type \"<U+3000>APPL<U+0130>CATION/X-WWW-FORM-URLENCODED<U+2028>; =x\"" \
    $'\xe3\x80\x80'"APPL${DOTTED_I}CATION/X-WWW-FORM-URLENCODED"$'\xe2\x80\xa8; =x'
N=$((N + 1)); tool_tag "t$N"
printf -- '--XX\r\nContent-Disposition: form-data; name="fromImage"\r\n\r\nrandomdev/tool\r\n--XX\r\nContent-Disposition: form-data; name="tag"\r\n\r\nt%s\r\n--XX--\r\n' "$N" >"$E2E_TMP/multipart.body"
blocked "Content-Type \"multipart/form-data; boundary=XX\", multipart body fromImage=randomdev/tool, query alpine" \
    "no_image randomdev/tool:t$N" POST '/v1.41/images/create?fromImage=alpine&tag=latest' \
    "@$E2E_TMP/multipart.body" -H 'Content-Type: multipart/form-data; boundary=XX'
# the import variant: fromSrc and repo in the body, a harmless query
URL_ENC=$(jq -rn --arg v "$IMPORT_URL" '$v | @uri')
import_attempt() {
    N=$((N + 1))
    blocked "$1: form body fromSrc=${3:-URL}&repo=acme/imp$N, query tag=latest" "no_image acme/imp$N:latest" \
        POST '/v1.41/images/create?tag=latest' "fromSrc=${3:-$URL_ENC}&repo=acme%2Fimp$N" -H "Content-Type: $2"
}
import_attempt "Content-Type \"$FORM<U+00A0>\"" "$FORM$NBSP"
import_attempt "Content-Type \"$FORM\"" "$FORM"
import_attempt "Content-Type \"<U+2003>$FORM\"" $'\xe2\x80\x83'"$FORM"
import_attempt "Content-Type \"APPL<U+0130>CATION/X-WWW-FORM-URLENCODED\"" "APPL${DOTTED_I}CATION/X-WWW-FORM-URLENCODED"
import_attempt "Content-Type \"$FORM; charset=utf-8\"" "$FORM; charset=utf-8"
import_attempt "Content-Type \"$FORM<U+00A0>\", fromSrc=-" "$FORM$NBSP" -
N=$((N + 1))
printf -- '--XX\r\nContent-Disposition: form-data; name="fromSrc"\r\n\r\n%s\r\n--XX\r\nContent-Disposition: form-data; name="repo"\r\n\r\nacme/imp%s\r\n--XX--\r\n' "$IMPORT_URL" "$N" >"$E2E_TMP/multipart.body"
blocked "Content-Type \"multipart/form-data; boundary=XX\", multipart body fromSrc=URL&repo=acme/imp$N" \
    "no_image acme/imp$N:latest" POST '/v1.41/images/create?tag=latest' \
    "@$E2E_TMP/multipart.body" -H 'Content-Type: multipart/form-data; boundary=XX'
section "their counterparts (allowed images, spelled normally)"
works "POST images/create?fromImage=busybox&tag=latest (no body, Content-Length: 0)" "has_image busybox:latest" \
    POST '/v1.41/images/create?fromImage=busybox&tag=latest' '' -H 'Content-Length: 0'
busybox_tag ctl1
works "POST images/create?fromImage=busybox&tag=ctl1 (curl -X POST: no body, no headers)" "has_image busybox:ctl1" \
    POST '/v1.41/images/create?fromImage=busybox&tag=ctl1' ''
busybox_tag ctl2
COUNTERPARTS=$((COUNTERPARTS + 1))
expect_ok dk pull -q busybox:ctl2
check "  ...and busybox:ctl2 is there" has_image busybox:ctl2
check "randomdev/tool is still only in the registry (no tag of it was pulled)" \
    sh -c "! dk image ls --format '{{.Repository}}' | grep -qx randomdev/tool"

# -----------------------------------------------------------------------------------------
kind "2. pre-1.24 containers/{id}/start with a HostConfig body dockerd withholds (1 MiB or more, chunked)"
EXACT="$E2E_TMP/start-1mib.json"       # exactly 1 MiB: not shown (dockerd shows < 1 MiB)
SHOWN="$E2E_TMP/start-1mib-1.json"     # 1 MiB - 1: shown
SMALL='{"Binds":["/:/host"],"PidMode":"host"}'
pad_to() { local head='{"Binds":["/:/host"],"PidMode":"host","Padding":"' tail='"}'
    { printf '%s' "$head"; head -c $(($1 - ${#head} - ${#tail})) /dev/zero | tr '\0' x; printf '%s' "$tail"; } >"$2"; }
pad_to 1048576 "$EXACT"
pad_to 1048575 "$SHOWN"
[[ $(stat -c %s "$EXACT") == 1048576 && $(stat -c %s "$SHOWN") == 1048575 ]] || e2e_fatal "bad padded bodies"
# start_attempt DESC BODY CONTENT_TYPE [REFUSED_OK] [CURL_ARGS...]: on a container of its own,
# created (allowed) just before.
start_attempt() {
    local desc=$1 body=$2 ct=$3 ok=${4:-}
    shift 4 2>/dev/null || shift $#
    N=$((N + 1))
    if ! dk create --name "st$N" --network none alpine sleep 3600 >/dev/null 2>"$E2E_TMP/create.err"; then
        fail "denied, not started: $desc" "why: the allowed 'docker create --name st$N' failed: $(head -c 300 "$E2E_TMP/create.err")"
        return
    fi
    REFUSED_OK=$ok blocked "$desc" "not_started st$N" POST "/v1.23/containers/st$N/start" "$body" \
        -H "Content-Type: $ct" "$@"
}
start_attempt "1.1 MiB body typed \"application/json<U+00A0>\" (the reported bypass)" "@$BIG" "application/json$NBSP"
start_attempt "1.1 MiB body typed \"application/json\"" "@$BIG" application/json
for i in "${!SPACES[@]}"; do
    start_attempt "1.1 MiB body typed ${SPACE_NAMES[$i]} before \"application/json\"" "@$BIG" \
        "${SPACES[$i]}application/json" "$(refused_ok "${SPACE_NAMES[$i]}")"
    start_attempt "1.1 MiB body typed \"application/json\" then ${SPACE_NAMES[$i]}" "@$BIG" \
        "application/json${SPACES[$i]}" "$(refused_ok "${SPACE_NAMES[$i]}")"
done
start_attempt "1.1 MiB body typed \"APPL<U+0130>CATION/JSON\"" "@$BIG" "APPL${DOTTED_I}CATION/JSON"
start_attempt "1.1 MiB body typed \"appl<U+0130>cation/json\"" "@$BIG" "appl${DOTTED_I}cation/json"
start_attempt "1.1 MiB body typed \"APPLICATION/JSON\"" "@$BIG" APPLICATION/JSON
start_attempt "1.1 MiB body typed \"application/json; charset=utf-8\"" "@$BIG" "application/json; charset=utf-8"
start_attempt "1.1 MiB body typed \"<U+00A0>application/json<U+3000>; charset=utf-8\"" "@$BIG" \
    "${NBSP}application/json"$'\xe3\x80\x80; charset=utf-8'
start_attempt "body of exactly 1 MiB typed \"application/json\"" "@$EXACT" application/json
start_attempt "body of exactly 1 MiB typed \"application/json<U+00A0>\"" "@$EXACT" "application/json$NBSP"
start_attempt "1.1 MiB body, chunked, typed \"application/json\"" "@$BIG" application/json "" -H 'Transfer-Encoding: chunked'
start_attempt "1.1 MiB body, chunked, typed \"application/json<U+00A0>\"" "@$BIG" "application/json$NBSP" "" -H 'Transfer-Encoding: chunked'
start_attempt "small body, chunked, typed \"application/json\"" "$SMALL" application/json "" -H 'Transfer-Encoding: chunked'
start_attempt "small body (shown to the plugin) typed \"application/json\"" "$SMALL" application/json
start_attempt "small body (shown to the plugin) typed \"application/json<U+00A0>\"" "$SMALL" "application/json$NBSP"
start_attempt "small body (shown to the plugin) typed \"APPL<U+0130>CATION/JSON\"" "$SMALL" "APPL${DOTTED_I}CATION/JSON"
start_attempt "1 MiB - 1 body (shown to the plugin) typed \"application/json\"" "@$SHOWN" application/json
section "their counterparts (harmless pre-1.24 start bodies)"
dk create --name st-ok --network none alpine sleep 3600 >/dev/null
works "POST /v1.23/containers/st-ok/start {\"NetworkMode\":\"none\"}" "is_running st-ok" \
    POST /v1.23/containers/st-ok/start '{"NetworkMode":"none"}' "${JSON[@]}"
dk create --name st-ok2 --network none alpine sleep 3600 >/dev/null
works "POST /v1.23/containers/st-ok2/start {}" "is_running st-ok2" \
    POST /v1.23/containers/st-ok2/start '{}' "${JSON[@]}"
dk create --name st-ok3 --network none alpine sleep 3600 >/dev/null
works "POST /v1.41/containers/st-ok3/start (no body)" "is_running st-ok3" \
    POST /v1.41/containers/st-ok3/start '' -H 'Content-Length: 0'
dk rm -f st-ok st-ok2 st-ok3 >/dev/null 2>&1

# -----------------------------------------------------------------------------------------
kind "3. a later volume mount's DriverConfig behind 8 or more keys (containers/create, services/create)"
# mounts_json DC_INDEX COUNT PAD DEVICE: COUNT volume mounts; mount DC_INDEX (1-based) carries
# a local DriverConfig binding DEVICE under the volume name rootvol-$N; PAD is "vo" (8+ keys in
# every VolumeOptions), "mount" (8+ keys on every mount object) or "both".
mounts_json() {
    jq -cn --argjson dc "$1" --argjson count "$2" --arg pad "$3" --arg dev "$4" --arg n "$N" '
        [range(1; $count + 1) as $i |
            { Type: "volume",
              Source: (if $i == $dc then "rootvol-\($n)" else "pad-\($n)-\($i)" end),
              Target: "/m\($i)" }
            + (if $pad == "mount" or $pad == "both"
               then { ReadOnly: false, Consistency: "default", m1: 1, m2: 2, m3: 3, m4: 4, m5: 5 } else {} end)
            + { VolumeOptions:
                  ((if $pad == "vo" or $pad == "both"
                    then { NoCopy: false, Labels: { e2e: "pad" }, p1: 1, p2: 2, p3: 3, p4: 4, p5: 5, p6: 6 }
                    else {} end)
                   + (if $i == $dc then { DriverConfig: { Name: "local",
                          Options: { type: "none", o: "bind", device: $dev } } } else {} end)) } ]'
}
# mount_attempt DESC DC_INDEX COUNT PAD [KEY_CASE]: containers/create?name=mnt$N with the mounts
# under HostConfig (or, with KEY_CASE=top, at the top level; =lower, "driverconfig").
mount_attempt() {
    N=$((N + 1))
    local mounts body
    mounts=$(mounts_json "$2" "$3" "$4" /)
    case ${5:-} in
    top) body=$(jq -cn --argjson m "$mounts" '{Image: "alpine", Cmd: ["true"], NetworkMode: "none", Mounts: $m}') ;;
    lower) body=$(jq -cn --argjson m "$mounts" '{Image: "alpine", Cmd: ["true"], HostConfig: {NetworkMode: "none", Mounts: $m}}' |
        sed 's/"DriverConfig"/"driverconfig"/') ;;
    *) body=$(jq -cn --argjson m "$mounts" '{Image: "alpine", Cmd: ["true"], HostConfig: {NetworkMode: "none", Mounts: $m}}') ;;
    esac
    blocked "containers/create: $1" "no_container_nor_volume mnt$N rootvol-$N" \
        POST "/v1.41/containers/create?name=mnt$N" "$body" "${JSON[@]}"
}
mount_attempt "2 volume mounts, 8+ keys in VolumeOptions, DriverConfig device=/ on the 2nd" 2 2 vo
mount_attempt "3 volume mounts, 8+ keys in VolumeOptions, DriverConfig device=/ on the 3rd" 3 3 vo
mount_attempt "3 volume mounts, 8+ keys in VolumeOptions, DriverConfig device=/ on the 1st" 1 3 vo
mount_attempt "3 volume mounts, 8+ keys in VolumeOptions, DriverConfig device=/ on the 2nd" 2 3 vo
mount_attempt "2 volume mounts, 8+ keys on the mount objects, DriverConfig device=/ on the 2nd" 2 2 mount
mount_attempt "3 volume mounts, 8+ keys on the mount objects, DriverConfig device=/ on the 3rd" 3 3 mount
mount_attempt "5 volume mounts, 8+ keys on both, DriverConfig device=/ on the 4th" 4 5 both
mount_attempt "2 volume mounts, 8+ keys in VolumeOptions, \"driverconfig\" device=/ on the 2nd" 2 2 vo lower
mount_attempt "2 volume mounts at the top level (no HostConfig), 8+ keys, DriverConfig device=/ on the 2nd" 2 2 vo top
# service_mount_attempt DESC DC_INDEX COUNT PAD
service_mount_attempt() {
    N=$((N + 1))
    local body
    body=$(jq -cn --argjson m "$(mounts_json "$2" "$3" "$4" /)" --arg name "svcmnt$N" \
        '{Name: $name, TaskTemplate: {ContainerSpec: {Image: "alpine", Command: ["sleep", "300"], Mounts: $m}}}')
    blocked "services/create: $1" "no_service svcmnt$N" POST /v1.41/services/create "$body" "${JSON[@]}"
}
if [[ -n $SWARM ]]; then
    service_mount_attempt "2 volume mounts, 8+ keys in VolumeOptions, DriverConfig device=/ on the 2nd" 2 2 vo
    service_mount_attempt "3 volume mounts, 8+ keys in VolumeOptions, DriverConfig device=/ on the 3rd" 3 3 vo
    service_mount_attempt "3 volume mounts, 8+ keys in VolumeOptions, DriverConfig device=/ on the 1st" 1 3 vo
    service_mount_attempt "2 volume mounts, 8+ keys on the mount objects, DriverConfig device=/ on the 2nd" 2 2 mount
else
    echo "SKIP services/create volume mounts: no swarm here"
fi
section "their counterparts (the same mounts binding a free directory)"
for spec in "2 2 vo" "3 3 vo" "1 3 mount" "4 5 both"; do
    N=$((N + 1))
    read -r dci cnt pad <<<"$spec"
    works "containers/create: $cnt volume mounts ($pad padded), DriverConfig device=$FREE/data on mount $dci" \
        "has_container mnt$N" POST "/v1.41/containers/create?name=mnt$N" \
        "$(jq -cn --argjson m "$(mounts_json "$dci" "$cnt" "$pad" "$FREE/data")" '{Image: "alpine", Cmd: ["true"], HostConfig: {NetworkMode: "none", Mounts: $m}}')" "${JSON[@]}"
done
if [[ -n $SWARM ]]; then
    N=$((N + 1))
    works "services/create: 2 volume mounts (padded), DriverConfig device=$FREE/data on the 2nd (replicas 0)" \
        "has_service svcmnt$N" POST /v1.41/services/create \
        "$(jq -cn --argjson m "$(mounts_json 2 2 vo "$FREE/data")" --arg name "svcmnt$N" \
            '{Name: $name, Mode: {Replicated: {Replicas: 0}}, TaskTemplate: {ContainerSpec: {Image: "alpine", Command: ["sleep", "300"], Mounts: $m}}}')" "${JSON[@]}"
fi

# -----------------------------------------------------------------------------------------
kind "4. the host network named by ID (services/create, services/update; containers)"
if [[ -n $SWARM ]]; then
    # svc_net_attempt DESC TARGET [spec]: a service on TARGET in TaskTemplate.Networks (or, with
    # "spec", the deprecated spec-level Networks).
    svc_net_attempt() {
        N=$((N + 1))
        local body
        if [[ ${3:-} == spec ]]; then
            body=$(jq -cn --arg name "svcnet$N" --arg t "$2" \
                '{Name: $name, TaskTemplate: {ContainerSpec: {Image: "alpine", Command: ["sleep", "300"]}}, Networks: [{Target: $t}]}')
        else
            body=$(jq -cn --arg name "svcnet$N" --arg t "$2" \
                '{Name: $name, TaskTemplate: {ContainerSpec: {Image: "alpine", Command: ["sleep", "300"]}, Networks: [{Target: $t}]}}')
        fi
        blocked "services/create: $1" "no_service svcnet$N" POST /v1.41/services/create "$body" "${JSON[@]}"
    }
    svc_net_attempt "TaskTemplate.Networks Target = the host network's full ID" "$HOST_NET_ID"
    svc_net_attempt "TaskTemplate.Networks Target = its first 12 characters" "${HOST_NET_ID:0:12}"
    svc_net_attempt "TaskTemplate.Networks Target = its shortest unique prefix \"$HOST_PREFIX\"" "$HOST_PREFIX"
    svc_net_attempt "TaskTemplate.Networks Target = \"host\"" host
    if [[ -n $SWARM_HOST_ID ]]; then
        svc_net_attempt "TaskTemplate.Networks Target = swarm's own host network's ID" "$SWARM_HOST_ID"
        svc_net_attempt "TaskTemplate.Networks Target = 12 characters of swarm's host network's ID" "${SWARM_HOST_ID:0:12}"
        [[ -n $SWARM_HOST_PREFIX ]] &&
            svc_net_attempt "TaskTemplate.Networks Target = \"$SWARM_HOST_PREFIX\", the shortest prefix swarm resolves to its host network" "$SWARM_HOST_PREFIX"
    fi
    svc_net_attempt "spec-level Networks Target = the host network's full ID" "$HOST_NET_ID" spec
    svc_net_attempt "spec-level Networks Target = its first 12 characters" "${HOST_NET_ID:0:12}" spec
    svc_net_attempt "spec-level Networks Target = \"host\"" host spec
    [[ -n $SWARM_HOST_ID ]] && svc_net_attempt "spec-level Networks Target = swarm's own host network's ID" "$SWARM_HOST_ID" spec
    # two networks: the host network's ID after an overlay network
    N=$((N + 1))
    blocked "services/create: TaskTemplate.Networks [rad-ov, <host network ID prefix>]" "no_service svcnet$N" \
        POST /v1.41/services/create "$(jq -cn --arg name "svcnet$N" --arg t "${HOST_NET_ID:0:12}" \
            '{Name: $name, TaskTemplate: {ContainerSpec: {Image: "alpine"}, Networks: [{Target: "rad-ov"}, {Target: $t}]}}')" "${JSON[@]}"
    # an existing service moved onto the host network by ID
    N=$((N + 1))
    raw POST /v1.41/services/create "$(jq -cn --arg name "svcnet$N" \
        '{Name: $name, Mode: {Replicated: {Replicas: 0}}, TaskTemplate: {ContainerSpec: {Image: "alpine"}, Networks: [{Target: "rad-ov"}]}}')" "${JSON[@]}"
    upd_version=$(dk service inspect -f '{{.Version.Index}}' "svcnet$N" 2>/dev/null)
    if [[ -n $upd_version ]]; then
        for target in "${HOST_NET_ID:0:12}" ${SWARM_HOST_ID:+"$SWARM_HOST_ID"}; do
            blocked "services/update of svcnet$N: TaskTemplate.Networks Target = $target (a host network ID)" \
                "service_not_on svcnet$N ${SWARM_HOST_ID:-host}" POST "/v1.41/services/svcnet$N/update?version=$upd_version" \
                "$(jq -cn --arg name "svcnet$N" --arg t "$target" \
                    '{Name: $name, Mode: {Replicated: {Replicas: 0}}, TaskTemplate: {ContainerSpec: {Image: "alpine"}, Networks: [{Target: $t}]}}')" "${JSON[@]}"
        done
    else
        fail "services/update: the allowed service svcnet$N to update could not be created" "response: $API_BODY"
    fi
else
    echo "SKIP services on the host network by ID: no swarm here"
fi
# containers/create with NetworkMode = the host network's ID: assert the effect that matters
# (the container is not in the host's network namespace), and a denial where dockerd would
# really put it there.
container_net_attempt() {
    local desc="containers/create+start with NetworkMode=$1: not in the host's network namespace" before=$E2E_FAILED
    _run dk run --rm "--network=$1" alpine /bin/busybox readlink /proc/self/ns/net
    local out; out=$(cat "$E2E_LAST_OUT")
    if grep -qF "authorization denied by plugin" "$E2E_LAST_ERR"; then
        pass "$desc (denied)"
    elif [[ -n $CONTAINER_ID_JOINS_HOST ]]; then
        _fail_with_output "$desc" "dockerd puts such a container in the host's network namespace: it must be denied"
    elif ((E2E_LAST_RC == 0)) && [[ $out == net:* && $out != "$HOST_NETNS" ]]; then
        pass "$desc (allowed; its own namespace $out)"
    else
        _fail_with_output "$desc" "neither denied nor run in a namespace of its own (host: $HOST_NETNS)"
    fi
    _counted "$before"
}
container_net_attempt "$HOST_NET_ID"
container_net_attempt "${HOST_NET_ID:0:12}"
container_net_attempt "$HOST_PREFIX"
N=$((N + 1))
blocked "containers/create with NetworkMode=host (the plain spelling)" "no_container netc$N" \
    POST "/v1.41/containers/create?name=netc$N" '{"Image":"alpine","HostConfig":{"NetworkMode":"host"}}' "${JSON[@]}"
section "their counterparts"
if [[ -n $SWARM ]]; then
    for target in rad-ov "$OV_ID" "${OV_ID:0:12}"; do
        N=$((N + 1))
        works "services/create on the overlay network $target (replicas 0)" "has_service svcnet$N" \
            POST /v1.41/services/create "$(jq -cn --arg name "svcnet$N" --arg t "$target" \
                '{Name: $name, Mode: {Replicated: {Replicas: 0}}, TaskTemplate: {ContainerSpec: {Image: "alpine"}, Networks: [{Target: $t}]}}')" "${JSON[@]}"
    done
    N=$((N + 1))
    works "services/create with no network (replicas 0)" "has_service svcnet$N" \
        POST /v1.41/services/create "$(jq -cn --arg name "svcnet$N" \
            '{Name: $name, Mode: {Replicated: {Replicas: 0}}, TaskTemplate: {ContainerSpec: {Image: "alpine"}}}')" "${JSON[@]}"
fi
COUNTERPARTS=$((COUNTERPARTS + 1))
expect_ok dk run --rm --network none alpine true

if [[ -n $SWARM ]]; then
    # Found in review: a swarm manager elsewhere runs tasks here that no request to this dockerd
    # shows. Changing this node's swarm needs Manager (this policy: Reader and Writer).
    kind "5. joining, creating or changing a swarm (Manager only)"
    swarm_spec() { _listing /v1.41/swarm 'type == "object"' | jq -c '{a: .Spec.Dispatcher, v: .Version.Index}'; }
    SWARM_BEFORE=$(swarm_spec)
    swarm_unchanged() {
        [[ -n $SWARM_BEFORE && $(swarm_spec) == "$SWARM_BEFORE" ]] || { echo "the swarm changed: $(swarm_spec)"; return 1; }
    }
    blocked "POST /swarm/update (heartbeat period)" "swarm_unchanged" \
        POST "/v1.41/swarm/update?version=$(_listing /v1.41/swarm 'type == "object"' | jq -r .Version.Index)" \
        "$(_listing /v1.41/swarm 'type == "object"' | jq -c '.Spec | .Dispatcher.HeartbeatPeriod = 9000000000')" "${JSON[@]}"
    blocked "POST /swarm/join (another swarm's manager)" "swarm_unchanged" \
        POST /v1.41/swarm/join '{"ListenAddr":"127.0.0.1:0","RemoteAddrs":["127.0.0.1:1"],"JoinToken":"SWMTKN-1-x"}' "${JSON[@]}"
fi

# -----------------------------------------------------------------------------------------
corpus_summary "reading requests as dockerd reads them (issue 16): attempts by bypass"
e2e_finish
