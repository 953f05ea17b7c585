#!/bin/sh
# Wait until the app's web container answers, as switch-web.sh waits for a new one.
#
#   wait-web.sh APP_DIR HEALTH_PATH TIMEOUT
#
# Compose's --wait ends once the web runs, not once it answers: the researcher's image
# has no healthcheck, and gunicorn takes seconds to listen. When no web served before
# this run (an update or restart of a stopped or crashed app) nothing else waits, so
# without this the run would end while Caddy still answers 502. Exits 3, printing why
# and the web's last log lines, when it exits or does not answer within TIMEOUT seconds.
set -eu
cd "$1"
path=$2 timeout=$3
probe='import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen("http://127.0.0.1:5000" + sys.argv[1], timeout=5)
except urllib.error.HTTPError as error:
    sys.exit(error.code >= 500)'
web=$(docker compose ps --quiet web | head -n 1)
if [ -z "$web" ]; then
    echo "no web container is running"
    exit 3
fi
restarts=$(docker inspect --format '{{.RestartCount}}' "$web")
deadline=$(($(date +%s) + timeout))
until docker exec "$web" python3 -c "$probe" "$path" >/dev/null 2>&1; do
    state=$(docker inspect --format '{{.State.Status}} {{.RestartCount}}' "$web")
    if [ "$state" != "running $restarts" ] || [ "$(date +%s)" -ge "$deadline" ]; then
        if [ "$state" = "running $restarts" ]; then
            echo "the web container did not answer $path within $timeout s"
        else
            echo "the web container exited at start (now ${state% *}, restarted ${state#* } times)"
        fi
        docker logs --tail 30 "$web" 2>&1
        exit 3
    fi
    sleep 0.2
done
