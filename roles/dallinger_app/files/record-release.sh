#!/bin/sh
# Keep the files the app now runs from as a release, for `rollback`.
#
#   record-release.sh APP_DIR COMPOSE_FILE KEEP [NOTE]
#
# releases/<UTC time>/ (0700) gets COMPOSE_FILE, .env (0600, as it is) and
# release.json: time, the web's image (reference, id, registry digests) and NOTE. Nothing
# is recorded when the newest release holds the same files and image id. Releases beyond the newest
# KEEP are removed, and so are their images unless a kept release of any app or a
# container still uses them. Prints "recorded <id>" or "same <id>".
set -eu
cd "$1"
compose=$2 keep=$3 note=${4:-}
umask 077
mkdir -p releases
rm -rf releases/*.tmp # an interrupted run's
list() { find releases -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort; }

# The web's image; unknown ("") only if the web stopped since compose started it.
image='' image_id='' digests=''
# Not one that finishes its requests after a hand-over (switch-web.sh lists those).
web=$(docker compose ps --quiet web | grep -vxF -e "$(cat .retiring 2>/dev/null)" | head -n 1)
if [ -n "$web" ]; then
    image=$(docker inspect --format '{{.Config.Image}}' "$web")
    image_id=$(docker inspect --format '{{.Image}}' "$web")
    digests=$(docker image inspect --format '{{range $i, $d := .RepoDigests}}{{if $i}}", "{{end}}{{$d}}{{end}}' "$image_id")
fi

newest=$(list | tail -n 1)
if [ -n "$newest" ] && cmp -s "$compose" "releases/$newest/$compose" &&
    cmp -s .env "releases/$newest/.env" &&
    grep -qs "\"image_id\": \"$image_id\"" "releases/$newest/release.json"; then
    echo "same $newest"
    exit 0
fi

id=$(date -u +%Y%m%dT%H%M%SZ)
if [ -e "releases/$id" ]; then id="$id-$$"; fi
mkdir "releases/$id.tmp"
cp -p "$compose" .env "releases/$id.tmp/"
# Image references, ids and digests have no characters JSON would need escaped; NOTE is
# one of the role's own words.
printf '{"id": "%s", "time": "%s", "image": "%s", "image_id": "%s", "digests": [%s], "note": "%s"}\n' \
    "$id" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$image" "$image_id" \
    "${digests:+\"$digests\"}" "$note" >"releases/$id.tmp/release.json"
mv "releases/$id.tmp" "releases/$id"

list | head -n "-$keep" |
    while read -r old; do
        gone=$(sed -n 's/.*"image_id": "\([^"]*\)".*/\1/p' "releases/$old/release.json" 2>/dev/null || true)
        rm -rf "releases/$old"
        if [ -n "$gone" ] && ! grep -qs "\"image_id\": \"$gone\"" ../*/releases/*/release.json; then
            # Refused while a container uses it or another tag names it: then it stays.
            docker image rm "$gone" >/dev/null 2>&1 || true
        fi
    done
echo "recorded $id"
