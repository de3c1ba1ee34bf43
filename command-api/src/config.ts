/** The command API's settings, from the environment, validated at start (a bad one names its variable). */
import { DEFAULTS, envHostPort, envHostPortList, envInt, envRedisUrl, envString, envUrl } from '@greenlane/common';
import { OPERATOR_AUTH_ENVIRONMENT, readOperatorAuth, type OperatorAuthSettings } from '@greenlane/common/operator-auth';

export interface CommandApiConfig {
  addr: string;
  redisUrl: string;
  kafkaBrokers: string[];
  topic: string;
  topicPartitions: number;
  operators: OperatorAuthSettings;
  maxPendingPerCar: number;
  defaultTimeoutMs: number;
  maxBodyBytes: number;
  sweepMs: number;
  maxWaitMs: number;
}

export const ENVIRONMENT: Array<[string, string]> = [
  ['COMMAND_API_ADDR', 'HTTP address: the API, /openapi.json, /health, /ready, /metrics [0.0.0.0:8091]'],
  ...OPERATOR_AUTH_ENVIRONMENT,
  ['REDIS_URL', `Redis URL, the same the ingestion instances use [${DEFAULTS.REDIS_URL}]`],
  ['KAFKA_BROKERS', `comma-separated bootstrap brokers [${DEFAULTS.KAFKA_BROKERS}]`],
  ['FLEET_COMMANDS_TOPIC', 'topic of every command status change, key = car id; created at start if missing [fleet-commands]'],
  ['FLEET_COMMANDS_PARTITIONS', 'partitions when this service creates the topic [6]'],
  ['COMMANDS_MAX_PENDING_PER_CAR', 'unfinished commands one car may have; one more is refused with 429 [16]'],
  ['COMMANDS_TIMEOUT_MS', 'default time a car has to answer a command once it is sent (TIMED_OUT after) [10000]'],
  ['COMMANDS_MAX_BODY_BYTES', 'largest request body; more is refused with 413 [16384]'],
  ['COMMANDS_SWEEP_MS', 'how often deadlines are checked (EXPIRED, TIMED_OUT) [100]'],
  ['COMMANDS_MAX_WAIT_MS', 'longest a /wait long poll may be asked to wait [60000]'],
  ['NODE_ENV', 'production makes OPERATOR_TOKENS or AUTH_JWKS mandatory, and refuses AUTH_JWT_HS256_SECRET'],
  ['LOG_LEVEL', 'pino level [info]'],
];

export function loadConfig(env: Record<string, string | undefined> = process.env): CommandApiConfig {
  return {
    addr: envHostPort(env, 'COMMAND_API_ADDR', '0.0.0.0:8091'),
    redisUrl: envRedisUrl(env, 'REDIS_URL', DEFAULTS.REDIS_URL),
    kafkaBrokers: envHostPortList(env, 'KAFKA_BROKERS', DEFAULTS.KAFKA_BROKERS),
    topic: envString(env, 'FLEET_COMMANDS_TOPIC', 'fleet-commands'),
    topicPartitions: envInt(env, 'FLEET_COMMANDS_PARTITIONS', 6, 1, 10_000),
    operators: readOperatorAuth(env),
    maxPendingPerCar: envInt(env, 'COMMANDS_MAX_PENDING_PER_CAR', 16, 1, 10_000),
    defaultTimeoutMs: envInt(env, 'COMMANDS_TIMEOUT_MS', 10_000, 100, 3_600_000),
    maxBodyBytes: envInt(env, 'COMMANDS_MAX_BODY_BYTES', 16_384, 256, 1_048_576),
    sweepMs: envInt(env, 'COMMANDS_SWEEP_MS', 100, 10, 60_000),
    maxWaitMs: envInt(env, 'COMMANDS_MAX_WAIT_MS', 60_000, 1000, 3_600_000),
  };
}
