#!/bin/sh
# Entrypoint of the redis stand-in, after the official redis image's:
#   - `docker run IMG --opt` or `IMG x.conf` means `redis-server ...`;
#   - started as root: chown /data to redis, re-exec as `redis`; umask 0077.
# The official image compiles protected mode off, so a `command:` override such
# as `redis-server --appendonly yes` still accepts other containers. Debian's
# binary has it on, so the same default is given as the first option here
# (after the config file, if any); a protected-mode set by the user, on the
# command line or in that config file, wins.
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

case "${2:-}" in
    -v | --version | -h | --help | --test-memory | --check-system) informational=1 ;;
    *) informational= ;;
esac

if [ "$1" = redis-server ] && [ -z "$informational" ]; then
    shift
    # Redis reads its first argument as a config file unless it starts with "--".
    conf=
    if [ $# -gt 0 ] && { [ "$1" = - ] || [ "${1#-}" = "$1" ]; }; then
        conf=$1
        shift
    fi
    user_sets_it=
    for arg; do
        case "$arg" in
            --protected-mode | --protected-mode=*) user_sets_it=1 ;;
        esac
    done
    if [ -n "$conf" ] && [ -f "$conf" ] && [ -r "$conf" ] \
        && grep -Eiq '^[[:space:]]*protected-mode[[:space:]]' "$conf"; then
        user_sets_it=1
    fi
    if [ -z "$user_sets_it" ]; then
        set -- --protected-mode no "$@"
    fi
    if [ -n "$conf" ]; then
        set -- "$conf" "$@"
    fi
    set -- redis-server "$@"
fi

if [ "$(umask)" = 0022 ]; then
    umask 0077
fi

exec "$@"
