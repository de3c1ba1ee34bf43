/**
 * Every setting of the ingestion service, read from the environment once at start. A bad value
 * stops the service naming the variable (ConfigError → exit 2).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { PresenceConfig } from './presence/tracker.js';
import {
  ConfigError,
  DEFAULTS,
  TOPICS,
  envBool,
  envHostPort,
  envHostPortList,
  envInt,
  envNumber,
  envList,
  envOptional,
  envString,
  envUrl,
  envRedisUrl,
} from '@greenlane/common';
import { readJwtConfig, type JwtConfig } from '@greenlane/common/jwt-auth';
import type { RateLimit } from '@greenlane/common/token-bucket';

export type Compression = 'none' | 'gzip';

export interface TlsConfig {
  certFile: string;
  keyFile: string;
  /** Mutual TLS: client certificates must chain to this CA, and the car is the certificate's CN. */
  clientCaFile: string | undefined;
  /** How often the files are checked for a change (SIGHUP reloads at once). */
  reloadMs: number;
}

export interface IngestionConfig {
  grpcAddr: string;
  httpAddr: string;
  kafkaBrokers: string[];
  redisUrl: string;
  gridUrl: string;
  /** Accepted x-api-token values (legacy shared tokens); empty when the header is not accepted. */
  apiTokens: string[];
  /** True when API_TOKENS was unset and the development token is in use. */
  usingDevelopmentToken: boolean;
  /** TLS on the gRPC port; undefined: plaintext. */
  tls: TlsConfig | undefined;
  /** JWT bearer tokens (scope `vehicle`, sub = car id); undefined: not accepted. */
  jwt: JwtConfig | undefined;
  /** Messages per car (token bucket); ratePerSecond 0 = unlimited. */
  carRate: RateLimit;
  /** New streams per source address (token bucket); ratePerSecond 0 = unlimited. */
  streamRate: RateLimit;
  /** Balancers in front (their addresses): the source address is then the last x-forwarded-for entry. */
  trustedProxies: string[];
  topic: string;
  topicPartitions: number;
  /** Messages accepted from streams and not yet acknowledged, across all streams. */
  maxInFlight: number;
  /** The same bound for one stream, so one fast car cannot take the whole budget. */
  maxInFlightPerStream: number;
  /** A message not acknowledged within this time fails its stream with UNAVAILABLE. */
  ackTimeoutMs: number;
  maxMessageBytes: number;
  maxStreams: number;
  kafkaLingerMs: number;
  kafkaBatchMax: number;
  kafkaCompression: Compression;
  drainTimeoutMs: number;
  bookings: boolean;
  /** Where operators' commands for the cars streaming here are published (commands:instance:{id}). */
  instanceId: string;
  presence: PresenceConfig;
}

/** The variables, their defaults and meaning: printed by --help and documented in README.md. */
export const ENVIRONMENT: Array<[string, string]> = [
  ['INGESTION_ADDR', `gRPC listen address [${DEFAULTS.INGESTION_ADDR}]`],
  ['INGESTION_HTTP_ADDR', 'operations HTTP address: /health /ready /metrics /api/v1/* [0.0.0.0:9464]'],
  ['KAFKA_BROKERS', `comma-separated bootstrap brokers [${DEFAULTS.KAFKA_BROKERS}]`],
  ['REDIS_URL', `Redis URL [${DEFAULTS.REDIS_URL}]`],
  ['GRID_URL', `grid price service, for booking prices [${DEFAULTS.GRID_URL}]`],
  ['API_TOKENS', `comma-separated accepted x-api-token values (legacy shared tokens: any car); unset = the header is refused, except with no other credential configured outside production, where the development token ${DEFAULTS.API_TOKEN} is accepted`],
  ['INGESTION_TLS_CERT', 'PEM certificate (chain) of the gRPC port: set with INGESTION_TLS_KEY for TLS (1.2 minimum, 1.3 preferred) [unset: plaintext]'],
  ['INGESTION_TLS_KEY', 'PEM private key of INGESTION_TLS_CERT'],
  ['INGESTION_TLS_CLIENT_CA', 'PEM CA bundle: mutual TLS, every car presents a certificate it signed, and the certificate\'s subject CN is the car id [unset]'],
  ['INGESTION_TLS_RELOAD_MS', 'how often the certificate files are checked for a change; SIGHUP reloads at once; connected cars stay connected [5000]'],
  ['AUTH_JWKS', 'JWT bearer tokens (authorization: Bearer ...): a JWKS file path or http(s) URL of the signing keys [unset: no JWTs]'],
  ['AUTH_JWT_ISSUER', 'required iss of a JWT [greenlane]'],
  ['AUTH_JWT_AUDIENCE', 'required aud of a JWT [greenlane]'],
  ['AUTH_JWT_HS256_SECRET', 'development only (refused with NODE_ENV=production): accept HS256 JWTs signed with this secret, 32+ characters [unset]'],
  ['AUTH_JWT_CLOCK_TOLERANCE_S', 'seconds of clock skew allowed on exp and nbf [5]'],
  ['INGESTION_CAR_RATE', 'messages per second one car may send on average; its excess is answered BOOKING_FAILED "rate limited: ... retry after N ms"; 0 = unlimited [50]'],
  ['INGESTION_CAR_BURST', 'messages one car may send at once above its rate (an upload of what it buffered) [500]'],
  ['INGESTION_STREAM_RATE', 'new streams per second from one source address; more are refused RESOURCE_EXHAUSTED with a retry hint; 0 = unlimited [100]'],
  ['INGESTION_STREAM_BURST', 'new streams one address may open at once [2000]'],
  ['INGESTION_TRUSTED_PROXIES', 'comma-separated addresses of balancers in front (HAProxy): for their streams the source address of the stream limit is the last x-forwarded-for entry [none]'],
  ['FLEET_EVENTS_TOPIC', `topic of the events, created at start if missing [${TOPICS.FLEET_EVENTS}]`],
  ['FLEET_EVENTS_PARTITIONS', 'partitions when this service creates the topic [6]'],
  ['INGESTION_MAX_IN_FLIGHT', 'messages accepted but not yet acknowledged, all streams; beyond it reading pauses [20000]'],
  ['INGESTION_MAX_IN_FLIGHT_PER_STREAM', 'the same bound per stream [512]'],
  ['INGESTION_ACK_TIMEOUT_MS', 'a message unacknowledged this long fails its stream with UNAVAILABLE [15000]'],
  ['INGESTION_MAX_MESSAGE_BYTES', 'largest CarStatus accepted by the transport [16384]'],
  ['INGESTION_MAX_STREAMS', 'concurrent streams; more are refused with RESOURCE_EXHAUSTED [50000]'],
  ['KAFKA_LINGER_MS', 'how long a producer batch waits for more messages while none is on the wire (0: until the end of the event-loop turn) [0]'],
  ['KAFKA_BATCH_MAX', 'messages that close a producer batch early [4000]'],
  ['KAFKA_COMPRESSION', 'none or gzip [none]; gzip trades CPU for bytes on the wire'],
  ['INGESTION_DRAIN_TIMEOUT_MS', 'on SIGTERM, how long in-flight messages may take to be acknowledged [10000]'],
  ['INGESTION_BOOKINGS', 'answer booking requests and follow charging stays (bookings desk); false = plain acks only [true]'],
  ['PRESENCE_TIMEOUT_MS', 'a car heard from by no instance for this long is offline [30000]'],
  ['PRESENCE_GRACE_MS', 'a car whose stream closed and that is heard nowhere within this is offline (a car moving to another instance never flaps) [5000]'],
  ['PRESENCE_FLUSH_MS', 'how often this instance reports the cars it heard, sweeps presence deadlines and renews its lease [1000]'],
  ['INGESTION_INSTANCE_ID', 'this instance\'s name, unique among instances: operators\' commands for a car reach the instance holding its stream by it [<hostname>-<pid>-<random>]'],
  ['NODE_ENV', 'production: a credential (API_TOKENS, AUTH_JWKS or INGESTION_TLS_CLIENT_CA) is mandatory, the development token and HS256 are refused'],
  ['LOG_LEVEL', 'pino level [info]'],
];

export function loadConfig(env: Record<string, string | undefined>): IngestionConfig {
  const tokens = envOptional(env, 'API_TOKENS');
  const production = env.NODE_ENV === 'production';
  const tls = readTls(env);
  const jwt = readJwtConfig(env);
  // The development token only stands in when nothing else identifies cars.
  const otherCredential = jwt !== undefined || tls?.clientCaFile !== undefined;
  if (tokens === undefined && production && !otherCredential) {
    throw new ConfigError('API_TOKENS', '', 'at least one token when NODE_ENV=production and neither AUTH_JWKS nor INGESTION_TLS_CLIENT_CA is set (the development token is refused in production)');
  }
  const usingDevelopmentToken = tokens === undefined && !otherCredential;
  const apiTokens = tokens !== undefined ? envList(env, 'API_TOKENS', []) : usingDevelopmentToken ? [DEFAULTS.API_TOKEN] : [];
  const compression = envString(env, 'KAFKA_COMPRESSION', 'none');
  if (compression !== 'none' && compression !== 'gzip') throw new ConfigError('KAFKA_COMPRESSION', compression, 'none or gzip');
  const maxInFlight = envInt(env, 'INGESTION_MAX_IN_FLIGHT', 20_000, 1, 10_000_000);
  return {
    grpcAddr: envHostPort(env, 'INGESTION_ADDR', DEFAULTS.INGESTION_ADDR),
    httpAddr: envHostPort(env, 'INGESTION_HTTP_ADDR', '0.0.0.0:9464'),
    kafkaBrokers: envHostPortList(env, 'KAFKA_BROKERS', DEFAULTS.KAFKA_BROKERS),
    redisUrl: envRedisUrl(env, 'REDIS_URL', DEFAULTS.REDIS_URL),
    gridUrl: envUrl(env, 'GRID_URL', DEFAULTS.GRID_URL, ['http:', 'https:']),
    apiTokens,
    usingDevelopmentToken,
    tls,
    jwt,
    carRate: { ratePerSecond: envNumber(env, 'INGESTION_CAR_RATE', 50, 0, 1_000_000), burst: envInt(env, 'INGESTION_CAR_BURST', 500, 1, 10_000_000) },
    streamRate: { ratePerSecond: envNumber(env, 'INGESTION_STREAM_RATE', 100, 0, 1_000_000), burst: envInt(env, 'INGESTION_STREAM_BURST', 2000, 1, 10_000_000) },
    trustedProxies: envList(env, 'INGESTION_TRUSTED_PROXIES', []),
    topic: envString(env, 'FLEET_EVENTS_TOPIC', TOPICS.FLEET_EVENTS),
    topicPartitions: envInt(env, 'FLEET_EVENTS_PARTITIONS', 6, 1, 10_000),
    maxInFlight,
    maxInFlightPerStream: Math.min(maxInFlight, envInt(env, 'INGESTION_MAX_IN_FLIGHT_PER_STREAM', 512, 1, 1_000_000)),
    ackTimeoutMs: envInt(env, 'INGESTION_ACK_TIMEOUT_MS', 15_000, 100, 3_600_000),
    maxMessageBytes: envInt(env, 'INGESTION_MAX_MESSAGE_BYTES', 16_384, 64, 4 * 1024 * 1024),
    maxStreams: envInt(env, 'INGESTION_MAX_STREAMS', 50_000, 1, 10_000_000),
    kafkaLingerMs: envInt(env, 'KAFKA_LINGER_MS', 0, 0, 1000),
    kafkaBatchMax: envInt(env, 'KAFKA_BATCH_MAX', 4000, 1, 1_000_000),
    kafkaCompression: compression,
    drainTimeoutMs: envInt(env, 'INGESTION_DRAIN_TIMEOUT_MS', 10_000, 0, 600_000),
    bookings: envBool(env, 'INGESTION_BOOKINGS', true),
    instanceId: envInstanceId(env),
    presence: {
      timeoutMs: envInt(env, 'PRESENCE_TIMEOUT_MS', 30_000, 1000, 24 * 3_600_000),
      graceMs: envInt(env, 'PRESENCE_GRACE_MS', 5000, 0, 3_600_000),
      flushMs: envInt(env, 'PRESENCE_FLUSH_MS', 1000, 50, 60_000),
    },
  };
}

function readTls(env: Record<string, string | undefined>): TlsConfig | undefined {
  const certFile = envOptional(env, 'INGESTION_TLS_CERT');
  const keyFile = envOptional(env, 'INGESTION_TLS_KEY');
  const clientCaFile = envOptional(env, 'INGESTION_TLS_CLIENT_CA');
  if (certFile === undefined && keyFile === undefined) {
    if (clientCaFile !== undefined) throw new ConfigError('INGESTION_TLS_CLIENT_CA', clientCaFile, 'unset unless INGESTION_TLS_CERT and INGESTION_TLS_KEY are set (mutual TLS needs TLS)');
    return undefined;
  }
  if (certFile === undefined) throw new ConfigError('INGESTION_TLS_CERT', '', 'a PEM certificate file (INGESTION_TLS_KEY is set)');
  if (keyFile === undefined) throw new ConfigError('INGESTION_TLS_KEY', '', 'a PEM private key file (INGESTION_TLS_CERT is set)');
  return { certFile, keyFile, clientCaFile, reloadMs: envInt(env, 'INGESTION_TLS_RELOAD_MS', 5000, 100, 3_600_000) };
}

function envInstanceId(env: Record<string, string | undefined>): string {
  const value = envOptional(env, 'INGESTION_INSTANCE_ID');
  if (value === undefined) return `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(value)) throw new ConfigError('INGESTION_INSTANCE_ID', value, 'letters, digits, "-", "_" and "." only, at most 64');
  return value;
}

/** "host:port" → listen arguments for node:http. */
export function splitHostPort(addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(':');
  return { host: addr.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(addr.slice(at + 1)) };
}
