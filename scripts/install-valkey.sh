#!/usr/bin/env bash
# Installs valkey-server and valkey-tools from Debian's bookworm-backports suite when they are
# missing. The suite's URI is taken from the machine's own apt sources, so no host name is
# written here. Needs root (CI and the dev machines run as root).
set -euo pipefail

if command -v valkey-server >/dev/null && command -v valkey-cli >/dev/null; then
  exit 0
fi

src=/etc/apt/sources.list.d/debian.sources
bp=/etc/apt/sources.list.d/bookworm-backports.sources
if [ ! -f "$bp" ]; then
  # The first URIs line belongs to the main archive stanza (the second is debian-security).
  uri=$(awk '/^URIs:/ {print $2; exit}' "$src" 2>/dev/null || true)
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list)
  fi
  if [ -z "$uri" ]; then
    echo "install-valkey: no Debian archive URI found in $src or /etc/apt/sources.list" >&2
    exit 1
  fi
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" >"$bp"
fi

echo "install-valkey: apt-get update" >&2
apt-get update -qq
echo "install-valkey: installing valkey-server valkey-tools from bookworm-backports" >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports valkey-server valkey-tools >/dev/null
# The package's own service does not run here; make sure a stray one is not holding 6379.
valkey-server --version
