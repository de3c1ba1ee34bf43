#!/usr/bin/env bash
# The whole system on one machine (README: `make demo`): installs what is missing, starts Redis,
# Kafka and the database (embedded TimescaleDB unless DATABASE_URL), the grid mock, ingestion, the live web map (:8090),
# the history writer, the analytics API (:9467) and
# the pricing worker, then a simulator in realistic mode and the live-ops CLI in the foreground.
# Ctrl+C stops everything the demo started, after counting the rows that reached the database.
# Logs: .cache/logs/demo-*.log ($GREENLANE_CACHE/logs).
#   DEMO_CARS (300)  DEMO_SEED (42)  DEMO_INTERVAL_MS (2000)
#   DEMO_FIRST_MESSAGE_S (30): how long the first CarStatus may take to be accepted before the demo
#   stops and says why.  DEMO_SETUP=0 skips scripts/setup.sh (for the tests, which build first).
#   DEMO_TLS (1): the vehicle port speaks TLS and the cars present JWTs (scope vehicle) minted from
#   the development key of scripts/certs.mjs ($GREENLANE_CACHE/certs); 0: plaintext and the token.
#
# The demo runs its own servers on its own addresses: variables of the shell that would point its
# programs elsewhere (KAFKA_BROKERS, INGESTION_ADDR, ...) are replaced, each named on the console.
# API_TOKENS is kept: the ingestion accepts those tokens and the simulator sends the first.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CACHE=${GREENLANE_CACHE:-.cache}
LOGS=$CACHE/logs
RUN=$CACHE/run
mkdir -p "$LOGS" "$RUN"

say() { echo "[demo] $*"; }
# banner LINE...: what stopped the demo, loud, on the console (not only in a log).
banner() {
  {
    echo
    echo "[demo] ================================================================================"
    for line in "$@"; do echo "[demo] $line"; done
    echo "[demo] ================================================================================"
  } >&2
}
# fail LINE...: stop the demo saying why; once programs run, the banner comes after they stopped.
reason_file=""
fail() {
  if [ -n "$reason_file" ]; then printf '%s\n' "STOPPED: $1" "${@:2}" >"$reason_file"; else banner "STOPPED: $1" "${@:2}"; fi
  exit 1
}

# The last error a program logged (pino JSON: the msg of its last error/fatal line, with the
# variable a ConfigError names), else its last lines as they are.
last_error() {
  node -e '
    const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
    let found, last;
    for (const line of lines) {
      try { const j = JSON.parse(line); last = j; if (j.level >= 50) found = j; } catch {}
    }
    if (found) console.log(found.msg + (found.err?.message && !found.msg.includes(found.err.message) ? `: ${found.err.message}` : ""));
    else if (last?.msg !== undefined && lines.at(-1).startsWith("{")) console.log(`no error logged (killed?); its last line: ${last.msg}`);
    else console.log(lines.filter((l) => !/^\s+at /.test(l)).slice(-3).join(" | ") || "(its log is empty)");
  ' "$1" 2>/dev/null || echo "(no log at $1)"
}

# --- the environment: what the demo takes from the shell, what it replaces, what it refuses ------

for v in DEMO_CARS DEMO_SEED DEMO_INTERVAL_MS DEMO_FIRST_MESSAGE_S; do
  val=${!v:-}
  [ -z "$val" ] || [[ "$val" =~ ^[0-9]+$ && "$val" -gt 0 || ( "$v" = DEMO_SEED && "$val" = 0 ) ]] ||
    fail "$v=$val is not a positive whole number" "unset it (defaults: DEMO_CARS 300, DEMO_SEED 42, DEMO_INTERVAL_MS 2000, DEMO_FIRST_MESSAGE_S 30)"
done
CARS=${DEMO_CARS:-300}
SEED=${DEMO_SEED:-42}
INTERVAL_MS=${DEMO_INTERVAL_MS:-2000}
FIRST_MESSAGE_S=${DEMO_FIRST_MESSAGE_S:-30}
TLS=${DEMO_TLS:-1}
case "$TLS" in
  0 | 1) ;;
  *) fail "DEMO_TLS=$TLS is invalid" "use DEMO_TLS=1 (TLS and JWTs on the vehicle port, the default) or DEMO_TLS=0 (plaintext and the token)" ;;
esac
CERTS=$CACHE/certs

case "${LOG_LEVEL:-info}" in
  fatal | error | warn | info | debug | trace | silent) ;;
  *) fail "LOG_LEVEL=$LOG_LEVEL is not a log level" "use one of fatal, error, warn, info, debug, trace, silent, or unset LOG_LEVEL" ;;
esac

# The token the simulator sends: the first of API_TOKENS (what the ingestion will accept), else
# the development token the ingestion accepts when API_TOKENS is unset.
if [ -n "${API_TOKENS+set}" ]; then
  sim_token=$(node -e 'const t = process.argv[1].split(",").map((s) => s.trim()).filter(Boolean); if (t.length) console.log(t[0]); else process.exit(1)' "$API_TOKENS") ||
    fail "API_TOKENS is set but holds no token (\"$API_TOKENS\")" "set it to comma-separated tokens, e.g. API_TOKENS=prod-a,prod-b, or unset it for the development token"
  token_note="the ingestion accepts API_TOKENS from your shell; the simulator sends the first of them"
else
  [ "${NODE_ENV:-}" = production ] &&
    fail "NODE_ENV=production needs API_TOKENS (the ingestion refuses the development token in production)" "set API_TOKENS=your-token, or unset NODE_ENV for the demo"
  sim_token=greenlane-secret-token
  token_note="development token (API_TOKENS unset)"
fi

REDIS_PORT=${INFRA_REDIS_PORT:-6379}
KAFKA_PORT=${INFRA_KAFKA_PORT:-19092}
EMBEDDED_PORT=${EMBEDDED_DB_PORT:-55433}
# The demo's own addresses: these variables are set for its programs whatever the shell says.
declare -A OWN=(
  [INGESTION_ADDR]=0.0.0.0:50051
  [INGESTION_HTTP_ADDR]=0.0.0.0:9464
  [INGESTION_TARGET]=127.0.0.1:50051
  [GRID_ADDR]=0.0.0.0:8081
  [GRID_URL]=http://127.0.0.1:8081
  [PRICING_HTTP_ADDR]=0.0.0.0:9465
  [LIVEOPS_WEB_ADDR]=0.0.0.0:8090
  [HISTORY_HTTP_ADDR]=0.0.0.0:9466
  [ANALYTICS_ADDR]=0.0.0.0:9467
  [COMMAND_API_ADDR]=0.0.0.0:8091
  [ALERT_ADDR]=0.0.0.0:9468
  [COMMAND_API_URL]=http://127.0.0.1:8091
  [KAFKA_BROKERS]=127.0.0.1:$KAFKA_PORT
  [REDIS_URL]=redis://127.0.0.1:$REDIS_PORT
  [FLEET_EVENTS_TOPIC]=fleet-events
  [API_TOKEN]=$sim_token
)
replaced=()
for v in "${!OWN[@]}"; do
  if [ -n "${!v+set}" ] && [ "${!v}" != "${OWN[$v]}" ]; then
    if [ "$v" = API_TOKEN ]; then replaced+=("API_TOKEN (the simulator sends the first of API_TOKENS, or the development token)")
    else replaced+=("$v=${!v} (the demo uses ${OWN[$v]})"); fi
  fi
  export "$v=${OWN[$v]}"
done
# The vehicle port's security is the demo's own (DEMO_TLS): the shell's certificates and keys are not used.
for v in INGESTION_TLS_CERT INGESTION_TLS_KEY INGESTION_TLS_CLIENT_CA AUTH_JWKS AUTH_JWT_HS256_SECRET AUTH_JWT_ISSUER AUTH_JWT_AUDIENCE; do
  if [ -n "${!v+set}" ]; then
    replaced+=("$v (the demo's vehicle port uses its own development certificates and keys; DEMO_TLS=0 turns them off)")
    unset "$v"
  fi
done
# The simulator runs with the demo's flags; SIM_* settings of the shell would change its fleet.
sim_unset=()
for v in $(compgen -e -- SIM_); do
  replaced+=("$v=${!v} (the demo runs its simulator with its own flags)")
  sim_unset+=(-u "$v")
done
if ((${#replaced[@]})); then
  say "note: the demo runs its own servers, so it does not use these variables of your shell:"
  for line in "${replaced[@]}"; do say "  $line"; done
fi

if [ -n "${DATABASE_URL:-}" ]; then
  db_url=$DATABASE_URL
else
  db_url="postgres://postgres:postgres@127.0.0.1:$EMBEDDED_PORT/postgres?sslmode=disable"
fi
# rows: what reached the database (-Atc: one plain line); empty when the database does not answer.
rows() {
  PGCONNECT_TIMEOUT=10 timeout 30 psql "$db_url" -Atc "SELECT count(*) || ' charging samples, ' || count(DISTINCT session_id) || ' stays, ' || round(coalesce(sum(kwh_usage * price_rate), 0)::numeric, 2) || ' USD' FROM charging_sessions" 2>"$LOGS/demo-rows.err"
}

# --- ports: the demo's own must be free; the servers' are checked by infra/infra.sh -------------

declare -A PORT_OF=([50051]="the ingestion's gRPC port" [9464]="the ingestion's operations port" [8081]="the grid mock's port" [9465]="the pricing worker's operations port" [8090]="the live web map's port" [9466]="the history writer's operations port" [9467]="the analytics API's port" [8091]="the command API's port" [9468]="the alert engine's port")
for port in 8081 50051 9464 9465 8090 9466 9467 8091 9468; do
  who=$(node infra/ports.mjs holder "$port") || continue
  hint="Stop that program (or free port $port), then run make demo again."
  if [[ "$who" == *"/dist/src/main.js"* ]]; then
    holder_pid=${who#*pid }
    hint="It looks like a GreenLane program left by an earlier run: stop it with kill ${holder_pid%%:*}, then run make demo again."
  fi
  fail "port $port (${PORT_OF[$port]}) is already taken by $who" "$hint"
done

[ "${DEMO_SETUP:-1}" = 0 ] || bash scripts/setup.sh || fail "setup failed (see the lines above)"

before=$(ls "$RUN" 2>/dev/null || true)
pids=()
names=()
watcher=""
stopping=""
reason_file=$(mktemp)
cli_pidfile=$(mktemp)
baseline=""

cleanup() {
  trap - INT TERM HUP EXIT
  stopping=1
  [ -n "$watcher" ] && kill "$watcher" 2>/dev/null
  echo
  say "stopping"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null
    for _ in $(seq 1 150); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${pids[i]}" 2>/dev/null
  done
  # Count while the database still runs (the embedded one stops below) and after the pricing
  # worker has written its last batch and let go of its connection.
  if ((${#pids[@]})); then
    local count
    if count=$(rows) && [ -n "$count" ]; then
      say "stopped. Rows in charging_sessions: $count${baseline:+ (before this run: ${baseline%% *} samples)}"
    else
      say "stopped. Rows written: (the database at $db_url did not answer: $(head -c 300 "$LOGS/demo-rows.err"))"
    fi
  fi
  for pidfile in "$RUN"/*.pid; do
    [ -e "$pidfile" ] || continue
    grep -qx "$(basename "$pidfile")" <<<"$before" || bash infra/infra.sh stop "$(basename "$pidfile" .pid)"
  done
  local status=0
  if [ -s "$reason_file" ]; then
    mapfile -t lines <"$reason_file"
    banner "${lines[@]}"
    status=1
  fi
  rm -f "$reason_file" "$cli_pidfile"
  exit "$status"
}
trap cleanup INT TERM HUP EXIT

bash infra/infra.sh up $([ -n "${DATABASE_URL:-}" ] && echo --no-embedded-db) ||
  fail "the servers did not start (the [infra] lines above say which and why)"
if [ -n "${DATABASE_URL:-}" ]; then
  PGCONNECT_TIMEOUT=10 timeout 30 psql "$DATABASE_URL" -Atc 'SELECT 1' >/dev/null 2>"$LOGS/demo-rows.err" ||
    fail "DATABASE_URL=$DATABASE_URL does not answer: $(head -c 300 "$LOGS/demo-rows.err")" "fix DATABASE_URL, or unset it for the embedded TimescaleDB"
  DB_ENV=(DATABASE_URL="$db_url")
else
  # The embedded database serves one connection at a time (README: The database).
  DB_ENV=(DATABASE_URL="$db_url" PRICING_DB_ONE_CONNECTION=true)
fi
baseline=$(rows 2>/dev/null || true)

start() { # start NAME [env VAR=...] -- ARGS...: a program in the background, its log in LOGS/demo-NAME.log
  local name=$1; shift
  local envs=()
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  # What `npm start -w NAME` runs, without npm in between, so our signals reach the program itself
  # (its Node flags too: the start script's words that begin with --).
  local flags=()
  read -r -a flags <<<"$(node -p "(require('./$name/package.json').scripts.start.match(/ --[^ ]+/g) ?? []).join(' ')")"
  env "${envs[@]}" node "${flags[@]}" "$name/dist/src/main.js" "$@" >"$LOGS/demo-$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
  say "$name started (log: $LOGS/demo-$name.log)"
}
wait_ready() { # wait_ready NAME URL: until URL answers 200; stops the demo when the program exits or never answers
  local name=$1 url=$2 pid=${pids[-1]}
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || fail "$name stopped at start: $(last_error "$LOGS/demo-$name.log")" "its log: $LOGS/demo-$name.log"
    node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$url" && return 0
    sleep 0.2
  done
  fail "$name did not become ready at $url within 30 s: $(last_error "$LOGS/demo-$name.log")" "its log: $LOGS/demo-$name.log"
}
accepted() { # the ingestion's accepted CarStatus count, or nothing when it does not answer
  node -e 'fetch("http://127.0.0.1:9464/metrics").then((r) => r.text()).then((t) => {
    const m = /^ingestion_messages_accepted_total (\S+)$/m.exec(t); console.log(m ? Number(m[1]) : 0); }, () => process.exit(1))'
}

INGESTION_SECURITY=()
SIM_SECURITY=()
if [ "$TLS" = 1 ]; then
  node scripts/certs.mjs --out "$CERTS" --cars 0 >"$LOGS/demo-certs.log" 2>&1 ||
    fail "the development certificates could not be made: $(tail -n 1 "$LOGS/demo-certs.log")" "its log: $LOGS/demo-certs.log; or run the demo without TLS: DEMO_TLS=0 make demo"
  INGESTION_SECURITY=(INGESTION_TLS_CERT="$CERTS/server.pem" INGESTION_TLS_KEY="$CERTS/server-key.pem" AUTH_JWKS="$CERTS/jwks.json")
  SIM_SECURITY=(--tls-ca "$CERTS/ca.pem" --jwt-key "$CERTS/jwt-signing-key.pem")
  token_note="TLS on :50051 (CA $CERTS/ca.pem); each car presents its own JWT (scope vehicle, sub = the car) signed by $CERTS/jwt-signing-key.pem${API_TOKENS:+; API_TOKENS of your shell are accepted too}"
fi

start grid-mock --
wait_ready grid-mock http://127.0.0.1:8081/health
start ingestion "${INGESTION_SECURITY[@]}" --
wait_ready ingestion http://127.0.0.1:9464/ready
start pricing-worker "${DB_ENV[@]}" --
wait_ready pricing-worker http://127.0.0.1:9465/ready
start command-api --
wait_ready command-api http://127.0.0.1:8091/ready
# A stalled charger is alerted after a minute here (default 5), so the demo shows one early.
start alert-engine "${DB_ENV[@]}" ALERT_STALL_MINUTES=1 --
wait_ready alert-engine http://127.0.0.1:9468/ready
start history-writer "${DB_ENV[@]}" --
wait_ready history-writer http://127.0.0.1:9466/ready
start analytics-api "${DB_ENV[@]}" --
wait_ready analytics-api http://127.0.0.1:9467/ready
# The live map: OPERATOR_TOKENS of the shell if set (its first token goes in the address), else the development token.
operator_token=$(node -e 'const t = (process.argv[1] || "").split(",").map((s) => s.trim()).filter(Boolean); console.log(t[0] ?? "greenlane-operator-token")' "${OPERATOR_TOKENS:-}")
start liveops-web --
wait_ready liveops-web http://127.0.0.1:8090/ready
start simulator "${sim_unset[@]}" -- --mode realistic --cars "$CARS" --seed "$SEED" --interval "$INTERVAL_MS" --duration 0 "${SIM_SECURITY[@]}"
say "simulator credentials: $token_note"

# The console stays empty when no car gets through: wait for the first accepted CarStatus, and
# say why there is none (the simulator's own error: a refused token, an unreachable ingestion).
sim_pid=${pids[-1]}
deadline=$((SECONDS + FIRST_MESSAGE_S))
until [ "$(accepted || echo 0)" -gt 0 ]; do
  if ! kill -0 "$sim_pid" 2>/dev/null; then
    fail "the simulator stopped before any car got through: $(last_error "$LOGS/demo-simulator.log")" \
      "its log: $LOGS/demo-simulator.log" \
      "simulator credentials: $token_note"
  fi
  if ((SECONDS >= deadline)); then
    fail "no CarStatus reached the ingestion within ${FIRST_MESSAGE_S} s; the simulator's last error: $(last_error "$LOGS/demo-simulator.log")" \
      "logs: $LOGS/demo-simulator.log, $LOGS/demo-ingestion.log"
  fi
  sleep 0.5
done

cat <<EOF
[demo] running: $CARS simulated cars -> ingestion (gRPC :50051, $([ "$TLS" = 1 ] && echo "TLS + JWT; DEMO_TLS=0 for plaintext" || echo plaintext)) -> Kafka fleet-events -> pricing worker -> $db_url
[demo] live map: open http://127.0.0.1:8090/?token=$operator_token in a browser (liveops-web/README.md)
[demo] ops: http://127.0.0.1:9464/metrics  http://127.0.0.1:9464/api/v1/stations  http://127.0.0.1:9465/metrics
[demo] in another terminal, after a minute:  psql $db_url -f common/sql/analyst/stations-last-day.sql
[demo] analysts (README: the first five minutes):  psql $db_url -f common/sql/analyst/history-low-battery.sql
[demo]   curl -H 'Authorization: Bearer $operator_token' 'http://127.0.0.1:9467/api/v1/fleet/summary'  (http://127.0.0.1:9467/openapi.json)
[demo] commands to cars (another terminal):  npm start -w liveops-cli -- command CAR-001 emergency-stop  (then: ... command CAR-001 resume; http://127.0.0.1:8091/openapi.json)
[demo] alerts and presence: curl -H 'Authorization: Bearer $operator_token' 'http://127.0.0.1:9468/v1/alerts?status=active'  and  '.../v1/cars?status=offline'
[demo] live-ops CLI below; Ctrl+C stops everything.
EOF

# While the console runs: a program of the demo that exits stops the demo, saying which and why.
(
  while sleep 1; do
    for i in "${!pids[@]}"; do
      kill -0 "${pids[i]}" 2>/dev/null && continue
      name=${names[i]}
      printf '%s\n' "STOPPED: $name exited while the demo ran: $(last_error "$LOGS/demo-$name.log")" "its log: $LOGS/demo-$name.log" >"$reason_file"
      kill -INT "$(cat "$cli_pidfile")" 2>/dev/null
      exit 0
    done
  done
) &
watcher=$!

bash -c 'echo $$ >"$1"; exec node liveops-cli/dist/src/main.js' liveops "$cli_pidfile"
