#!/bin/sh
# Hand the app's traffic from the web container that serves to a new one, without a gap.
#
#   switch-web.sh APP_DIR NETWORK ALIAS TIMEOUT GRACE HEALTH_PATH WAIT CADDY FILE...
#
# Caddy (the container CADDY) reaches the web as ALIAS on NETWORK; Docker's DNS answers
# with every container holding the alias and Caddy's dialer falls over to the next
# address when one refuses. So: the new container (compose's own, from the compose file
# as written) starts and leaves NETWORK before it listens, and meanwhile compose brings
# the other services (workers, clock) to the files, waiting up to WAIT seconds; the new
# web joins under the alias once it answers HEALTH_PATH and they are up; then the old
# ones stop, gracefully, finishing what they serve. The script ends there: the old ones
# finish in the background (gunicorn takes about 2 s to stop, idle), holding the server's
# hand-over lock (APP_DIR/../.hand-over.lock) until they are gone and Caddy is back on its
# Caddyfile. The next hand-over on the server, and the role's Caddy reloads, wait for it.
#
# An old one that stops listening resets the connections it has not yet accepted, and
# Caddy does not send a POST again after that. So before they stop, Caddy loads its own
# configuration (its Caddyfile, adapted) with ALIAS:5000 replaced by the new container's
# address, which is never resolved, so no cache of Docker's DNS or of a hosts file keeps
# the old ones in use; requests under way finish under the configuration that began
# them. Once the old ones are gone, Caddy loads its Caddyfile as it is again. A reload
# closes every proxied websocket on the server (the sites set no stream_close_delay,
# which Debian's Caddy 2.6 refuses); Dallinger's pages open them again.
#
# Each FILE was written by this run with Ansible's `backup`: FILE.<pid>.<time>~ holds it
# as it was (an interrupted run may have left an older one, which is then the right one).
# If the new web does not answer within TIMEOUT seconds, or exits, or the other services
# do not come up, or anything fails or interrupts before the hand-over, the old webs
# were never touched: the new one is removed, the oldest backup of each FILE goes back,
# and compose brings the other services back to those files. A new web or service that
# does not start prints the reason and its last log lines and exits 3. Otherwise the
# backups go.
# When no web serves, there is nothing to hand over: it prints "nothing served" and
# compose starts the web as it starts the rest.
set -eu
cd "$1"
network=$2 alias=$3 timeout=$4 grace=$5 path=$6 wait=$7 caddy=$8
shift 8

# direct ADDRESS: Caddy sends the app's new requests to ADDRESS alone; direct: to ALIAS,
# as its Caddyfile says. A running Caddy that is not told (it is restarting) reads its
# Caddyfile anyway when it starts.
direct() {
    docker exec --user 0 "$caddy" sh -c '
        config=$(mktemp) || exit 1
        trap "rm -f \"\$config\"" EXIT
        caddy adapt --config /etc/caddy/Caddyfile --adapter caddyfile > "$config" || exit 1
        if [ -n "$2" ]; then
            sed -i "s/\"dial\":\"$1:5000\"/\"dial\":\"$2:5000\"/g" "$config"
            grep -q "\"dial\":\"$2:5000\"" "$config" || exit 1
        elif grep -q "# dlgr-ansible hand-over: $1\$" /etc/hosts; then
            # A line an earlier version pinned ALIAS with, left by a killed run. Docker
            # bind-mounts the file: rewritten in place.
            kept=$(grep -v "# dlgr-ansible hand-over: $1\$" /etc/hosts)
            printf "%s\n" "$kept" > /etc/hosts
        fi
        caddy reload --config "$config"' direct "$alias" "${1:-}" >/dev/null 2>&1
}

drop_backups() {
    for file in "$@"; do rm -f -- "$file".*~; done
}

# compose brings every service but the web to the files as they are now.
others_up() {
    # shellcheck disable=SC2046 # service names are single words
    docker compose up --detach --no-deps --pull never --remove-orphans --wait \
        --wait-timeout "$wait" $(docker compose config --services | grep -vx web)
}

# Until the new one serves, any failure (set -e, a signal) leaves the old web as it was
# and puts the files back, and compose the other services with them.
new='' others='' others_log='' handed_over=no directed=no
put_back() {
    status=$?
    if [ "$directed" = yes ]; then direct || true; fi
    if [ "$handed_over" = no ] && [ "$status" -ne 0 ]; then
        # compose may still be bringing the other services to the new files: it ends first.
        if [ -n "$others" ]; then wait "$others" 2>/dev/null || true; fi
        if [ -n "$new" ]; then docker rm --force "$new" >/dev/null 2>&1 || true; fi
        for file in "$@"; do
            # shellcheck disable=SC2012 # Ansible's backup names hold no odd characters
            oldest=$(ls -1tr -- "$file".*~ 2>/dev/null | head -n 1)
            if [ -n "$oldest" ]; then mv -f -- "$oldest" "$file" || true; fi
        done
        if [ -n "$others" ]; then others_up >/dev/null 2>&1 || true; fi
        drop_backups "$@"
    fi
    if [ -n "$others_log" ]; then rm -f -- "$others_log"; fi
}
trap 'put_back "$@"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# The server's hand-over lock, on fd 9, for this script and what it leaves running in the
# background: while one app's old web finishes, Caddy is directed to its new one, and a
# reload of Caddy's Caddyfile (another app's hand-over, a site written) would undo that.
exec 9>>../.hand-over.lock
if ! flock --wait "$((grace + 60))" 9; then
    echo "an earlier hand-over on this server is still finishing its requests; try again later"
    exit 1
fi

# Web containers that serve nobody are in the way: not running, restarting, or running
# off the network (a new one an interrupted run left).
old=''
for id in $(docker compose ps --all --quiet web); do
    if [ "$(docker inspect --format '{{.State.Status}}' "$id")" = running ] &&
        docker inspect --format '{{json .NetworkSettings.Networks}}' "$id" | grep -q "\"$network\""; then
        old="$old $id"
    else
        docker rm --force "$id" >/dev/null
    fi
done
if [ -z "$old" ]; then
    # A run killed while Caddy was directed to an address left it so; it may be gone.
    direct || true
    drop_backups "$@"
    echo "nothing served"
    exit 0
fi

# The other services come up to the files while the new web starts: they boot as long
# as it does, and compose waits half a second before it looks at them.
others_log=$(mktemp)
others_up >"$others_log" 2>&1 &
others=$!

count=$(echo "$old" | wc -w)
docker compose create --pull never --no-recreate --scale "web=$((count + 1))" web
new=$(docker compose ps --all --quiet --status created web)
name=$(docker inspect --format '{{.Name}}' "$new" | cut -c2-)
docker start "$new" >/dev/null
# Before it listens (its Python starts for seconds), so meanwhile Caddy is refused by it.
docker network disconnect "$network" "$new"

# Any answer below 500 will do: the path may want a login. One probe asks every 0.05 s for
# up to 5 s, so it sees the web answer within a twentieth of a second of it doing so
# (a `docker exec` costs more than that); between probes, the container's state is read.
probe='import sys, time, urllib.error, urllib.request
end = time.monotonic() + 5
while True:
    try:
        urllib.request.urlopen("http://127.0.0.1:5000" + sys.argv[1], timeout=5)
        sys.exit(0)
    except urllib.error.HTTPError as error:
        if error.code < 500:
            sys.exit(0)
    except OSError:
        pass
    if time.monotonic() > end:
        sys.exit(1)
    time.sleep(0.05)'
deadline=$(($(date +%s) + timeout))
until docker exec "$new" python3 -c "$probe" "$path" >/dev/null 2>&1; do
    state=$(docker inspect --format '{{.State.Status}} {{.RestartCount}}' "$new")
    if [ "$state" != "running 0" ] || [ "$(date +%s)" -ge "$deadline" ]; then
        if [ "$state" = "running 0" ]; then
            echo "the new web container did not answer $path within $timeout s"
        else
            echo "the new web container exited at start (now ${state% *}, restarted ${state#* } times)"
        fi
        docker logs --tail 30 "$new" 2>&1
        exit 3
    fi
    sleep 0.2
done
if ! wait "$others"; then
    echo "the app's other services (workers, clock) did not come up"
    tail -n 30 "$others_log"
    exit 3
fi

docker network connect --alias "$alias" --alias web --alias "$name" "$network" "$new"
handed_over=yes
address=$(docker inspect --format "{{(index .NetworkSettings.Networks \"$network\").IPAddress}}" "$new")
if direct "$address"; then directed=yes; fi
if [ "$directed" = yes ]; then
    # The old web takes seconds to finish (gunicorn), and Caddy sends it nothing new: it
    # finishes after this script, in a part of its own that keeps the lock (fd 9) and
    # puts Caddy back. No output and no signals reach it once the script has ended.
    # Until the old ones are gone, the role's look at the app leaves them out.
    # shellcheck disable=SC2086 # one or more container ids
    printf '%s\n' $old >.retiring
    (
        trap '' HUP INT TERM
        set +e
        # A request Caddy took just before the load may still be on its way to an old one.
        sleep 0.5
        # shellcheck disable=SC2086
        docker stop --time "$grace" $old
        # shellcheck disable=SC2086
        docker rm $old
        rm -f .retiring
        # Only the new one holds the alias now. Left directed, Caddy still reaches it.
        direct
    ) </dev/null >/dev/null 2>&1 &
    directed=no
else
    # shellcheck disable=SC2086 # one or more container ids
    docker stop --time "$grace" $old >/dev/null
    # shellcheck disable=SC2086
    docker rm $old >/dev/null
fi
drop_backups "$@"
echo switched
