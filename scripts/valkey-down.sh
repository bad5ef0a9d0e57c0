#!/usr/bin/env bash
# Stops the servers scripts/valkey-up.sh started and removes their state.
set -u
dir=${VALKEY_DIR:-/tmp/ffgo-valkey}
for p in 16379 17001 17002 17003; do
  valkey-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
done
rm -rf "$dir"
