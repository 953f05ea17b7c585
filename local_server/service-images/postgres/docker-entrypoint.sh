#!/usr/bin/env bash
# Entrypoint of the postgres stand-in. It follows the documented
# behaviour of the official postgres image's docker-entrypoint.sh:
#   - `docker run IMG -c x=y` means `postgres -c x=y`; any other command is exec'd as is;
#   - started as root: fix ownership of PGDATA, then re-exec as `postgres`;
#   - empty PGDATA only: initdb with POSTGRES_USER / POSTGRES_PASSWORD (or *_FILE),
#     POSTGRES_INITDB_ARGS, POSTGRES_INITDB_WALDIR; `host all all all <auth>` where
#     <auth> is POSTGRES_HOST_AUTH_METHOD or the server's password_encryption
#     (scram-sha-256); create POSTGRES_DB; run /docker-entrypoint-initdb.d/*;
#   - finally exec the server in the foreground.
set -Eeo pipefail

# file_env VAR [DEFAULT]: VAR from $VAR or from the file named by $VAR_FILE.
file_env() {
    local var=$1 file_var="${1}_FILE" default=${2:-}
    if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
        printf >&2 'error: both %s and %s are set (but are exclusive)\n' "$var" "$file_var"
        exit 1
    fi
    local value=$default
    if [ -n "${!var:-}" ]; then
        value=${!var}
    elif [ -n "${!file_var:-}" ]; then
        value=$(<"${!file_var}")
    fi
    export "$var"="$value"
    unset "$file_var"
}

setup_env() {
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    : "${POSTGRES_HOST_AUTH_METHOD:=}"
    DATABASE_ALREADY_EXISTS=
    if [ -s "$PGDATA/PG_VERSION" ]; then
        DATABASE_ALREADY_EXISTS=true
    fi
}

create_directories() {
    mkdir -p "$PGDATA"
    chmod 0700 "$PGDATA" || :
    mkdir -p /var/run/postgresql || :
    chmod 3775 /var/run/postgresql || :
    if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
        mkdir -p "$POSTGRES_INITDB_WALDIR"
        if [ "$(id -u)" = 0 ]; then
            find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres '{}' +
        fi
        chmod 700 "$POSTGRES_INITDB_WALDIR"
    fi
    if [ "$(id -u)" = 0 ]; then
        find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
        find /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
    fi
}

verify_minimum_env() {
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
        {
            echo 'Error: Database is uninitialized and superuser password is not specified.'
            echo '       You must specify POSTGRES_PASSWORD to a non-empty value for the'
            echo '       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".'
            echo
            echo '       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all'
            echo '       connections without a password. This is *not* recommended.'
        } >&2
        exit 1
    fi
    if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
        echo >&2 'WARNING: POSTGRES_HOST_AUTH_METHOD=trust: every host connection is accepted without a password.'
    fi
}

init_database_dir() {
    if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
        set -- --waldir "$POSTGRES_INITDB_WALDIR" "$@"
    fi
    # POSTGRES_INITDB_ARGS is shell-split (eval), as the official image does.
    # --pwfile refuses an empty file, hence the newline.
    eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"$POSTGRES_INITDB_ARGS"' "$@"'
}

setup_hba_conf() {
    if [ "$1" = postgres ]; then shift; fi
    local auth
    auth=$(postgres -C password_encryption "$@")
    : "${POSTGRES_HOST_AUTH_METHOD:=$auth}"
    printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"
}

# psql against the temporary (socket-only) server.
process_sql() {
    local runner=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
    if [ -n "$POSTGRES_DB" ]; then
        runner+=(--dbname "$POSTGRES_DB")
    fi
    PGHOST= PGHOSTADDR= "${runner[@]}" "$@"
}

temp_server_start() {
    if [ "$1" = postgres ]; then shift; fi
    set -- "$@" -c listen_addresses='' -p "${PGPORT:-5432}"
    NOTIFY_SOCKET= PGUSER="${PGUSER:-$POSTGRES_USER}" \
        pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@")" -w start
}

temp_server_stop() {
    PGUSER="${PGUSER:-postgres}" pg_ctl -D "$PGDATA" -m fast -w stop
}

setup_db() {
    local exists
    exists=$(POSTGRES_DB= process_sql --dbname postgres --set db="$POSTGRES_DB" --tuples-only \
        <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")
    if [ -z "$exists" ]; then
        POSTGRES_DB= process_sql --dbname postgres --set db="$POSTGRES_DB" \
            <<<'CREATE DATABASE :"db";'
    fi
}

process_init_files() {
    local f
    for f; do
        case "$f" in
            *.sh)
                if [ -x "$f" ]; then
                    printf '%s: running %s\n' "$0" "$f"
                    "$f"
                else
                    printf '%s: sourcing %s\n' "$0" "$f"
                    # shellcheck disable=SC1090
                    . "$f"
                fi
                ;;
            *.sql) printf '%s: running %s\n' "$0" "$f"; process_sql -f "$f" ;;
            *.sql.gz) printf '%s: running %s\n' "$0" "$f"; gunzip -c "$f" | process_sql ;;
            *.sql.xz) printf '%s: running %s\n' "$0" "$f"; xzcat "$f" | process_sql ;;
            *.sql.zst) printf '%s: running %s\n' "$0" "$f"; zstd -dc "$f" | process_sql ;;
            *) printf '%s: ignoring %s\n' "$0" "$f" ;;
        esac
        printf '\n'
    done
}

# Options after which postgres prints something and exits: no setup for those.
wants_help() {
    local arg
    for arg; do
        case "$arg" in
            -'?' | --help | --describe-config | -V | --version) return 0 ;;
        esac
    done
    return 1
}

main() {
    if [ "${1:0:1}" = - ]; then
        set -- postgres "$@"
    fi

    if [ "$1" = postgres ] && ! wants_help "$@"; then
        setup_env
        create_directories
        if [ "$(id -u)" = 0 ]; then
            export HOME=/var/lib/postgresql
            exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
        fi

        if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
            verify_minimum_env
            ls /docker-entrypoint-initdb.d/ >/dev/null # readable, before initdb starts
            init_database_dir
            setup_hba_conf "$@"
            export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
            temp_server_start "$@"
            setup_db
            shopt -s nullglob
            process_init_files /docker-entrypoint-initdb.d/*
            shopt -u nullglob
            temp_server_stop
            unset PGPASSWORD
            printf '\nPostgreSQL init process complete; ready for start up.\n\n'
        else
            printf '\nPostgreSQL Database directory appears to contain a database; Skipping initialization\n\n'
        fi
    fi

    exec "$@"
}

main "$@"
