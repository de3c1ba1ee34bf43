import {
  DEFAULTS, TOPICS, ConfigError, databaseTarget, envBool, envHostPort, envHostPortList, envInt, envOptional, envSchema, envString,
  type DatabaseTarget,
} from '@greenlane/common';

export interface HistoryConfig {
  brokers: string[];
  topic: string;
  groupId: string;
  database: DatabaseTarget;
  dbSchema: string | undefined;
  connections: number;
  concurrency: number;
  maxBytesPerPartition: number;
  httpAddr: string;
  fromBeginning: boolean;
  sessionTimeoutMs: number;
  retentionDays: number;
  compressAfterHours: number;
  /** Run the TimescaleDB jobs from the writer: 'auto' = when the server has no job scheduler. */
  runJobs: 'auto' | boolean;
  jobsIntervalMs: number;
  /** PostgreSQL without TimescaleDB: build the rollups (common/src/db/rollups.ts) where missing, backfilling the history once. */
  rollups: boolean;
}

export const ENVIRONMENT: Array<[string, string]> = [
  ['KAFKA_BROKERS', `bootstrap brokers, comma-separated [${DEFAULTS.KAFKA_BROKERS}]`],
  ['FLEET_EVENTS_TOPIC', `topic to consume [${TOPICS.FLEET_EVENTS}]`],
  ['HISTORY_GROUP_ID', 'consumer group [history-writer-group]'],
  ['DATABASE_URL', 'PostgreSQL/TimescaleDB URL [unset: the embedded TimescaleDB on 127.0.0.1:55433]'],
  ['HISTORY_DB_SCHEMA', 'schema first on the search_path [unset]'],
  ['HISTORY_DB_CONNECTIONS', 'database connections [4; 1 on the embedded database]'],
  ['HISTORY_CONCURRENCY', 'partitions written concurrently [4]'],
  ['HISTORY_MAX_BYTES_PER_PARTITION', 'fetch size per partition, bytes [1048576]'],
  ['HISTORY_HTTP_ADDR', 'ops HTTP (/health, /ready, /metrics) [0.0.0.0:9466]'],
  ['HISTORY_SESSION_TIMEOUT_MS', 'consumer group session timeout [30000]'],
  ['HISTORY_FROM_BEGINNING', 'a new group starts at the oldest event [true]'],
  ['HISTORY_RETENTION_DAYS', 'TimescaleDB: rows older than this are dropped [30]'],
  ['HISTORY_COMPRESS_AFTER_HOURS', 'TimescaleDB: chunks older than this are compressed [24]'],
  ['HISTORY_RUN_JOBS', 'run compression, retention and aggregate refreshes from the writer: auto = when the server has no job scheduler (the embedded database) [auto]'],
  ['HISTORY_JOBS_INTERVAL_S', 'how often the writer runs them [60]'],
  ['HISTORY_ROLLUPS', 'PostgreSQL without TimescaleDB: build the hourly rollups (car_telemetry_hourly, fleet_telemetry_hourly, charging_stays) where missing, backfilling the stored history once; false builds none (rollups already there stay maintained by their triggers) [true]'],
  ['LOG_LEVEL', 'pino level [info]'],
];

function runJobsOf(env: Record<string, string | undefined>): 'auto' | boolean {
  const value = envOptional(env, 'HISTORY_RUN_JOBS');
  if (value === undefined || value.toLowerCase() === 'auto') return 'auto';
  try {
    return envBool(env, 'HISTORY_RUN_JOBS', false);
  } catch {
    throw new ConfigError('HISTORY_RUN_JOBS', value, 'auto, true or false');
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env): HistoryConfig {
  const database = databaseTarget(env);
  return {
    brokers: envHostPortList(env, 'KAFKA_BROKERS', DEFAULTS.KAFKA_BROKERS),
    topic: envString(env, 'FLEET_EVENTS_TOPIC', TOPICS.FLEET_EVENTS),
    groupId: envString(env, 'HISTORY_GROUP_ID', 'history-writer-group'),
    database,
    dbSchema: envSchema(env, 'HISTORY_DB_SCHEMA'),
    connections: envInt(env, 'HISTORY_DB_CONNECTIONS', database.embedded ? 1 : 4, 1, 64),
    concurrency: envInt(env, 'HISTORY_CONCURRENCY', 4, 1, 256),
    maxBytesPerPartition: envInt(env, 'HISTORY_MAX_BYTES_PER_PARTITION', 1024 * 1024, 1024, 256 * 1024 * 1024),
    httpAddr: envHostPort(env, 'HISTORY_HTTP_ADDR', '0.0.0.0:9466'),
    fromBeginning: envBool(env, 'HISTORY_FROM_BEGINNING', true),
    sessionTimeoutMs: envInt(env, 'HISTORY_SESSION_TIMEOUT_MS', 30_000, 6_000, 300_000),
    retentionDays: envInt(env, 'HISTORY_RETENTION_DAYS', 30, 1, 36_500),
    compressAfterHours: envInt(env, 'HISTORY_COMPRESS_AFTER_HOURS', 24, 1, 876_000),
    runJobs: runJobsOf(env),
    jobsIntervalMs: envInt(env, 'HISTORY_JOBS_INTERVAL_S', 60, 1, 86_400) * 1000,
    rollups: envBool(env, 'HISTORY_ROLLUPS', true),
  };
}
