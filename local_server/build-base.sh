#!/usr/bin/env bash
# Build a Debian base image without a registry: debootstrap + docker import.
# For machines that cannot reach Docker Hub (`dlgr-ansible local-server up --offline`,
# the test bed). Needs root and debootstrap.
# Usage: build-base.sh [--force]   (env: BASE_IMAGE, SUITE, MIRROR)
set -euo pipefail

image=${BASE_IMAGE:-dlgr-ansible/debian-base:trixie}
suite=${SUITE:-trixie}
mirror=${MIRROR:-http://deb.debian.org/debian}
force=0
case "${1:-}" in
    --force) force=1 ;;
    "") ;;
    *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
if [ "$force" = 0 ] && [ -n "$previous" ]; then
    exit 0
fi

command -v debootstrap >/dev/null 2>&1 || {
    echo "build-base.sh: debootstrap not found; install it (apt-get install -y debootstrap)" >&2
    exit 1
}

tmp=$(mktemp -d /tmp/dlgr-base.XXXXXX)
cleanup() {
    # A failed debootstrap can leave /proc or /sys mounted inside the tree.
    awk -v t="$tmp/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
    rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

echo "building $image from $suite ($mirror)" >&2
debootstrap --variant=minbase "$suite" "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1 || {
    tail -n 30 "$tmp/debootstrap.log" >&2
    exit 1
}
# Drop the apt package lists and caches: smaller image, apt-get update runs anyway.
rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*
new=$(tar -C "$tmp/root" --numeric-owner -c . | docker import -c 'CMD ["/bin/bash"]' - "$image")
# Drop the outdated image unless images built on it still need it.
if [ -n "$previous" ] && [ "$previous" != "$new" ]; then
    docker rmi "$previous" >/dev/null 2>&1 || true
fi
echo "built $image" >&2
