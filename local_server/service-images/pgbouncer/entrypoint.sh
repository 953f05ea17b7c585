#!/bin/sh
# Entrypoint of the pgbouncer stand-in: edoburu/pgbouncer's entrypoint
# with a mounted configuration, i.e. exec the command as given. That image
# would generate a missing pgbouncer.ini from environment variables; this one
# says so and stops instead.
set -e

if [ "$(basename "${1:-}")" = pgbouncer ]; then
    for arg; do ini=$arg; done  # pgbouncer [options] INI: the last argument
    case "$ini" in
        *.ini)
            if [ ! -r "$ini" ]; then
                echo "entrypoint: $ini is missing or unreadable; mount your own" \
                     "(this stand-in does not generate it from the environment)" >&2
                exit 1
            fi
            ;;
    esac
fi

exec "$@"
