#!/usr/bin/env bash
# The whole system on one machine (README: `make demo`): installs what is missing, starts Redis,
# Kafka and the database (embedded TimescaleDB unless DATABASE_URL), the grid mock, ingestion and
# the pricing worker, then a simulator in realistic mode and the live-ops CLI in the foreground.
# Ctrl+C stops everything the demo started. Logs: .cache/logs/demo-*.log
#   DEMO_CARS (300)  DEMO_SEED (42)  DEMO_INTERVAL_MS (2000)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOGS=.cache/logs
mkdir -p "$LOGS"

bash scripts/setup.sh || exit 1

before=$(ls .cache/run 2>/dev/null || true)
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "[demo] stopping"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  for pidfile in .cache/run/*.pid; do
    [ -e "$pidfile" ] || continue
    grep -qx "$(basename "$pidfile")" <<<"$before" || bash infra/infra.sh stop "$(basename "$pidfile" .pid)"
  done
  echo "[demo] stopped. Rows written:"
  rows
}
trap cleanup INT TERM HUP EXIT

db_url=${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:${EMBEDDED_DB_PORT:-55433}/postgres?sslmode=disable}
rows() { psql "$db_url" -Atc "SELECT count(*) || ' charging samples, ' || count(DISTINCT session_id) || ' stays, ' || round(coalesce(sum(kwh_usage * price_rate), 0)::numeric, 2) || ' USD' FROM charging_sessions" 2>/dev/null || echo "(database not reachable)"; }

bash infra/infra.sh up $([ -n "${DATABASE_URL:-}" ] && echo --no-embedded-db) || exit 1

start() { # start NAME ARGS...: a program in the background, its log in .cache/logs/demo-NAME.log
  local name=$1; shift
  # What `npm start -w NAME` runs, without npm in between, so our signals reach the program itself.
  node "$name/dist/src/main.js" "$@" >"$LOGS/demo-$name.log" 2>&1 &
  pids+=($!)
  echo "[demo] $name started (log: $LOGS/demo-$name.log)"
}
wait_http() { # wait_http NAME URL
  for _ in $(seq 1 150); do
    node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$2" && return 0
    sleep 0.2
  done
  echo "[demo] $1 did not become ready at $2; see $LOGS/demo-$1.log" >&2
  exit 1
}

start grid-mock
wait_http grid-mock http://127.0.0.1:8081/health
start ingestion
wait_http ingestion http://127.0.0.1:9464/ready
start pricing-worker
wait_http pricing-worker http://127.0.0.1:9465/ready
start simulator --mode realistic --cars "${DEMO_CARS:-300}" --seed "${DEMO_SEED:-42}" --interval "${DEMO_INTERVAL_MS:-2000}"

cat <<EOF
[demo] running: ${DEMO_CARS:-300} simulated cars -> ingestion (gRPC :50051) -> Kafka fleet-events -> pricing worker -> $db_url
[demo] ops: http://127.0.0.1:9464/metrics  http://127.0.0.1:9464/api/v1/stations  http://127.0.0.1:9465/metrics
[demo] in another terminal, after a minute:  psql $db_url -f common/sql/analyst/stations-last-day.sql
[demo] live-ops CLI below; Ctrl+C stops everything.
EOF
sleep 1
node liveops-cli/dist/src/main.js
