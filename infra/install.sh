# Prerequisites shared by infra/infra.sh and infra/cluster.sh, each named with the command that
# installs it. Sourced: the caller defines say, die, ROOT, LOGS and KAFKA_LIBS.

apt_install() { # apt_install PACKAGE...: installs Debian packages, or says how to.
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    die "missing: $*. Install with: sudo apt-get install -y $*"
  fi
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  say "installing Debian packages: $*"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@"; } >"$LOGS/apt.log" 2>&1; then
    die "could not install $* (see $LOGS/apt.log). Install with: sudo apt-get install -y $*"
  fi
}

install_redis() { command -v redis-server >/dev/null || apt_install redis-server; }
install_java() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
}
# The Apache Kafka jars from Maven Central; the folder is current when it was resolved from this very pom.
install_kafka() {
  install_java
  local stamp; stamp=$(sha256sum "$ROOT/infra/kafka/pom.xml" | cut -c1-16)
  if [ "$(cat "$KAFKA_LIBS/.pom-stamp" 2>/dev/null)" != "$stamp" ]; then
    say "resolving Apache Kafka from Maven Central into $KAFKA_LIBS"
    rm -rf "$KAFKA_LIBS"
    mvn -q -B -f "$ROOT/infra/kafka/pom.xml" package -Dkafka.libs="$KAFKA_LIBS" >"$LOGS/maven.log" 2>&1 ||
      die "Maven could not resolve Kafka (see $LOGS/maven.log)"
    echo "$stamp" >"$KAFKA_LIBS/.pom-stamp"
  fi
}

# write_kafka_log4j FILE LOG: a Kafka node's log4j settings, its log rolled in LOG (20 MB × 3).
write_kafka_log4j() {
  cat >"$1" <<LOG4J
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$2
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
LOG4J
}
