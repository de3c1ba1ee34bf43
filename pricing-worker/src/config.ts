import {
  DEFAULTS,
  TOPICS,
  databaseTarget,
  envBool,
  envHostPort,
  envHostPortList,
  envInt,
  envSchema,
  envString,
  envUrl,
  type DatabaseTarget,
} from '@greenlane/common';

export interface PricingConfig {
  brokers: string[];
  topic: string;
  dlqTopic: string;
  groupId: string;
  gridUrl: string;
  gridTimeoutMs: number;
  database: DatabaseTarget;
  /** Schema to put first on the search_path (tests isolate themselves with it); unset = server default. */
  dbSchema: string | undefined;
  poolSize: number;
  /** Partitions processed at once (each one batch at a time). */
  concurrency: number;
  maxBytesPerPartition: number;
  httpAddr: string;
  fromBeginning: boolean;
  /** How long the group waits for a silent (killed) member before handing its partitions on. */
  sessionTimeoutMs: number;
}

export const ENVIRONMENT: Array<[string, string]> = [
  ['KAFKA_BROKERS', `bootstrap brokers, comma-separated [${DEFAULTS.KAFKA_BROKERS}]`],
  ['FLEET_EVENTS_TOPIC', `topic to consume [${TOPICS.FLEET_EVENTS}]`],
  ['PRICING_DLQ_TOPIC', `dead-letter topic [${TOPICS.DEAD_LETTERS}]`],
  ['PRICING_GROUP_ID', 'consumer group [pricing-worker-group]'],
  ['GRID_URL', `grid mock base URL [${DEFAULTS.GRID_URL}]`],
  ['GRID_TIMEOUT_MS', 'grid request timeout [5000]'],
  ['DATABASE_URL', 'PostgreSQL/TimescaleDB URL [unset: the embedded TimescaleDB on 127.0.0.1:55433]'],
  ['PRICING_DB_SCHEMA', 'schema first on the search_path [unset]'],
  ['PRICING_DB_ONE_CONNECTION', 'one connection, kept between batches (the embedded database lends its backend per transaction) [true when DATABASE_URL is unset]'],
  ['PRICING_POOL_SIZE', 'decode threads (piscina) [2]'],
  ['PRICING_CONCURRENCY', 'partitions processed concurrently [4]'],
  ['PRICING_MAX_BYTES_PER_PARTITION', 'fetch size per partition, bytes [2097152]'],
  ['PRICING_HTTP_ADDR', 'ops HTTP (/health, /ready, /metrics) [0.0.0.0:9465]'],
  ['PRICING_SESSION_TIMEOUT_MS', 'consumer group session timeout [30000]'],
  ['PRICING_FROM_BEGINNING', 'a new group starts at the oldest event [true]'],
  ['LOG_LEVEL', 'pino level [info]'],
];

/** The embedded database (PGlite) serves one connection at a time, also when named by DATABASE_URL. */
function oneConnection(env: Record<string, string | undefined>): DatabaseTarget {
  const target = databaseTarget(env);
  return { ...target, embedded: envBool(env, 'PRICING_DB_ONE_CONNECTION', target.embedded) };
}

export function loadConfig(env: Record<string, string | undefined> = process.env): PricingConfig {
  const dbSchema = envSchema(env, 'PRICING_DB_SCHEMA');
  return {
    brokers: envHostPortList(env, 'KAFKA_BROKERS', DEFAULTS.KAFKA_BROKERS),
    topic: envString(env, 'FLEET_EVENTS_TOPIC', TOPICS.FLEET_EVENTS),
    dlqTopic: envString(env, 'PRICING_DLQ_TOPIC', TOPICS.DEAD_LETTERS),
    groupId: envString(env, 'PRICING_GROUP_ID', 'pricing-worker-group'),
    gridUrl: envUrl(env, 'GRID_URL', DEFAULTS.GRID_URL, ['http:', 'https:']),
    gridTimeoutMs: envInt(env, 'GRID_TIMEOUT_MS', 5000, 100, 120_000),
    database: oneConnection(env),
    dbSchema,
    poolSize: envInt(env, 'PRICING_POOL_SIZE', 2, 1, 64),
    concurrency: envInt(env, 'PRICING_CONCURRENCY', 4, 1, 256),
    maxBytesPerPartition: envInt(env, 'PRICING_MAX_BYTES_PER_PARTITION', 2 * 1024 * 1024, 1024, 256 * 1024 * 1024),
    httpAddr: envHostPort(env, 'PRICING_HTTP_ADDR', '0.0.0.0:9465'),
    fromBeginning: envBool(env, 'PRICING_FROM_BEGINNING', true),
    sessionTimeoutMs: envInt(env, 'PRICING_SESSION_TIMEOUT_MS', 30_000, 6_000, 300_000),
  };
}
