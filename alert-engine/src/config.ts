/**
 * The alert engine's settings, from the environment, validated at start: a bad value stops the
 * program with exit 2 and a message naming the variable (common/src/config.ts).
 */
import {
  ConfigError, DEFAULTS, TOPICS, databaseTarget, envBool, envHostPort, envHostPortList, envInt, envNumber, envOptional, envSchema, envString, envUrl,
  type DatabaseTarget,
  envRedisUrl,
} from '@greenlane/common';
import { OPERATOR_AUTH_ENVIRONMENT, readOperatorAuth, type OperatorAuthSettings } from '@greenlane/common/operator-auth';

export interface RuleThresholds {
  /** battery_low raises (warning) below this percentage. */
  batteryLowPct: number;
  /** battery_low escalates to critical below this percentage. */
  batteryCriticalPct: number;
  /** Percentage points above a threshold the battery must reach to clear / de-escalate (no flapping around it). */
  batteryHysteresisPct: number;
  overspeedKmh: number;
  overspeedSeconds: number;
  stallMinutes: number;
  /** Distance outside the polygon still counted inside (GPS noise, shore roads). */
  areaMarginM: number;
  noShowClearMinutes: number;
  /** Most one alert_refreshed per alert per this many seconds of the car's time (a severity change is never held back). */
  refreshSeconds: number;
  /**
   * How much newer than an offline event's last_seen a car's telemetry may be and still be taken
   * for the silenced instance's own last messages: an instance reports the cars it heard once per
   * PRESENCE_FLUSH_MS, and acknowledges messages after its last report until it dies.
   */
  offlineSlackMs: number;
}

export interface AlertConfig {
  brokers: string[];
  topic: string;
  alertsTopic: string;
  alertsPartitions: number;
  groupId: string;
  fromBeginning: boolean;
  sessionTimeoutMs: number;
  maxBytesPerPartition: number;
  concurrency: number;
  redisUrl: string;
  redisPrefix: string;
  presencePrefix: string;
  database: DatabaseTarget;
  dbSchema: string | undefined;
  addr: string;
  operators: OperatorAuthSettings;
  serviceAreaFile: string | undefined;
  doneRetentionS: number;
  clearedRetentionS: number;
  rules: RuleThresholds;
  maxBodyBytes: number;
}

export const ENVIRONMENT: Array<[string, string]> = [
  ['KAFKA_BROKERS', `bootstrap brokers, comma-separated [${DEFAULTS.KAFKA_BROKERS}]`],
  ['FLEET_EVENTS_TOPIC', `topic to consume [${TOPICS.FLEET_EVENTS}]`],
  ['FLEET_ALERTS_TOPIC', 'topic of alert events, key = car id; created at start if missing [fleet-alerts]'],
  ['FLEET_ALERTS_PARTITIONS', 'partitions when the engine creates that topic [6]'],
  ['ALERT_GROUP_ID', 'consumer group [alert-engine-group]'],
  ['ALERT_FROM_BEGINNING', 'a new group starts at the oldest event [false]'],
  ['ALERT_SESSION_TIMEOUT_MS', 'consumer group session timeout [30000]'],
  ['ALERT_MAX_BYTES_PER_PARTITION', 'fetch size per partition, bytes [1048576]'],
  ['ALERT_CONCURRENCY', 'partitions evaluated concurrently [6, the partitions of fleet-events]'],
  ['REDIS_URL', `Redis URL (rule state, alerts, presence) [${DEFAULTS.REDIS_URL}]`],
  ['ALERT_REDIS_PREFIX', 'prefix of the engine\'s Redis keys [alerts:]'],
  ['PRESENCE_PREFIX', 'prefix of the presence hashes the ingestion keeps [presence:]'],
  ['DATABASE_URL', 'PostgreSQL/TimescaleDB URL for fleet_alerts [unset: the embedded TimescaleDB on 127.0.0.1:55433]'],
  ['ALERT_DB_SCHEMA', 'schema first on the search_path [unset]'],
  ['ALERT_ADDR', 'HTTP address: the API, /openapi.json, /health, /ready, /metrics [0.0.0.0:9468]'],
  ...OPERATOR_AUTH_ENVIRONMENT,
  ['ALERT_BATTERY_LOW_PCT', 'battery_low (warning) below this battery percentage [20]'],
  ['ALERT_BATTERY_CRITICAL_PCT', 'battery_low escalates to critical below this percentage [15]'],
  ['ALERT_BATTERY_HYSTERESIS_PCT', 'points above a threshold to clear or de-escalate [1]'],
  ['ALERT_OVERSPEED_KMH', 'overspeed above this velocity, km/h [100]'],
  ['ALERT_OVERSPEED_SECONDS', 'held for at least this long by the car\'s timestamps [10]'],
  ['ALERT_STALL_MINUTES', 'charging_stalled: plugged in and charging, meter not rising for this long [5]'],
  ['ALERT_SERVICE_AREA_FILE', 'GeoJSON (Polygon, MultiPolygon, Feature or FeatureCollection of them) replacing the default service area [unset: the simulator\'s Manhattan outline]'],
  ['ALERT_SERVICE_AREA_MARGIN_M', 'metres outside the polygon still counted inside [150]'],
  ['ALERT_NO_SHOW_CLEAR_MINUTES', 'booking_no_show clears by itself after this long by the car\'s clock (or when the car plugs in) [30]'],
  ['ALERT_REFRESH_SECONDS', 'at most one alert_refreshed per alert per this many seconds of car time [30]'],
  ['ALERT_OFFLINE_SLACK_MS', 'an offline event raises nothing when the car\'s telemetry is newer than its last_seen by more than this (it reconnected elsewhere); within it, the telemetry is taken for what the silenced instance acknowledged after its last presence report (at least PRESENCE_FLUSH_MS) [2000]'],
  ['ALERT_DONE_RETENTION_S', 'how long a cleared and acknowledged alert stays readable in Redis [86400]'],
  ['ALERT_CLEARED_RETENTION_S', 'how long a cleared alert nobody acknowledged stays listed (status=cleared) and readable [604800]'],
  ['ALERT_MAX_BODY_BYTES', 'largest acknowledge request body [4096]'],
  ['NODE_ENV', 'production makes OPERATOR_TOKENS or AUTH_JWKS mandatory, and refuses AUTH_JWT_HS256_SECRET'],
  ['LOG_LEVEL', 'pino level [info]'],
];

export function loadConfig(env: Record<string, string | undefined> = process.env): AlertConfig {
  const rules: RuleThresholds = {
    batteryLowPct: envNumber(env, 'ALERT_BATTERY_LOW_PCT', 20, 0, 100),
    batteryCriticalPct: envNumber(env, 'ALERT_BATTERY_CRITICAL_PCT', 15, 0, 100),
    batteryHysteresisPct: envNumber(env, 'ALERT_BATTERY_HYSTERESIS_PCT', 1, 0, 50),
    overspeedKmh: envNumber(env, 'ALERT_OVERSPEED_KMH', 100, 1, 1000),
    overspeedSeconds: envNumber(env, 'ALERT_OVERSPEED_SECONDS', 10, 0, 3600),
    stallMinutes: envNumber(env, 'ALERT_STALL_MINUTES', 5, 0.01, 1440),
    areaMarginM: envNumber(env, 'ALERT_SERVICE_AREA_MARGIN_M', 150, 0, 100_000),
    noShowClearMinutes: envNumber(env, 'ALERT_NO_SHOW_CLEAR_MINUTES', 30, 0.01, 10_080),
    refreshSeconds: envNumber(env, 'ALERT_REFRESH_SECONDS', 30, 0, 86_400),
    offlineSlackMs: envInt(env, 'ALERT_OFFLINE_SLACK_MS', 2000, 0, 600_000),
  };
  if (rules.batteryCriticalPct > rules.batteryLowPct) {
    throw new ConfigError('ALERT_BATTERY_CRITICAL_PCT', String(rules.batteryCriticalPct), `at most ALERT_BATTERY_LOW_PCT (${rules.batteryLowPct})`);
  }
  const prefix = envString(env, 'ALERT_REDIS_PREFIX', 'alerts:');
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(prefix)) throw new ConfigError('ALERT_REDIS_PREFIX', prefix, 'letters, digits, "_.:-", at most 64');
  const presencePrefix = envString(env, 'PRESENCE_PREFIX', 'presence:');
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(presencePrefix)) throw new ConfigError('PRESENCE_PREFIX', presencePrefix, 'letters, digits, "_.:-", at most 64');
  return {
    brokers: envHostPortList(env, 'KAFKA_BROKERS', DEFAULTS.KAFKA_BROKERS),
    topic: envString(env, 'FLEET_EVENTS_TOPIC', TOPICS.FLEET_EVENTS),
    alertsTopic: envString(env, 'FLEET_ALERTS_TOPIC', 'fleet-alerts'),
    alertsPartitions: envInt(env, 'FLEET_ALERTS_PARTITIONS', 6, 1, 10_000),
    groupId: envString(env, 'ALERT_GROUP_ID', 'alert-engine-group'),
    fromBeginning: envBool(env, 'ALERT_FROM_BEGINNING', false),
    sessionTimeoutMs: envInt(env, 'ALERT_SESSION_TIMEOUT_MS', 30_000, 6_000, 300_000),
    maxBytesPerPartition: envInt(env, 'ALERT_MAX_BYTES_PER_PARTITION', 1024 * 1024, 1024, 256 * 1024 * 1024),
    concurrency: envInt(env, 'ALERT_CONCURRENCY', 6, 1, 256),
    redisUrl: envRedisUrl(env, 'REDIS_URL', DEFAULTS.REDIS_URL),
    redisPrefix: prefix,
    presencePrefix,
    database: databaseTarget(env),
    dbSchema: envSchema(env, 'ALERT_DB_SCHEMA'),
    addr: envHostPort(env, 'ALERT_ADDR', '0.0.0.0:9468'),
    operators: readOperatorAuth(env),
    serviceAreaFile: envOptional(env, 'ALERT_SERVICE_AREA_FILE'),
    doneRetentionS: envInt(env, 'ALERT_DONE_RETENTION_S', 86_400, 1, 365 * 86_400),
    clearedRetentionS: envInt(env, 'ALERT_CLEARED_RETENTION_S', 7 * 86_400, 1, 365 * 86_400),
    rules,
    maxBodyBytes: envInt(env, 'ALERT_MAX_BODY_BYTES', 4096, 64, 1_048_576),
  };
}
