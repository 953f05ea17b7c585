#!/usr/bin/env bash
# Make sure a Docker engine answers; start dockerd in the background if not.
# Idempotent and quiet on success.
set -euo pipefail

if docker info >/dev/null 2>&1; then
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    echo "ensure-docker: dockerd not found; run 'make deps' (or: apt-get install -y docker.io)" >&2
    exit 1
fi

log=${DOCKERD_LOG:-/tmp/dockerd.log}
# Start it unless a dockerd is already on its way up (e.g. a parallel call);
# the pid file may be stale after a reboot, so check what that pid runs.
pid=$(cat /var/run/docker.pid 2>/dev/null || true)
if [ "$(cat "/proc/${pid:-none}/comm" 2>/dev/null)" != dockerd ]; then
    setsid dockerd >"$log" 2>&1 </dev/null &
fi

for _ in $(seq 1 90); do
    if docker info >/dev/null 2>&1; then
        exit 0
    fi
    sleep 1
done

echo "ensure-docker: dockerd did not become ready within 90 s; last lines of $log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
