#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: installs Valkey when it is missing, starts the
# standalone server and the 3-primary cluster, then runs every test against them.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-valkey.sh
bash scripts/valkey-up.sh
export VALKEY_ADDR=${VALKEY_ADDR:-127.0.0.1:16379}
export VALKEY_CLUSTER_ADDRS=${VALKEY_CLUSTER_ADDRS:-127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003}

echo "== go vet" >&2
go vet ./...
echo "== golden outputs compile" >&2
(cd gen/testdata && go build ./...)
# The contract tests in ffscripts run on the embedded engine and the standalone server in
# the main pass, then once more against the cluster.
echo "== go test (VALKEY_ADDR=$VALKEY_ADDR, embedded engine too)" >&2
FFGO_TARGETS=embedded,valkey go test -count=1 ${GOTESTFLAGS:-} ./...
echo "== contract tests on the cluster (VALKEY_ADDR=$VALKEY_CLUSTER_ADDRS)" >&2
VALKEY_ADDR=$VALKEY_CLUSTER_ADDRS FFGO_TARGETS=valkey go test -count=1 ${GOTESTFLAGS:-} ./ffscripts
echo "== race detector: the engine's and the worker's concurrency" >&2
FFGO_TARGETS=embedded,valkey go test -race -count=1 ${GOTESTFLAGS:-} ./embedded ./worker
# The benchmark program is its own module (asynq stays out of the library's go.mod): a smoke
# run of every scenario at a small size keeps `make bench` working.
echo "== bench smoke test (bench/, a private valkey-server)" >&2
(cd bench && go test -count=1 ${GOTESTFLAGS:-} ./...)
