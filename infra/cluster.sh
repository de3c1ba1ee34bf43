#!/usr/bin/env bash
# The cluster layout (issue 20) without Docker, beside the single servers of infra/infra.sh: three
# Apache Kafka KRaft nodes (broker and controller each, a 3-voter quorum, the same Maven jars),
# Redis with failover (a primary, a replica, three Sentinels; Debian's redis-server) and HAProxy
# (Debian's) in front of N ingestion instances for gRPC. It does not start the ingestions; `env`
# prints what they need. Ports, variables and figures: infra/cluster/README.md.
#
#   infra/cluster.sh up [kafka] [redis] [haproxy]   start what is not already answering (all three by default)
#   infra/cluster.sh down                           stop what `up` started (the single servers stay)
#   infra/cluster.sh status                         each node: up/down, pid, port, role, partitions it leads
#   infra/cluster.sh kill NODE...                   SIGKILL (a crash); NODE: kafka-1..3, redis-1, redis-2,
#                                                   sentinel-1..3, haproxy, or kafka-leader (leads the most
#                                                   fleet-events partitions) and redis-primary (Sentinel's)
#   infra/cluster.sh stop NODE... | start NODE...   stop (SIGTERM) / start again (same data, same ports)
#   infra/cluster.sh restart NODE...                stop then start (restart haproxy: every stream cut; a Kafka
#                                                   node: returns once it is back in every ISR)
#   infra/cluster.sh reload haproxy                 new configuration, old streams kept (up to 30 s)
#   infra/cluster.sh quorum                         the controllers' quorum: leader, followers' lag
#   infra/cluster.sh rebalance                      each partition back to its preferred leader (after a restart)
#   infra/cluster.sh env                            the variables GreenLane programs need (also in .cache/cluster/env)
#   infra/cluster.sh haproxy-config                 print the generated haproxy.cfg
#   infra/cluster.sh install                        haproxy, redis-server, Java, the Kafka jars
#
# Start is idempotent: a node already answering on its port is reused and left alone by `down`.
# Data, configuration, pid files and logs live in $INFRA_CLUSTER_DIR (default .cache/cluster/).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${GREENLANE_CACHE:-$ROOT/.cache}
CL=${INFRA_CLUSTER_DIR:-$CACHE/cluster}
RUN=$CL/run
LOGS=$CL/logs
KAFKA_LIBS=${KAFKA_LIBS:-$CACHE/kafka/libs}
ADMIN=$ROOT/infra/cluster/admin.mjs

# Three nodes: node i (1..3) listens on the base port + i - 1.
KAFKA_PORT=${INFRA_CLUSTER_KAFKA_PORT:-22092}
CONTROLLER_PORT=${INFRA_CLUSTER_KAFKA_CONTROLLER_PORT:-22192}
KAFKA_HEAP=${INFRA_CLUSTER_KAFKA_HEAP:-384m}
# More JVM options for each node (the test: -XX:TieredStopAtLevel=1, a faster start on a busy machine).
KAFKA_OPTS=${INFRA_CLUSTER_KAFKA_OPTS:-}
KAFKA_PARTITIONS=${KAFKA_PARTITIONS:-6}
# A node that stops heartbeating is fenced (its partitions led elsewhere, it leaves every ISR)
# after this long; Kafka's default is 9000.
KAFKA_SESSION_MS=${INFRA_CLUSTER_KAFKA_SESSION_MS:-2000}
# The controllers' Raft: a follower that hears nothing from the active controller for this long
# stands for election (Kafka's default 2000), and waits up to this long for votes (1000).
QUORUM_FETCH_MS=${INFRA_CLUSTER_KAFKA_QUORUM_FETCH_MS:-1000}
QUORUM_ELECTION_MS=${INFRA_CLUSTER_KAFKA_QUORUM_ELECTION_MS:-500}
TOPIC=fleet-events
# Redis: the primary at start on the port, the replica on port + 1; Sentinel i on its port + i - 1.
REDIS_PORT=${INFRA_CLUSTER_REDIS_PORT:-26380}
SENTINEL_PORT=${INFRA_CLUSTER_SENTINEL_PORT:-26479}
MASTER=${INFRA_CLUSTER_REDIS_MASTER:-greenlane}
DOWN_MS=${INFRA_CLUSTER_SENTINEL_DOWN_MS:-2000}
FAILOVER_MS=${INFRA_CLUSTER_SENTINEL_FAILOVER_MS:-10000}
# HAProxy: the cars' gRPC port, its stats page, and the ingestion instances behind it.
GRPC_PORT=${INFRA_CLUSTER_GRPC_PORT:-50061}
STATS_PORT=${INFRA_CLUSTER_HAPROXY_STATS_PORT:-9470}
BIND=${INFRA_CLUSTER_BIND:-127.0.0.1}
INGESTIONS=${INFRA_CLUSTER_INGESTIONS:-3}
ING_GRPC_PORT=${INFRA_CLUSTER_INGESTION_GRPC_PORT:-50071}
ING_OPS_PORT=${INFRA_CLUSTER_INGESTION_OPS_PORT:-9471}
# Or the instances listed: host:grpc-port:ops-port,... (compose: ingestion-1:50051:9464,...).
ING_BACKENDS=${INFRA_CLUSTER_INGESTION_BACKENDS:-}

say() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# alive PID: the process exists and is not a zombie (nothing may reap what setsid left behind).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}
pid_of() { cat "$RUN/$1.pid" 2>/dev/null || true; }
running() { local pid; pid=$(pid_of "$1"); [ -n "$pid" ] && alive "$pid"; }

wait_for() { # wait_for NAME SECONDS COMMAND...
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then die "$name did not answer within ${seconds}s; see $LOGS/"; fi
    sleep 0.3
  done
}

# wait_up NAME PORT SECONDS LOG: the node NAME answers on PORT, or has died (its log's last lines said).
wait_up() {
  local name=$1 port=$2 seconds=$3 log=$4
  local deadline=$((SECONDS + seconds))
  until port_open "$port"; do
    if ! running "$name"; then die "$name exited at start; the end of $log:
$(tail -n 5 "$log" 2>/dev/null)"; fi
    if ((SECONDS >= deadline)); then die "$name did not answer on $port within ${seconds}s; see $log"; fi
    sleep 0.3
  done
}

# reuse_or_die NAME KIND PORT VARIABLE: what answers on PORT is reused only when it speaks KIND.
reuse_or_die() {
  local name=$1 kind=$2 port=$3 variable=$4
  if running "$name" && node "$ROOT/infra/ports.mjs" probe "$kind" "$port"; then say "$name: already running (pid $(pid_of "$name"), port $port)"; return; fi
  if node "$ROOT/infra/ports.mjs" probe "$kind" "$port"; then say "$name: reusing the server on port $port"; return; fi
  die "port $port ($name) is taken by $(node "$ROOT/infra/ports.mjs" holder "$port" || echo 'a program that closed it meanwhile'), which does not answer as $name. Stop that program, or set $variable to other ports"
}

# apt_install, install_redis, install_java, install_kafka (the same jars as the single broker).
source "$ROOT/infra/install.sh"
install_haproxy() { command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || apt_install haproxy; }
haproxy_bin() { command -v haproxy || echo /usr/sbin/haproxy; }

# ---- Kafka ------------------------------------------------------------------------------------

kafka_port() { echo $((KAFKA_PORT + $1 - 1)); }
controller_port() { echo $((CONTROLLER_PORT + $1 - 1)); }
brokers() { local i out=""; for i in 1 2 3; do out+="${out:+,}127.0.0.1:$(kafka_port "$i")"; done; echo "$out"; }
voters() { local i out=""; for i in 1 2 3; do out+="${out:+,}$i@127.0.0.1:$(controller_port "$i")"; done; echo "$out"; }

kafka_tool() { # the Kafka command-line tools, warnings to stderr
  java -Xmx256m -Dlog4j.configuration="file:$CL/kafka/tools-log4j.properties" -cp "$KAFKA_LIBS/*" "$@"
}

kafka_configure() { # kafka_configure I: server.properties and log4j of node I
  local i=$1 dir=$CL/kafka-$i
  mkdir -p "$dir/data" "$CL/kafka"
  cat >"$dir/server.properties" <<EOF
# Generated by infra/cluster.sh: node $i of 3, broker and controller.
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://127.0.0.1:$(kafka_port "$i"),CONTROLLER://127.0.0.1:$(controller_port "$i")
advertised.listeners=PLAINTEXT://127.0.0.1:$(kafka_port "$i")
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=$KAFKA_PARTITIONS
# Every topic on three nodes; a write with acks=all needs two of them; no unclean leader.
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
# Failover: a silent node is fenced after broker.session.timeout.ms, which also removes it from
# every ISR; a follower that is up but stuck leaves the ISR after replica.lag.time.max.ms. When the
# node was the active controller, the others first elect one (quorum fetch and election timeouts).
broker.heartbeat.interval.ms=500
controller.quorum.fetch.timeout.ms=$QUORUM_FETCH_MS
controller.quorum.election.timeout.ms=$QUORUM_ELECTION_MS
broker.session.timeout.ms=$KAFKA_SESSION_MS
replica.lag.time.max.ms=10000
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.io.threads=4
num.network.threads=2
log.retention.hours=24
log.segment.bytes=268435456
EOF
  write_kafka_log4j "$dir/log4j.properties" "$LOGS/kafka-$i.log"
  cat >"$CL/kafka/tools-log4j.properties" <<EOF
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=%p %m%n
EOF
}

# start_kafka_node I: starts node I unless it answers already; does not wait for it.
start_kafka_node() {
  local i=$1 port; port=$(kafka_port "$i")
  if port_open "$port"; then reuse_or_die "kafka-$i" kafka "$port" INFRA_CLUSTER_KAFKA_PORT; return; fi
  if port_open "$(controller_port "$i")"; then
    die "port $(controller_port "$i") (controller of kafka-$i) is taken by $(node "$ROOT/infra/ports.mjs" holder "$(controller_port "$i")" || echo '?'); set INFRA_CLUSTER_KAFKA_CONTROLLER_PORT"
  fi
  running "kafka-$i" && die "kafka-$i (pid $(pid_of "kafka-$i")) runs but does not answer on $port yet; wait, or: infra/cluster.sh kill kafka-$i"
  install_kafka
  kafka_configure "$i"
  local dir=$CL/kafka-$i
  if [ ! -f "$dir/data/meta.properties" ]; then
    # One cluster id for the three nodes, made once.
    [ -s "$CL/kafka/cluster-id" ] || kafka_tool kafka.tools.StorageTool random-uuid >"$CL/kafka/cluster-id"
    kafka_tool kafka.tools.StorageTool format -t "$(cat "$CL/kafka/cluster-id")" -c "$dir/server.properties" \
      >>"$LOGS/kafka-format.log" 2>&1 || die "could not format the storage of kafka-$i (see $LOGS/kafka-format.log)"
  fi
  # setsid: its own session and process group (a terminal's Ctrl+C does not reach it; kill takes the group).
  # shellcheck disable=SC2086 # KAFKA_OPTS: words
  setsid nohup java -Xms128m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true $KAFKA_OPTS \
    -Dlog4j.configuration="file:$dir/log4j.properties" -cp "$KAFKA_LIBS/*" \
    kafka.Kafka "$dir/server.properties" >"$LOGS/kafka-$i.out" 2>&1 &
  echo $! >"$RUN/kafka-$i.pid"
  say "kafka-$i started (pid $!, port $port, controller $(controller_port "$i"))"
}

# quorum: the controllers' Raft quorum in one line (leader, each follower's lag and last fetch).
quorum() {
  local i any=false; for i in 1 2 3; do port_open "$(kafka_port "$i")" && any=true; done
  $any || return 1
  local out; out=$(timeout 20 java -Xmx256m -Dlog4j.configuration="file:$CL/kafka/tools-log4j.properties" -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$(brokers)" describe --replication 2>/dev/null) || return 1
  awk -v now="$(date +%s%3N)" '
    $1 ~ /^[0-9]+$/ {
      if ($7 == "Leader") leader = "kafka-" $1
      else { ago = int((now - $5) / 1000); f = f (f ? ", " : "") "kafka-" $1 " (lag " $4 (ago > 2 ? ", silent " ago "s" : "") ")" }
      n++
    }
    END { if (!leader) exit 1; printf "controller quorum of %d voters: leader %s, followers %s\n", n, leader, f }' <<<"$out"
}

# rebalance: every partition back to its preferred leader (the brokers do it by themselves
# every 5 minutes, leader.imbalance.check.interval.seconds).
rebalance() {
  kafka_tool org.apache.kafka.tools.LeaderElectionCommand --bootstrap-server "$(brokers)" --election-type PREFERRED \
    --all-topic-partitions >>"$LOGS/kafka-election.log" 2>&1 || true
}

up_kafka() {
  local i
  for i in 1 2 3; do start_kafka_node "$i"; done
  for i in 1 2 3; do wait_up "kafka-$i" "$(kafka_port "$i")" 120 "$LOGS/kafka-$i.out"; done
  # The quorum elected, the three brokers registered, fleet-events replicated three times.
  node "$ADMIN" kafka-ready "$(brokers)" "$TOPIC" "$KAFKA_PARTITIONS" 120 >&2 ||
    die "the Kafka cluster did not become ready (see $LOGS/kafka-*.log)"
  # The node that came up first leads everything: spread the leaders over the three.
  rebalance
  say "kafka cluster ready on $(brokers)"
}

# ---- Redis and Sentinel -----------------------------------------------------------------------

redis_port() { echo $((REDIS_PORT + $1 - 1)); }
sentinel_port() { echo $((SENTINEL_PORT + $1 - 1)); }
sentinels() { local i out=""; for i in 1 2 3; do out+="${out:+,}127.0.0.1:$(sentinel_port "$i")"; done; echo "$out"; }

# The configuration files are written once: Redis and Sentinel rewrite them (who replicates whom
# after a failover), so a node started again follows the last failover. New settings start afresh.
redis_configure() {
  local settings="ports $REDIS_PORT $SENTINEL_PORT master $MASTER down $DOWN_MS failover $FAILOVER_MS"
  local dir=$CL/redis
  if [ "$(cat "$dir/settings" 2>/dev/null)" = "$settings" ]; then return; fi
  local n
  for n in redis-1 redis-2 sentinel-1 sentinel-2 sentinel-3; do
    running "$n" && die "$n runs with other settings than $settings; stop it first: infra/cluster.sh down"
  done
  mkdir -p "$dir"
  local i
  for i in 1 2; do
    mkdir -p "$dir/redis-$i"
    cat >"$dir/redis-$i.conf" <<EOF
# Generated by infra/cluster.sh; Redis and Sentinel rewrite it (replicaof after a failover).
port $(redis_port "$i")
bind 127.0.0.1
daemonize yes
pidfile $RUN/redis-$i.pid
logfile $LOGS/redis-$i.log
dir $dir/redis-$i
appendonly yes
appendfsync everysec
save ""
EOF
    if [ "$i" = 2 ]; then echo "replicaof 127.0.0.1 $(redis_port 1)" >>"$dir/redis-$i.conf"; fi
  done
  for i in 1 2 3; do
    mkdir -p "$dir/sentinel-$i"
    cat >"$dir/sentinel-$i.conf" <<EOF
# Generated by infra/cluster.sh; Sentinel rewrites it (the current primary, the other Sentinels).
port $(sentinel_port "$i")
bind 127.0.0.1
daemonize yes
pidfile $RUN/sentinel-$i.pid
logfile $LOGS/sentinel-$i.log
dir $dir/sentinel-$i
sentinel monitor $MASTER 127.0.0.1 $(redis_port 1) 2
sentinel down-after-milliseconds $MASTER $DOWN_MS
sentinel failover-timeout $MASTER $FAILOVER_MS
sentinel parallel-syncs $MASTER 1
EOF
  done
  echo "$settings" >"$dir/settings"
}

start_redis_node() {
  local i=$1 port; port=$(redis_port "$i")
  if port_open "$port"; then reuse_or_die "redis-$i" redis "$port" INFRA_CLUSTER_REDIS_PORT; return; fi
  redis-server "$CL/redis/redis-$i.conf" || die "redis-$i did not start (see $LOGS/redis-$i.log)"
  wait_for "redis-$i" 20 redis-cli -p "$port" ping
  say "redis-$i started (pid $(pid_of "redis-$i"), port $port)"
}

start_sentinel() {
  local i=$1 port; port=$(sentinel_port "$i")
  if port_open "$port"; then reuse_or_die "sentinel-$i" redis "$port" INFRA_CLUSTER_SENTINEL_PORT; return; fi
  redis-server "$CL/redis/sentinel-$i.conf" --sentinel || die "sentinel-$i did not start (see $LOGS/sentinel-$i.log)"
  wait_for "sentinel-$i" 20 redis-cli -p "$port" ping
  say "sentinel-$i started (pid $(pid_of "sentinel-$i"), port $port)"
}

# The primary's port as Sentinel sees it (the first Sentinel that answers).
primary_port() {
  local i answer
  for i in 1 2 3; do
    answer=$(redis-cli -p "$(sentinel_port "$i")" sentinel get-master-addr-by-name "$MASTER" 2>/dev/null | sed -n 2p) || continue
    [ -n "$answer" ] && { echo "$answer"; return; }
  done
  return 1
}

sentinels_agree() { # the three Sentinels know the replica and each other
  local i
  for i in 1 2 3; do
    local info; info=$(redis-cli -p "$(sentinel_port "$i")" sentinel master "$MASTER" 2>/dev/null | tr '\n' ' ')
    [[ "$info" =~ num-slaves\ 1\  ]] && [[ "$info" =~ num-other-sentinels\ 2\  ]] || return 1
  done
}

replica_linked() { # the node that is not the primary replicates it
  local primary; primary=$(primary_port) || return 1
  local i; for i in 1 2; do
    [ "$(redis_port "$i")" = "$primary" ] && continue
    redis-cli -p "$(redis_port "$i")" info replication | tr -d '\r' | grep -qx 'master_link_status:up' || return 1
  done
}

up_redis() {
  install_redis
  redis_configure
  local i
  for i in 1 2; do start_redis_node "$i"; done
  for i in 1 2 3; do start_sentinel "$i"; done
  wait_for "the Sentinels (each seeing the replica and the two others)" 30 sentinels_agree
  wait_for "the replica's link to the primary" 30 replica_linked
  say "redis ready: primary 127.0.0.1:$(primary_port), Sentinels $(sentinels) (master name $MASTER)"
}

# ---- HAProxy ----------------------------------------------------------------------------------

backends() { # one "host:grpc:ops" a line
  if [ -n "$ING_BACKENDS" ]; then tr ',' '\n' <<<"$ING_BACKENDS"; return; fi
  local i
  for ((i = 0; i < INGESTIONS; i++)); do echo "127.0.0.1:$((ING_GRPC_PORT + i)):$((ING_OPS_PORT + i))"; done
}

haproxy_config() {
  local resolver=${INFRA_CLUSTER_HAPROXY_RESOLVER:-} resolvers=""
  [ -n "$resolver" ] && resolvers="resolvers dns"
  sed -e "s|@STATS_BIND@|$BIND:$STATS_PORT|" -e "s|@GRPC_BIND@|$BIND:$GRPC_PORT|" -e "s| @RESOLVERS@|${resolvers:+ $resolvers}|" \
    "$ROOT/infra/cluster/haproxy.cfg.head"
  local n=0 line host grpc ops
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    IFS=: read -r host grpc ops <<<"$line"
    n=$((n + 1))
    echo "    server ingestion-$n $host:$grpc proto h2 check port $ops check-proto h1"
  done < <(backends)
  if [ -n "$resolver" ]; then
    printf '\n# Names of the instances resolved again while running (containers come back on new addresses).\nresolvers dns\n    nameserver dns %s\n    hold valid 5s\n' "$resolver"
  fi
}

start_haproxy() {
  if port_open "$GRPC_PORT"; then
    if running haproxy; then say "haproxy: already running (pid $(pid_of haproxy))"; return; fi
    die "port $GRPC_PORT (the balancer's gRPC port) is taken by $(node "$ROOT/infra/ports.mjs" holder "$GRPC_PORT" || echo '?'); set INFRA_CLUSTER_GRPC_PORT"
  fi
  port_open "$STATS_PORT" && die "port $STATS_PORT (HAProxy's stats) is taken by $(node "$ROOT/infra/ports.mjs" holder "$STATS_PORT" || echo '?'); set INFRA_CLUSTER_HAPROXY_STATS_PORT"
  install_haproxy
  mkdir -p "$CL/haproxy"
  haproxy_config >"$CL/haproxy/haproxy.cfg"
  "$(haproxy_bin)" -c -q -f "$CL/haproxy/haproxy.cfg" >"$LOGS/haproxy-check.log" 2>&1 ||
    die "the generated haproxy.cfg is refused (see $LOGS/haproxy-check.log and $CL/haproxy/haproxy.cfg)"
  # -W: master and worker (SIGUSR2 reloads); -db: in the foreground of its own session, logging to its log.
  setsid nohup "$(haproxy_bin)" -W -db -f "$CL/haproxy/haproxy.cfg" >>"$LOGS/haproxy.log" 2>&1 &
  echo $! >"$RUN/haproxy.pid"
  wait_up haproxy "$GRPC_PORT" 20 "$LOGS/haproxy.log"
  wait_up haproxy "$STATS_PORT" 20 "$LOGS/haproxy.log"
  say "haproxy started (pid $!): gRPC on $BIND:$GRPC_PORT to $(backends | wc -l) ingestions, stats http://$BIND:$STATS_PORT/stats"
}

reload_haproxy() {
  running haproxy || die "haproxy is not running (infra/cluster.sh start haproxy)"
  haproxy_config >"$CL/haproxy/haproxy.cfg"
  "$(haproxy_bin)" -c -q -f "$CL/haproxy/haproxy.cfg" >"$LOGS/haproxy-check.log" 2>&1 ||
    die "the generated haproxy.cfg is refused (see $LOGS/haproxy-check.log)"
  kill -USR2 "$(pid_of haproxy)"
  say "haproxy reloading (pid $(pid_of haproxy)): new streams by the new configuration"
}

# ---- nodes by name ----------------------------------------------------------------------------

ALL_NODES=(haproxy sentinel-1 sentinel-2 sentinel-3 redis-2 redis-1 kafka-3 kafka-2 kafka-1)

# resolve NAME: kafka-leader and redis-primary name the node that holds the role now.
resolve() {
  case "$1" in
    kafka-leader)
      local id; id=$(node "$ADMIN" kafka-leader-most "$(brokers)" "$TOPIC") || die "no Kafka node answers for $TOPIC"
      echo "kafka-$id" ;;
    redis-primary)
      local port; port=$(primary_port) || die "no Sentinel answers"
      case "$port" in "$(redis_port 1)") echo redis-1 ;; "$(redis_port 2)") echo redis-2 ;; *) die "the primary is on $port, not a node of this cluster" ;; esac ;;
    kafka-[123] | redis-[12] | sentinel-[123] | haproxy) echo "$1" ;;
    *) die "unknown node $1 (kafka-1..3, redis-1, redis-2, sentinel-1..3, haproxy, kafka-leader, redis-primary)" ;;
  esac
}

start_node() {
  case "$1" in
    kafka-*) start_kafka_node "${1#kafka-}"; wait_up "$1" "$(kafka_port "${1#kafka-}")" 120 "$LOGS/$1.out" ;;
    redis-*) install_redis; redis_configure; start_redis_node "${1#redis-}" ;;
    sentinel-*) install_redis; redis_configure; start_sentinel "${1#sentinel-}" ;;
    haproxy) start_haproxy ;;
  esac
}

stop_node() { # stop_node NAME [SECONDS]: SIGTERM, then SIGKILL after SECONDS (20)
  local name=$1 grace=${2:-20} pid; pid=$(pid_of "$1")
  if [ -n "$pid" ] && alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((grace * 5))); do alive "$pid" || break; sleep 0.2; done
    alive "$pid" && { say "$name did not stop in ${grace}s; killing"; kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; }
    say "$name stopped"
  fi
  rm -f "$RUN/$name.pid"
}

kill_node() { # SIGKILL of its process group (HAProxy's master and workers, the JVM), like a crash
  local name=$1 pid; pid=$(pid_of "$1")
  if [ -z "$pid" ] || ! alive "$pid"; then say "$name is not running"; return; fi
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
  # The pid file stays: `start` brings the node back with the same data; `down` skips a dead pid.
  say "$name killed (pid $pid, SIGKILL)"
}

# ---- status and env ---------------------------------------------------------------------------

node_line() { # node_line NAME PORT DETAIL
  local name=$1 port=$2 detail=$3
  if port_open "$port"; then
    if running "$name"; then echo "$name: up on $port (pid $(pid_of "$name"))${detail:+, $detail}"
    else echo "$name: up on $port (not started by cluster.sh)${detail:+, $detail}"; fi
  elif [ -n "$(pid_of "$name")" ] && ! running "$name"; then echo "$name: down (pid $(pid_of "$name") gone; start with: infra/cluster.sh start $name)"
  else echo "$name: down"; fi
}

status() {
  if [ ! -d "$RUN" ] || [ -z "$(ls "$RUN" 2>/dev/null)" ]; then
    local any=false i
    for i in 1 2 3; do port_open "$(kafka_port "$i")" && any=true; done
    port_open "$(redis_port 1)" && any=true
    $any || { echo "cluster: not running (start with: make up CLUSTER=1)"; return; }
  fi
  # Kafka: which partitions of fleet-events each node leads.
  local i leaders="" summary="" kafka_any=false
  for i in 1 2 3; do port_open "$(kafka_port "$i")" && kafka_any=true; done
  if $kafka_any && leaders=$(timeout 15 node "$ADMIN" kafka-leaders "$(brokers)" "$TOPIC" 2>/dev/null); then
    summary=$(sed -n 's/^summary //p' <<<"$leaders")
  fi
  for i in 1 2 3; do
    local led; led=$(awk -v n="$i" '$1 == "leads" && $2 == n {print $3}' <<<"$leaders")
    local detail="controller $(controller_port "$i")"
    port_open "$(kafka_port "$i")" && detail+=", leads $TOPIC ${led:-nothing}"
    node_line "kafka-$i" "$(kafka_port "$i")" "$detail"
  done
  echo "kafka: ${summary:-no broker answers for $TOPIC}"
  if $kafka_any; then echo "kafka: $(quorum || echo 'controller quorum: no answer')"; fi
  # Redis: who is primary, as each node and the Sentinels see it.
  for i in 1 2; do
    local port role=""; port=$(redis_port "$i")
    if port_open "$port"; then
      local info; info=$(redis-cli -p "$port" info replication 2>/dev/null | tr -d '\r')
      case "$(sed -n 's/^role://p' <<<"$info")" in
        master) role="primary, $(sed -n 's/^connected_slaves://p' <<<"$info") replica(s)" ;;
        slave) role="replica of $(sed -n 's/^master_host://p' <<<"$info"):$(sed -n 's/^master_port://p' <<<"$info"), link $(sed -n 's/^master_link_status://p' <<<"$info")" ;;
      esac
    fi
    node_line "redis-$i" "$port" "$role"
  done
  for i in 1 2 3; do
    local port seen=""; port=$(sentinel_port "$i")
    port_open "$port" && seen="primary $(redis-cli -p "$port" sentinel get-master-addr-by-name "$MASTER" 2>/dev/null | paste -sd:)"
    node_line "sentinel-$i" "$port" "$seen"
  done
  # HAProxy and the instances behind it.
  node_line haproxy "$GRPC_PORT" "stats http://$BIND:$STATS_PORT/stats"
  if port_open "$STATS_PORT"; then
    node "$ADMIN" haproxy "$STATS_PORT" 2>/dev/null | sed 's/^/  /' || true
  fi
}

env_text() {
  local n=0 line host grpc ops
  cat <<EOF
# The cluster of infra/cluster.sh: what a GreenLane program needs to use it.
KAFKA_BROKERS=$(brokers)
# Topics the services create (no replication factor given) get the brokers' default.replication.factor=3
# and min.insync.replicas=2; KAFKA_REPLICATION_FACTOR is for a service that asks for one explicitly.
KAFKA_REPLICATION_FACTOR=3
# Redis through the Sentinels (common/src/redis-sentinel.ts): follows a failover by itself.
REDIS_URL=redis-sentinel://$(sentinels)#$MASTER
# Or the primary at start, for a client without Sentinel support (it follows no failover):
# REDIS_URL=redis://127.0.0.1:$(redis_port 1)
# Cars connect to the balancer (the simulator's --target):
INGESTION_TARGET=$BIND:$GRPC_PORT
# Each ingestion instance behind it (all cars arrive from HAProxy's address: no per-address stream limit):
EOF
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    IFS=: read -r host grpc ops <<<"$line"
    n=$((n + 1))
    echo "# ingestion-$n: INGESTION_ADDR=$host:$grpc INGESTION_HTTP_ADDR=$host:$ops INGESTION_INSTANCE_ID=ingestion-$n INGESTION_STREAM_RATE=0"
  done < <(backends)
}

write_env() { env_text >"$CL/env"; say "variables for the services in $CL/env (infra/cluster.sh env)"; }

# ---- commands ---------------------------------------------------------------------------------

mkdir -p "$RUN" "$LOGS"
cmd=${1:-}; shift || true
case "$cmd" in
  up)
    parts=("$@"); [ ${#parts[@]} -eq 0 ] && parts=(kafka redis haproxy)
    started_at=$SECONDS
    for part in "${parts[@]}"; do
      case "$part" in
        kafka) up_kafka ;;
        redis) up_redis ;;
        haproxy) start_haproxy ;;
        *) die "unknown part $part (kafka, redis, haproxy)" ;;
      esac
    done
    write_env
    say "cluster ready in $((SECONDS - started_at))s (${parts[*]}). Status: infra/cluster.sh status; stop: make down"
    ;;
  down)
    # HAProxy first, then Redis, then the three Kafka nodes at once (one by one, the last ones
    # would wait for a quorum that is gone).
    for name in haproxy sentinel-1 sentinel-2 sentinel-3 redis-2 redis-1; do
      if [ -e "$RUN/$name.pid" ]; then stop_node "$name"; fi
    done
    # Without a quorum (one node left) a node's controlled shutdown waits for nothing: 5 s, then SIGKILL.
    pids=() grace=20 up=0
    for name in kafka-1 kafka-2 kafka-3; do running "$name" && up=$((up + 1)); done
    [ "$up" -lt 2 ] && grace=5
    for name in kafka-1 kafka-2 kafka-3; do
      if [ -e "$RUN/$name.pid" ]; then stop_node "$name" "$grace" & pids+=($!); fi
    done
    for pid in "${pids[@]}"; do wait "$pid" || true; done
    ;;
  stop | kill | start | restart)
    [ $# -gt 0 ] || die "$cmd what? (kafka-1..3, redis-1, redis-2, sentinel-1..3, haproxy, kafka-leader, redis-primary)"
    for name in "$@"; do
      node=$(resolve "$name") || exit 1
      case "$cmd" in
        stop) stop_node "$node" ;;
        kill) kill_node "$node" ;;
        start) start_node "$node" ;;
        restart)
          stop_node "$node"; start_node "$node"
          # A rolling restart of Kafka: the next node only once this one is back in every ISR.
          if [[ "$node" == kafka-* ]]; then wait_for "$node back in every ISR" 180 node "$ADMIN" kafka-in-sync "$(brokers)"; fi ;;
      esac
    done ;;
  reload)
    [ "${1:-}" = haproxy ] || die "only haproxy reloads"; reload_haproxy ;;
  status) status ;;
  quorum) quorum ;;
  rebalance) rebalance; say "preferred leaders elected" ;;
  env) env_text ;;
  haproxy-config) haproxy_config ;;
  install) install_redis; install_haproxy; install_kafka ;;
  *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 2 ;;
esac
