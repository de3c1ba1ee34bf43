import {
  DEFAULTS,
  TOPICS,
  envBool,
  envHostPort,
  envHostPortList,
  envInt,
  envOptional,
  envString,
  envUrl,
  OPERATOR_AUTH_ENVIRONMENT,
  readOperatorAuth,
  type OperatorAuthSettings,
  envRedisUrl,
} from '@greenlane/common';
import { DEFAULT_STATIONS_FILE } from './stations.js';

export interface WebConfig {
  httpAddr: string;
  brokers: string[];
  topic: string;
  /** The alert engine's topic (issue 16); read when it exists at start. */
  alertsTopic: string;
  /** Undefined: a group of its own per process (every instance sees every event). */
  groupId: string | undefined;
  fromBeginning: boolean;
  redisUrl: string | undefined;
  stationsFile: string;
  stationsPollMs: number;
  tickMs: number;
  maxBufferedBytes: number;
  offlineAfterMs: number;
  recentEvents: number;
  operators: OperatorAuthSettings;
  /** The command API the page's command buttons are forwarded to. */
  commandApiUrl: string;
}

export const ENVIRONMENT: Array<[string, string]> = [
  ['LIVEOPS_WEB_ADDR', 'HTTP and WebSocket address: the page, /ws, /api/v1/*, /health /ready /metrics [0.0.0.0:8090]'],
  ...OPERATOR_AUTH_ENVIRONMENT,
  ['KAFKA_BROKERS', `bootstrap brokers, comma-separated [${DEFAULTS.KAFKA_BROKERS}]`],
  ['FLEET_EVENTS_TOPIC', `topic of the fleet events [${TOPICS.FLEET_EVENTS}]`],
  ['FLEET_ALERTS_TOPIC', "the alert engine's alerts, read from their start when the topic exists at launch [fleet-alerts]"],
  ['LIVEOPS_WEB_GROUP_ID', 'consumer group [unset: one of its own per process, like the CLI]'],
  ['LIVEOPS_WEB_FROM_BEGINNING', 'replay the topic from its start at launch [false]'],
  ['REDIS_URL', `Redis, read for the stations' free slots; "none" to not read it [${DEFAULTS.REDIS_URL}]`],
  ['STATIONS_FILE', 'station registry JSON [ingestion/data/stations.json]'],
  ['LIVEOPS_WEB_STATIONS_POLL_MS', 'how often free slots are read from Redis [1000]'],
  ['LIVEOPS_WEB_TICK_MS', 'one frame of changed cars to every browser every [250]'],
  ['LIVEOPS_WEB_MAX_BUFFERED_BYTES', 'a browser holding more unsent than this is skipped for a tick [1048576]'],
  ['LIVEOPS_WEB_OFFLINE_AFTER_MS', 'a car silent this long is shown offline [30000]'],
  ['LIVEOPS_WEB_RECENT_EVENTS', 'events kept per car for its side panel [10]'],
  ['COMMAND_API_URL', "the command API that /api/v1/cars/{id}/commands and /api/v1/commands/{id}/wait are forwarded to, with the operator's token [http://127.0.0.1:8091]"],
  ['LOG_LEVEL', 'pino level [info]'],
  ['NODE_ENV', 'production makes OPERATOR_TOKENS or AUTH_JWKS mandatory, and refuses AUTH_JWT_HS256_SECRET'],
];

export function loadConfig(env: Record<string, string | undefined> = process.env): WebConfig {
  const redis = envOptional(env, 'REDIS_URL');
  return {
    httpAddr: envHostPort(env, 'LIVEOPS_WEB_ADDR', '0.0.0.0:8090'),
    brokers: envHostPortList(env, 'KAFKA_BROKERS', DEFAULTS.KAFKA_BROKERS),
    topic: envString(env, 'FLEET_EVENTS_TOPIC', TOPICS.FLEET_EVENTS),
    alertsTopic: envString(env, 'FLEET_ALERTS_TOPIC', 'fleet-alerts'),
    groupId: envOptional(env, 'LIVEOPS_WEB_GROUP_ID'),
    fromBeginning: envBool(env, 'LIVEOPS_WEB_FROM_BEGINNING', false),
    redisUrl: redis === 'none' ? undefined : envRedisUrl(env, 'REDIS_URL', DEFAULTS.REDIS_URL),
    stationsFile: envString(env, 'STATIONS_FILE', DEFAULT_STATIONS_FILE),
    stationsPollMs: envInt(env, 'LIVEOPS_WEB_STATIONS_POLL_MS', 1000, 50, 600_000),
    tickMs: envInt(env, 'LIVEOPS_WEB_TICK_MS', 250, 20, 10_000),
    maxBufferedBytes: envInt(env, 'LIVEOPS_WEB_MAX_BUFFERED_BYTES', 1024 * 1024, 16 * 1024, 256 * 1024 * 1024),
    offlineAfterMs: envInt(env, 'LIVEOPS_WEB_OFFLINE_AFTER_MS', 30_000, 1000, 86_400_000),
    recentEvents: envInt(env, 'LIVEOPS_WEB_RECENT_EVENTS', 10, 1, 1000),
    operators: readOperatorAuth(env),
    commandApiUrl: envUrl(env, 'COMMAND_API_URL', 'http://127.0.0.1:8091', ['http:', 'https:']),
  };
}
