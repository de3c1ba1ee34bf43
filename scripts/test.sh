#!/usr/bin/env bash
# The test command (README: `make test`). From a clean checkout it installs what is missing,
# builds, starts the real servers it needs (Redis, Kafka, PostgreSQL 15, embedded TimescaleDB),
# runs every test, stops the servers it started, and ends with `N passed, N failed`.
#   scripts/test.sh [--unit] [substring...]     KEEP_INFRA=1 leaves the servers running
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

if [[ " $* " != *" --unit "* ]]; then
  before=$(ls .cache/run 2>/dev/null || true)
  # The cluster layout's tests (Sentinel failover, replicated bookings) start its nodes themselves.
  cluster_before=$(ls .cache/cluster/run 2>/dev/null || true)
  stop_ours() {
    [ "${KEEP_INFRA:-0}" = 1 ] && return
    for pidfile in .cache/run/*.pid; do
      [ -e "$pidfile" ] || continue
      grep -qx "$(basename "$pidfile")" <<<"$before" || bash infra/infra.sh stop "$(basename "$pidfile" .pid)"
    done
    [ -z "$cluster_before" ] && [ -n "$(ls .cache/cluster/run 2>/dev/null || true)" ] && bash infra/cluster.sh down
  }
  trap stop_ours EXIT
  bash infra/infra.sh up --postgres || { echo "0 passed, 1 failed"; exit 1; }
fi

node scripts/run-tests.mjs "$@"
