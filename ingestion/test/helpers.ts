/**
 * Shared set-up of the ingestion tests: a service on free ports with its own topic and Redis
 * database (1-4), clients with or without the token, and a reader of what reached the topic.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { credentials, Metadata, type ClientDuplexStream } from '@grpc/grpc-js';
import { createKafka, createLogger, type Logger } from '@greenlane/common';
import { testServers, uniqueName, waitFor } from '@greenlane/common/testing';
import { freePort } from '@greenlane/common/testing-kafka';
import {
  FleetServiceClient,
  type BookingResponse,
  type CarStatus,
} from '@greenlane/common/gen/fleet/fleet';
import { loadConfig, type IngestionConfig } from '../src/config.js';
import { startIngestion, type Ingestion } from '../src/server.js';

export const TOKEN = 'test-token-ingestion';
export const log: Logger = createLogger('ingestion-test', { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });

export function redisUrl(db: number): string {
  if (db < 1 || db > 4) throw new Error('ingestion tests own Redis databases 1-4 only');
  const url = new URL(testServers.redisUrl);
  url.pathname = `/${db}`;
  return url.toString();
}

export interface TestService {
  ingestion: Ingestion;
  cfg: IngestionConfig;
  topic: string;
  address: string;
  http: string;
  env: Record<string, string>;
}

export async function serviceEnv(db: number, overrides: Record<string, string> = {}): Promise<Record<string, string>> {
  return {
    INGESTION_ADDR: `127.0.0.1:${await freePort()}`,
    INGESTION_HTTP_ADDR: `127.0.0.1:${await freePort()}`,
    REDIS_URL: redisUrl(db),
    KAFKA_BROKERS: testServers.kafkaBrokers.join(','),
    FLEET_EVENTS_TOPIC: uniqueName('ingestion-test'),
    FLEET_EVENTS_PARTITIONS: '3',
    API_TOKENS: `other-token,${TOKEN}`,
    INGESTION_BOOKINGS: 'false',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ...overrides,
  };
}

/** The service in this process. */
export async function startService(db: number, overrides: Record<string, string> = {}): Promise<TestService> {
  const env = await serviceEnv(db, overrides);
  const cfg = loadConfig(env);
  const ingestion = await startIngestion(cfg, log, env, { defaultMetrics: false });
  return {
    ingestion,
    cfg,
    topic: cfg.topic,
    address: `127.0.0.1:${ingestion.grpcPort}`,
    http: `http://127.0.0.1:${ingestion.httpPort}`,
    env,
  };
}

/** The compiled service as a child process (what production runs). */
export function spawnService(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const main = fileURLToPath(new URL('../src/main.js', import.meta.url));
  const child = spawn(process.execPath, [main], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

export function client(address: string): FleetServiceClient {
  return new FleetServiceClient(address, credentials.createInsecure());
}

/** `null` sends no token at all (a default parameter would turn `undefined` into the valid one). */
export function tokenMetadata(token: string | null = TOKEN): Metadata {
  const metadata = new Metadata();
  if (token !== null) metadata.set('x-api-token', token);
  return metadata;
}

export function carStatus(carId: string, i = 0, extra: Partial<CarStatus> = {}): CarStatus {
  return {
    carId,
    latitude: 40.7 + (i % 100) * 0.001,
    longitude: -74.0 + (i % 50) * 0.001,
    batteryLevel: 80 - (i % 50),
    velocity: 30 + (i % 20),
    timestamp: Date.now() - 1000 + i,
    stationId: '',
    charging: false,
    chargeEnergyKwh: 0,
    pluggedInAt: 0,
    bookingRequest: undefined,
    commandResult: undefined,
    ...extra,
  };
}

/** A stream that records every answer and how it ended. */
export interface RecordedStream {
  call: ClientDuplexStream<CarStatus, BookingResponse>;
  responses: BookingResponse[];
  ended: Promise<{ code: number; details: string }>;
}

export function openStream(c: FleetServiceClient, token: string | null = TOKEN): RecordedStream {
  const call = c.streamTelemetry(tokenMetadata(token));
  const responses: BookingResponse[] = [];
  call.on('data', (r: BookingResponse) => responses.push(r));
  const ended = new Promise<{ code: number; details: string }>((resolve) => {
    call.on('error', (e: { code: number; details: string }) => resolve({ code: e.code, details: e.details }));
    call.on('status', (s: { code: number; details: string }) => {
      if (s.code === 0) resolve({ code: 0, details: s.details });
    });
  });
  return { call, responses, ended };
}

type TopicEvent = { key: string; value: Record<string, unknown> };

/**
 * The telemetry events of a topic (from the beginning), once at least `count` have arrived, or once
 * `count(seen)` holds (on a topic other tests write too, say which events are awaited). Events of
 * other types (connectivity, presence, bookings) are skipped, as every consumer skips what it does
 * not handle; `types` names others to keep.
 */
export async function readTopic(
  topic: string,
  count: number | ((seen: TopicEvent[]) => boolean),
  brokers: string[] = testServers.kafkaBrokers,
  settleMs = 500,
  types: readonly string[] = ['telemetry'],
): Promise<TopicEvent[]> {
  const kafka = createKafka({ brokers, clientId: 'ingestion-test-reader', log, quiet: true });
  const consumer = kafka.consumer({ groupId: uniqueName('ingestion-test-reader') });
  const seen: TopicEvent[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const value = JSON.parse(message.value!.toString()) as Record<string, unknown>;
        if (types.includes(String(value.event_type))) seen.push({ key: message.key?.toString() ?? '', value });
      },
    });
    const enough = typeof count === 'number' ? () => seen.length >= count : () => count(seen);
    await waitFor(typeof count === 'number' ? `${count} events on ${topic}` : `the awaited events on ${topic}`, enough, 60_000);
    // Anything beyond `count` (a duplicate, a stray event) should show up too.
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    return seen;
  } finally {
    await consumer.disconnect();
  }
}

export async function deleteTopic(topic: string, brokers: string[] = testServers.kafkaBrokers): Promise<void> {
  const admin = createKafka({ brokers, clientId: 'ingestion-test-admin', log, quiet: true }).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
