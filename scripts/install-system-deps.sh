#!/usr/bin/env bash
# Debian packages the tool and its test bed need: ssh for Ansible, a Docker engine and
# debootstrap for the throwaway test servers, and nss-myhostname so that <app>.localhost
# names resolve to this machine as they do in browsers (rehearsal servers, tests).
# Installs only what is missing. With --browser, also headless Chromium and its driver
# (and NSS's certutil), with which the end-to-end tests click through an experiment as a
# participant.
set -euo pipefail

declare -A wanted=(
  [ssh]=openssh-client
  [ssh-keygen]=openssh-client
  [dockerd]=docker.io
  [debootstrap]=debootstrap
)
missing=()
for command in "${!wanted[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${wanted[$command]}")
done
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if [ ! -e /usr/share/doc/libnss-myhostname ] && ! getent hosts dlgr-check.localhost >/dev/null; then
  missing+=(libnss-myhostname)
fi
if [ "${1:-}" = --browser ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  command -v certutil >/dev/null 2>&1 || missing+=(libnss3-tools)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "Installing Debian packages: ${packages[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"
