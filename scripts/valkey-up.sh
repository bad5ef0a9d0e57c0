#!/usr/bin/env bash
# Starts the Valkey servers the tests use, on loopback, without persistence:
#   standalone on 127.0.0.1:16379 (VALKEY_ADDR)
#   a 3-primary cluster on 127.0.0.1:17001-17003 (VALKEY_CLUSTER_ADDRS)
# Servers already answering are left alone. State lives in $VALKEY_DIR (default /tmp/ffgo-valkey).
set -euo pipefail
dir=${VALKEY_DIR:-/tmp/ffgo-valkey}
mkdir -p "$dir"

start() { # port [extra args...]
  local port=$1; shift
  if valkey-cli -p "$port" ping >/dev/null 2>&1; then return 0; fi
  mkdir -p "$dir/$port"
  valkey-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$dir/$port" --logfile "$dir/$port/valkey.log" --pidfile "$dir/$port/valkey.pid" "$@"
  for _ in $(seq 1 50); do
    valkey-cli -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "valkey-up: server on port $port did not answer; see $dir/$port/valkey.log" >&2
  exit 1
}

start 16379
cluster_ports=(17001 17002 17003)
# A cluster is either running whole or started afresh: a node restarted on an old nodes.conf
# would remember slots whose data is gone, and `--cluster create` refuses non-empty nodes.
healthy=1
for p in "${cluster_ports[@]}"; do
  valkey-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || healthy=0
done
if [ "$healthy" = 0 ]; then
  for p in "${cluster_ports[@]}"; do
    valkey-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
  done
  for p in "${cluster_ports[@]}"; do
    for _ in $(seq 1 50); do
      valkey-cli -p "$p" ping >/dev/null 2>&1 || break
      sleep 0.1
    done
    rm -rf "${dir:?}/$p"
  done
fi
for p in "${cluster_ports[@]}"; do
  start "$p" --cluster-enabled yes --cluster-config-file "$dir/$p/nodes.conf" --cluster-node-timeout 2000
done
if ! valkey-cli -p 17001 cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
  valkey-cli --cluster create 127.0.0.1:17001 127.0.0.1:17002 127.0.0.1:17003 \
    --cluster-replicas 0 --cluster-yes >/dev/null
  for _ in $(seq 1 100); do
    valkey-cli -p 17001 cluster info | grep -q 'cluster_state:ok' && break
    sleep 0.1
  done
fi
valkey-cli -p 17001 cluster info | grep -q 'cluster_state:ok' || { echo "valkey-up: cluster not ok" >&2; exit 1; }
echo "valkey-up: standalone 127.0.0.1:16379, cluster 127.0.0.1:17001-17003" >&2
