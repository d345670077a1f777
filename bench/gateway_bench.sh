#!/usr/bin/env bash
# The registry gateway (issue 17): what it costs a pull. Root (a dockerd).
#
#     bash bench/gateway_bench.sh [IMAGEGATE] [--kv FILE]
#
# One TLS docker-registry on loopback holds a 512 MiB image (one incompressible layer) and a
# 1 GiB blob; `imagegate gateway` intercepts registry-1.docker.io and sends it to that registry
# (gateway.upstreamOverride, the tests' --resolve). Side by side, interleaved in rounds:
#   blob        curl GET of the 512 MiB layer: straight to the registry vs through the gateway
#   pull        `docker pull` of the 512 MiB image by one dockerd (vfs, proxy environment):
#               127.0.0.1:PORT/library/big (loopback: never proxied) vs docker.io/library/big
#               (through the gateway); ratio of the medians, target >= 0.9
#   manifest    200 manifest GETs on one kept connection, p50 each way; the difference is what
#               the gateway adds per manifest request
#   rss         the gateway's VmHWM before and after it moved the 1 GiB blob (target < 16 MiB)
# --kv appends `section=gateway ...` lines to FILE (bench/run.sh's results).
# Environment: BENCH_QUICK=1 (32 MiB image, 64 MiB blob, 1 round), BENCH_GATEWAY_ROUNDS=N (5),
# BENCH_TMP=DIR (default /dev/shm, else /tmp).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGEGATE=$ROOT/build/imagegate
KV=
while (($#)); do
    case $1 in
    --kv) KV=$2; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) IMAGEGATE=$1; shift ;;
    esac
done
[[ -x $IMAGEGATE ]] || { echo "gateway_bench: no imagegate binary at $IMAGEGATE" >&2; exit 2; }
IMAGEGATE=$(realpath "$IMAGEGATE")
[[ $(id -u) == 0 ]] || { echo "gateway_bench: needs root (a dockerd)" >&2; exit 2; }
QUICK=${BENCH_QUICK:-0}
ROUNDS=${BENCH_GATEWAY_ROUNDS:-5}
IMAGE_MIB=512
BLOB_MIB=1024
if [[ $QUICK == 1 ]]; then ROUNDS=1; IMAGE_MIB=32; BLOB_MIB=64; fi
TMP_BASE=${BENCH_TMP:-/dev/shm}
[[ -d $TMP_BASE && -w $TMP_BASE ]] || TMP_BASE=/tmp
# The image and the blob live twice (registry, dockerd): keep them off a small /dev/shm.
need_kib=$(((IMAGE_MIB * 3 + BLOB_MIB * 2) * 1024))
avail_kib=$(df -Pk "$TMP_BASE" | awk 'NR==2 {print $4}')
((avail_kib > need_kib)) || TMP_BASE=/tmp
W=$(mktemp -d "$TMP_BASE/imagegate-gateway-bench.XXXXXX") || exit 2
chmod 0755 "$W"
PIDS=()
DOCKER="docker -H unix://$W/docker.sock"
cleanup() {
    $DOCKER ps -q 2>/dev/null | xargs -r $DOCKER rm -f >/dev/null 2>&1
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$p" 2>/dev/null
    done
    grep -q " $W/" /proc/mounts && grep " $W/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r umount -l 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
say() { printf '   %s\n' "$*" >&2; }
kv() { say "$*"; [[ -n $KV ]] && echo "section=gateway $*" >>"$KV"; return 0; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'; }
hwm_kib() { awk '$1 == "VmHWM:" {print $2}' "/proc/$1/status"; }

# ---- certificates, registry, content
cd "$W" || exit 2
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -days 2 -subj /CN=bench-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr \
    -subj /CN=registry-1.docker.io 2>/dev/null
printf 'subjectAltName=DNS:registry-1.docker.io,IP:127.0.0.1\n' >srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 \
    -extfile srv.ext 2>/dev/null
REG_PORT=$(free_port)
cat >registry.yml <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $W/store}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$REG_PORT, tls: {certificate: $W/srv.pem, key: $W/srv.key}}
EOF
docker-registry serve registry.yml >registry.log 2>&1 &
PIDS+=($!)
REG=https://127.0.0.1:$REG_PORT
for _ in $(seq 50); do curl -sf --cacert ca.pem "$REG/v2/" >/dev/null && break; sleep 0.1; done

say "making the ${IMAGE_MIB} MiB image and the ${BLOB_MIB} MiB blob"
mkdir -p layer && head -c $((IMAGE_MIB * 1048576)) /dev/urandom >layer/big.bin
tar -C layer -cf layer.tar big.bin && rm -rf layer
head -c $((BLOB_MIB * 1048576)) /dev/urandom >blob.bin
upload() { # FILE → digest
    local digest location
    digest=sha256:$(sha256sum "$1" | cut -d' ' -f1)
    location=$(curl -sf --cacert ca.pem -X POST -D - -o /dev/null "$REG/v2/library/big/blobs/uploads/" |
        awk 'tolower($1) == "location:" {print $2}' | tr -d '\r')
    [[ $location == /* ]] && location=$REG$location
    # -T streams the file (--data-binary would hold it in memory).
    curl -sf --cacert ca.pem -X PUT -H 'Content-Type: application/octet-stream' -T "$1" \
        "$location&digest=$digest" -o /dev/null || { echo "gateway_bench: upload of $1 failed" >&2; return 1; }
    echo "$digest"
}
LAYER=$(upload layer.tar) && BLOB=$(upload blob.bin) || exit 1
rm -f blob.bin
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' "$LAYER" >config.json
CONFIG=$(upload config.json) || exit 1
cat >manifest.json <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
 "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":$(stat -c %s config.json),"digest":"$CONFIG"},
 "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":$(stat -c %s layer.tar),"digest":"$LAYER"}]}
EOF
curl -sf --cacert ca.pem -X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' \
    --data-binary @manifest.json "$REG/v2/library/big/manifests/latest" -o /dev/null ||
    { echo "gateway_bench: the manifest upload failed" >&2; exit 1; }
rm -f layer.tar

# ---- the gateway
GW_PORT=$(free_port)
mkdir -p certs.d/registry-1.docker.io && cp ca.pem certs.d/registry-1.docker.io/bench-upstream.crt
cat >imagegate.json <<EOF
{"decisionLog": "$W/decisions.jsonl", "socket": "$W/plugin.sock", "adminSocket": "",
 "gateway": {"listen": "127.0.0.1:$GW_PORT", "caDir": "$W/gateway-ca", "certsDir": "$W/certs.d",
             "upstreamOverride": {"registry-1.docker.io:443": "127.0.0.1:$REG_PORT"},
             "allowUpstreamOverride": true}}
EOF
"$IMAGEGATE" gateway --config imagegate.json >gateway.log 2>&1 &
GW_PID=$!
PIDS+=($GW_PID)
GW="curl -s -x http://127.0.0.1:$GW_PORT --cacert $W/gateway-ca/ca.crt"
for _ in $(seq 100); do $GW -f https://registry-1.docker.io/v2/ >/dev/null 2>&1 && break; sleep 0.1; done
$GW -f https://registry-1.docker.io/v2/ >/dev/null || { echo "gateway_bench: the gateway did not start:" >&2; cat gateway.log >&2; exit 1; }

# ---- blob transfers, and RSS over the 1 GiB blob
hwm_before=$(hwm_kib $GW_PID)
$GW -o /dev/null "https://registry-1.docker.io/v2/library/big/blobs/$BLOB" -w '%{size_download}\n' >blob-size.txt
hwm_after=$(hwm_kib $GW_PID)
kv "test=rss bytes=$(cat blob-size.txt) hwm_before_kib=$hwm_before hwm_after_kib=$hwm_after growth_kib=$((hwm_after - hwm_before)) target_kib=16384"
for r in $(seq "$ROUNDS"); do
    d=$(curl -s --cacert ca.pem -o /dev/null -w '%{speed_download}' "$REG/v2/library/big/blobs/$LAYER")
    g=$($GW -o /dev/null -w '%{speed_download}' "https://registry-1.docker.io/v2/library/big/blobs/$LAYER")
    echo "$d" >>blob-direct.txt
    echo "$g" >>blob-gateway.txt
done
bd=$(median <blob-direct.txt)
bg=$(median <blob-gateway.txt)
kv "test=blob mib=$IMAGE_MIB direct_mib_s=$(awk -v v="$bd" 'BEGIN{printf "%.0f", v/1048576}') gateway_mib_s=$(awk -v v="$bg" 'BEGIN{printf "%.0f", v/1048576}') ratio=$(awk -v a="$bg" -v b="$bd" 'BEGIN{printf "%.3f", a/b}')"

# ---- manifest requests on one kept connection
for _ in $(seq 200); do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$REG/v2/library/big/manifests/latest" >>m-direct.cfg
    printf 'url = "%s"\noutput = "/dev/null"\n' "https://registry-1.docker.io/v2/library/big/manifests/latest" >>m-gateway.cfg
done
accept='Accept: application/vnd.docker.distribution.manifest.v2+json'
curl -s --cacert ca.pem -H "$accept" -w '%{time_total}\n' -K m-direct.cfg | tail -n +11 >m-direct.txt
$GW -H "$accept" -w '%{time_total}\n' -K m-gateway.cfg | tail -n +11 >m-gateway.txt
md=$(median <m-direct.txt)
mg=$(median <m-gateway.txt)
kv "test=manifest requests=190 direct_p50_us=$(awk -v v="$md" 'BEGIN{printf "%.0f", v*1e6}') gateway_p50_us=$(awk -v v="$mg" 'BEGIN{printf "%.0f", v*1e6}') added_p50_us=$(awk -v a="$mg" -v b="$md" 'BEGIN{printf "%.0f", (a-b)*1e6}')"

# ---- docker pull through one dockerd, side by side
mkdir -p data exec
HTTPS_PROXY=http://127.0.0.1:$GW_PORT HTTP_PROXY=http://127.0.0.1:$GW_PORT NO_PROXY= \
    SSL_CERT_DIR=$W/gateway-ca/trust \
    dockerd --data-root "$W/data" --exec-root "$W/exec" -H "unix://$W/docker.sock" \
    --pidfile "$W/docker.pid" --iptables=false --ip6tables=false --bridge=none \
    --storage-driver=vfs --insecure-registry "127.0.0.1:$REG_PORT" >dockerd.log 2>&1 &
PIDS+=($!)
for _ in $(seq 150); do $DOCKER version >/dev/null 2>&1 && break; sleep 0.2; done
pull_seconds() { # REF
    local start end
    start=$(date +%s%N)
    $DOCKER pull -q "$1" >/dev/null 2>pull.err || { say "pull of $1 failed: $(head -c 300 pull.err)"; echo nan; return; }
    end=$(date +%s%N)
    $DOCKER rmi -f "$1" >/dev/null 2>&1
    awk -v s="$start" -v e="$end" 'BEGIN{printf "%.3f\n", (e-s)/1e9}'
}
pull_seconds "127.0.0.1:$REG_PORT/library/big" >/dev/null # warm-up: page cache, dockerd
for r in $(seq "$ROUNDS"); do # the order alternates: neither always follows the other's rmi
    if ((r % 2)); then
        pull_seconds "127.0.0.1:$REG_PORT/library/big" >>pull-direct.txt
        pull_seconds "docker.io/library/big" >>pull-gateway.txt
    else
        pull_seconds "docker.io/library/big" >>pull-gateway.txt
        pull_seconds "127.0.0.1:$REG_PORT/library/big" >>pull-direct.txt
    fi
done
pd=$(median <pull-direct.txt)
pg=$(median <pull-gateway.txt)
through=$(grep -c '"endpoint":"GET /v2/library/big/' decisions.jsonl 2>/dev/null || echo 0)
kv "test=pull mib=$IMAGE_MIB rounds=$ROUNDS direct_s=$pd gateway_s=$pg throughput_ratio=$(awk -v a="$pd" -v b="$pg" 'BEGIN{if (b > 0) printf "%.3f", a/b; else print "nan"}') target_ratio=0.9 gateway_decisions=$through"
