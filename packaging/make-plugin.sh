#!/usr/bin/env bash
# Assembles the managed (v2) plugin directory and creates the plugin in the local dockerd.
#
#   packaging/make-plugin.sh BINARY OUTDIR [NAME] [--no-create]
#
# OUTDIR gets config.json (the repository's top-level one) and rootfs/: the binary as
# /imagegate, every shared library ldd lists for it and the dynamic loader at their own paths
# (the binary is self-contained in its rootfs, no static link needed), the CA bundle for
# policyUrl, and the mount points config.json names. Then `docker plugin create NAME OUTDIR`
# (default NAME imagegate:latest) unless --no-create. Uses $DOCKER (default docker) and
# $DOCKER_HOST like the docker CLI.
set -euo pipefail

usage() {
    echo "usage: $0 BINARY OUTDIR [NAME] [--no-create]" >&2
    exit 2
}

create=1
positional=()
for arg in "$@"; do
    case $arg in
    --no-create) create=0 ;;
    -h | --help) usage ;;
    -*) echo "$0: unknown option $arg" >&2; usage ;;
    *) positional+=("$arg") ;;
    esac
done
((${#positional[@]} >= 2 && ${#positional[@]} <= 3)) || usage
binary=${positional[0]}
outdir=${positional[1]}
name=${positional[2]:-imagegate:latest}
repo_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
docker=${DOCKER:-docker}

[[ -x $binary ]] || { echo "$0: no executable at $binary (build it first: make build)" >&2; exit 1; }
case $outdir in "" | / ) echo "$0: refusing OUTDIR '$outdir'" >&2; exit 2 ;; esac

rm -rf "$outdir"
rootfs="$outdir/rootfs"
mkdir -p "$rootfs"
cp "$repo_dir/config.json" "$outdir/config.json"

# The binary, without debug information (it is several times larger with it).
if command -v strip >/dev/null 2>&1; then
    strip --strip-debug -o "$rootfs/imagegate" "$binary"
else
    cp "$binary" "$rootfs/imagegate"
fi
chmod 0755 "$rootfs/imagegate"

# Shared libraries and the loader, at the paths the binary asks for.
copy_into_rootfs() {
    local path=$1
    [[ -e $rootfs$path ]] && return 0
    mkdir -p "$rootfs$(dirname "$path")"
    cp -L "$path" "$rootfs$path"
}
ldd_output=$(ldd "$binary") || { echo "$0: ldd $binary failed" >&2; exit 1; }
if grep -q "not found" <<<"$ldd_output"; then
    echo "$0: $binary needs libraries this machine lacks:" >&2
    grep "not found" <<<"$ldd_output" >&2
    exit 1
fi
while read -r line; do
    # "libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    if [[ $line =~ =\>\ (/[^ ]+) ]]; then
        copy_into_rootfs "${BASH_REMATCH[1]}"
    elif [[ $line =~ ^(/[^ ]+)\ \( ]]; then
        copy_into_rootfs "${BASH_REMATCH[1]}"
    fi
done <<<"$ldd_output"

# Mount points (config.json's Mounts; dockerd adds /etc/hosts and /etc/resolv.conf for host
# networking), the admin and plugin socket directories, and trusted CAs for policyUrl.
mkdir -p "$rootfs/etc/imagegate" "$rootfs/var/lib/imagegate" "$rootfs/var/log/imagegate" \
    "$rootfs/run/imagegate" "$rootfs/run/docker/plugins" "$rootfs/tmp" "$rootfs/etc/ssl/certs" \
    "$rootfs/proc" "$rootfs/dev" "$rootfs/sys"
chmod 1777 "$rootfs/tmp"
: >"$rootfs/etc/hosts"
: >"$rootfs/etc/resolv.conf"
echo 'root:x:0:0:root:/:/imagegate' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
fi

# The rootfs must run on its own: a missing library or loader shows up here, not in dockerd.
if [[ $(id -u) == 0 ]] && command -v chroot >/dev/null 2>&1; then
    status=0
    chroot "$rootfs" /imagegate --help >/dev/null 2>&1 || status=$?
    if ((status == 126 || status == 127)); then
        echo "$0: $rootfs/imagegate does not run inside its rootfs (status $status)" >&2
        exit 1
    fi
fi
echo "make-plugin: assembled $outdir ($(du -sh "$rootfs" | cut -f1))"

((create)) || exit 0
if "$docker" plugin inspect "$name" >/dev/null 2>&1; then
    echo "$0: plugin $name exists already. If dockerd uses it (daemon.json authorization-plugins)," >&2
    echo "  take it out of the list and reload dockerd first, then: $docker plugin disable $name && $docker plugin rm $name" >&2
    exit 1
fi
"$docker" plugin create "$name" "$outdir"
echo "make-plugin: created $name. Next (see docs/deploy.md):"
echo "  mkdir -p /etc/imagegate /var/lib/imagegate /var/log/imagegate"
echo "  $docker plugin enable $name"
echo "  imagegate install-docker --name $name --reload"
