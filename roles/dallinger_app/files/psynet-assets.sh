# PsyNet deployment ids whose asset folders (experiments/<id>) a database names: those of
# database $2 as "own:<id>", those of every other database as "other:<id>". $1: the
# superuser. Runs in the shared PostgreSQL container (sh, psql).
set -e
ids() {
  psynet=$(psql -X -tA -v ON_ERROR_STOP=1 -U "$1" -d "$2" \
    -c "SELECT to_regclass('public.asset') IS NOT NULL")
  [ "$psynet" = t ] || return 0
  psql -X -tA -v ON_ERROR_STOP=1 -v tag="$3" -U "$1" -d "$2" <<'SQL'
SELECT DISTINCT :'tag' || deployment_id FROM asset
WHERE starts_with(host_path, 'experiments/' || deployment_id || '/');
SQL
}
ids "$1" "$2" own:
databases=$(psql -X -tA -v ON_ERROR_STOP=1 -U "$1" -d postgres \
  -c "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate")
while IFS= read -r database; do
  [ -z "$database" ] || [ "$database" = "$2" ] || ids "$1" "$database" other:
done <<EOF_DATABASES
$databases
EOF_DATABASES
