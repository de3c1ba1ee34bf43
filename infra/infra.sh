#!/usr/bin/env bash
# Local infrastructure without Docker: Redis (Debian's redis-server), Apache Kafka 3.9 in KRaft mode
# (jars from Maven Central), the embedded TimescaleDB (PGlite) and, for the tests, a throwaway
# PostgreSQL 15 cluster (Debian's server binaries).
#
#   infra/infra.sh up [--postgres] [--no-embedded-db]   start what is not already answering
#                     [--cluster]                      and the cluster layout (infra/cluster.sh up)
#   infra/infra.sh down                                 stop what `up` started, nothing else (the cluster's too)
#   infra/infra.sh stop NAME...                         stop one of those (redis, kafka, postgres, embedded-timescaledb)
#   infra/infra.sh status                               what answers where
#   infra/infra.sh install                              install prerequisites only
#
# Start is idempotent: a server that already answers on its port is reused and left alone by
# `down`. Data and logs live in the cache folder ($GREENLANE_CACHE, default .cache/).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${GREENLANE_CACHE:-$ROOT/.cache}
RUN=$CACHE/run
LOGS=$CACHE/logs

REDIS_PORT=${INFRA_REDIS_PORT:-6379}
KAFKA_PORT=${INFRA_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${INFRA_KAFKA_CONTROLLER_PORT:-19093}
KAFKA_PARTITIONS=${KAFKA_PARTITIONS:-6}
KAFKA_HEAP=${KAFKA_HEAP:-512m}
POSTGRES_PORT=${INFRA_POSTGRES_PORT:-55432}
EMBEDDED_DB_PORT=${EMBEDDED_DB_PORT:-55433}
KAFKA_LIBS=${KAFKA_LIBS:-$CACHE/kafka/libs}

say() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# reuse_or_die NAME KIND PORT VARIABLE: a server already on PORT is reused only when it answers as
# KIND (infra/ports.mjs probe); another program there stops the start, named, with what to change.
reuse_or_die() {
  local name=$1 kind=$2 port=$3 variable=$4
  if node "$ROOT/infra/ports.mjs" probe "$kind" "$port"; then say "$name: reusing the server on port $port"; return; fi
  die "port $port ($name) is taken by $(node "$ROOT/infra/ports.mjs" holder "$port" || echo 'a program that closed it meanwhile'), which does not answer as $name. Stop that program, or set $variable to a free port"
}

# wait_for NAME SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then die "$name did not answer within ${seconds}s; see $LOGS/"; fi
    sleep 0.3
  done
}

# apt_install, install_redis, install_java, install_kafka.
source "$ROOT/infra/install.sh"

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

install_postgres() { [ -x "$(pg_bindir)/initdb" ] || apt_install postgresql; }

started() { echo "$2" >"$RUN/$1.pid"; say "$1 started (pid $2)"; }

start_redis() {
  if port_open "$REDIS_PORT"; then reuse_or_die redis redis "$REDIS_PORT" INFRA_REDIS_PORT; return; fi
  install_redis
  mkdir -p "$CACHE/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
    --pidfile "$RUN/redis.pid" --dir "$CACHE/redis" --logfile "$LOGS/redis.log" \
    --appendonly yes --appendfsync everysec --save ""
  wait_for redis 20 redis-cli -p "$REDIS_PORT" ping
  say "redis started on 127.0.0.1:$REDIS_PORT (pid $(cat "$RUN/redis.pid"))"
}

kafka_java() { java -Dlog4j.configuration="file:$CACHE/kafka/log4j.properties" -cp "$KAFKA_LIBS/*" "$@"; }

start_kafka() {
  if port_open "$KAFKA_PORT"; then reuse_or_die kafka kafka "$KAFKA_PORT" INFRA_KAFKA_PORT; else
    install_kafka
    mkdir -p "$CACHE/kafka/data"
    cat >"$CACHE/kafka/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$CACHE/kafka/data
num.partitions=$KAFKA_PARTITIONS
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=24
log.segment.bytes=268435456
EOF
    write_kafka_log4j "$CACHE/kafka/log4j.properties" "$LOGS/kafka.log"
    if [ ! -f "$CACHE/kafka/data/meta.properties" ]; then
      kafka_java kafka.tools.StorageTool format -t "$(kafka_java kafka.tools.StorageTool random-uuid)" \
        -c "$CACHE/kafka/server.properties" >>"$LOGS/kafka-format.log" 2>&1 || die "could not format Kafka storage (see $LOGS/kafka-format.log)"
    fi
    # setsid: its own session, so the Ctrl+C of the terminal that started it (make demo's) does not
    # reach it; it stops when asked (stop/down), after the demo has counted its rows.
    setsid nohup java -Xms128m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
      -Dlog4j.configuration="file:$CACHE/kafka/log4j.properties" -cp "$KAFKA_LIBS/*" \
      kafka.Kafka "$CACHE/kafka/server.properties" >"$LOGS/kafka.out" 2>&1 &
    started kafka $!
    wait_for kafka 90 port_open "$KAFKA_PORT"
  fi
  # Creating the topic proves the broker takes requests; services create it too, idempotently.
  install_kafka
  kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --create --if-not-exists \
    --topic fleet-events --partitions "$KAFKA_PARTITIONS" --replication-factor 1 >>"$LOGS/kafka-topics.log" 2>&1 ||
    die "the broker on port $KAFKA_PORT refused to create fleet-events (see $LOGS/kafka-topics.log)"
  say "kafka ready on 127.0.0.1:$KAFKA_PORT, topic fleet-events"
}

start_postgres() {
  if port_open "$POSTGRES_PORT"; then reuse_or_die postgres postgres "$POSTGRES_PORT" INFRA_POSTGRES_PORT; return; fi
  install_postgres
  local bin; bin=$(pg_bindir)
  local data=$CACHE/postgres/data
  # PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user.
  local as=()
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$CACHE/postgres" postgres
    as=(runuser -u postgres --)
  fi
  mkdir -p "$CACHE/postgres"
  [ "$(id -u)" -eq 0 ] && chown postgres "$CACHE/postgres"
  if [ ! -f "$data/PG_VERSION" ]; then
    "${as[@]}" "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-locale >"$LOGS/postgres-initdb.log" 2>&1 ||
      die "initdb failed (see $LOGS/postgres-initdb.log)"
  fi
  touch "$LOGS/postgres.log"; [ "$(id -u)" -eq 0 ] && chown postgres "$LOGS/postgres.log"
  "${as[@]}" "$bin/pg_ctl" -D "$data" -l "$LOGS/postgres.log" -w -t 60 start \
    -o "-p $POSTGRES_PORT -c listen_addresses=127.0.0.1 -k /tmp -c fsync=off -c max_connections=200 -c shared_buffers=256MB" >/dev/null ||
    die "PostgreSQL did not start (see $LOGS/postgres.log)"
  head -n 1 "$data/postmaster.pid" >"$RUN/postgres.pid"
  wait_for postgres 30 "$bin/pg_isready" -h 127.0.0.1 -p "$POSTGRES_PORT"
  say "postgres started on 127.0.0.1:$POSTGRES_PORT (pid $(cat "$RUN/postgres.pid"))"
}

start_embedded_db() {
  if port_open "$EMBEDDED_DB_PORT"; then reuse_or_die "embedded TimescaleDB" postgres "$EMBEDDED_DB_PORT" EMBEDDED_DB_PORT; return; fi
  local server=$ROOT/common/dist/src/embedded-db/server.js
  [ -f "$server" ] || die "the embedded database is not built; run: npm ci && npm run build"
  EMBEDDED_DB_DIR=$CACHE/embedded-timescaledb EMBEDDED_DB_PORT=$EMBEDDED_DB_PORT \
    setsid nohup node "$server" >"$LOGS/embedded-timescaledb.log" 2>&1 &
  started embedded-timescaledb $!
  wait_for "embedded TimescaleDB" 60 port_open "$EMBEDDED_DB_PORT"
  say "embedded TimescaleDB ready on 127.0.0.1:$EMBEDDED_DB_PORT"
}

stop_one() {
  local pidfile=$1 name; name=$(basename "$pidfile" .pid)
  local pid; pid=$(cat "$pidfile" 2>/dev/null || true)
  # PostgreSQL's SIGTERM waits for clients to leave; SIGINT is its fast, clean shutdown.
  local signal=TERM; [ "$name" = postgres ] && signal=INT
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -"$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { say "$name did not stop in 20s; killing"; kill -KILL "$pid" 2>/dev/null || true; }
    say "$name stopped"
  fi
  rm -f "$pidfile"
}

status() {
  local name port
  for pair in "redis:$REDIS_PORT" "kafka:$KAFKA_PORT" "postgres:$POSTGRES_PORT" "embedded-timescaledb:$EMBEDDED_DB_PORT"; do
    name=${pair%%:*}; port=${pair##*:}
    if port_open "$port"; then
      if [ -f "$RUN/$name.pid" ]; then echo "$name: up on $port (started by infra, pid $(cat "$RUN/$name.pid"))"
      else echo "$name: up on $port (not ours)"; fi
    else echo "$name: down"; fi
  done
}

mkdir -p "$RUN" "$LOGS"
cmd=${1:-}; shift || true
case "$cmd" in
  up)
    with_postgres=false; with_embedded=true; with_cluster=false
    for arg in "$@"; do
      case "$arg" in
        --postgres) with_postgres=true ;;
        --no-embedded-db) with_embedded=false ;;
        --cluster) with_cluster=true ;;
        *) die "unknown option $arg" ;;
      esac
    done
    start_redis
    start_kafka
    $with_postgres && start_postgres
    $with_embedded && start_embedded_db
    # Three Kafka nodes, Redis with Sentinel, HAProxy: beside the single servers (infra/cluster/README.md).
    if $with_cluster; then bash "$ROOT/infra/cluster.sh" up; fi
    say "ready. Stop with: make down"
    ;;
  down)
    for pidfile in "$RUN"/*.pid; do [ -e "$pidfile" ] && stop_one "$pidfile"; done
    if [ -d "${INFRA_CLUSTER_DIR:-$CACHE/cluster}/run" ]; then bash "$ROOT/infra/cluster.sh" down; fi
    ;;
  stop)
    for name in "$@"; do [ -e "$RUN/$name.pid" ] && stop_one "$RUN/$name.pid"; done
    ;;
  status)
    status
    if [ -d "${INFRA_CLUSTER_DIR:-$CACHE/cluster}/run" ]; then echo "cluster (infra/cluster.sh):"; bash "$ROOT/infra/cluster.sh" status | sed 's/^/  /'; fi
    ;;
  install)
    install_redis; install_kafka; install_postgres
    # docker-compose only parses docker-compose.yml in the tests; it needs no engine.
    command -v docker-compose >/dev/null || apt_install docker-compose
    # The live-ops CLI's end-to-end test reads its screen in a real terminal.
    command -v tmux >/dev/null || apt_install tmux
    # The live web map's browser tests and bench drive Debian's Chromium (playwright-core, no download).
    command -v chromium >/dev/null || apt_install chromium
    # make certs, the demo's TLS and the security tests make their certificates with openssl.
    command -v openssl >/dev/null || apt_install openssl
    # The cluster layout's balancer (infra/cluster.sh); its configuration is checked in the tests.
    command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || apt_install haproxy
    ;;
  *) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
