/**
 * The integration tests' side of the real servers: the engine as a child process, a reader of
 * its fleet-alerts topic, producers of fleet events, Redis DB 13 (no other workspace uses it).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Consumer, Kafka } from 'kafkajs';
import { createClient } from 'redis';
import { createKafka, createLogger } from '@greenlane/common';
import { mintToken, type MintOptions, type SigningKey } from '@greenlane/common/jwt-mint';
import { testServers, uniqueName, waitFor } from '@greenlane/common/testing';
import { freePort, produce, spawnProgram, waitReady, type Child } from '@greenlane/common/testing-programs';
import type { AlertEvent, Input } from '../src/types.js';
import { wire } from './helpers.js';

export const REDIS_DB_URL = (() => {
  const url = new URL(testServers.redisUrl);
  url.pathname = '/13';
  return url.toString();
})();
export const TOKEN = 'alert-test-operator';

/** An ES256 key published as a JWKS file (as `make certs` writes one), and a key the JWKS does not hold. */
function keyPair(): { signing: SigningKey; jwk: Record<string, unknown> } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { signing: { key: privateKey, alg: 'ES256', kid: 'alert-test-1' }, jwk: { ...publicKey.export({ format: 'jwk' }), kid: 'alert-test-1', alg: 'ES256', use: 'sig' } };
}
const issuer = keyPair();
export const strangerKey = keyPair().signing;
export const JWKS = join(mkdtempSync(join(tmpdir(), 'alert-engine-jwt-')), 'jwks.json');
writeFileSync(JWKS, JSON.stringify({ keys: [issuer.jwk] }));
/** A JWT for `subject` with `scopes`, signed by the JWKS's key unless told otherwise. */
export function jwt(subject: string, scopes: string[], extra: Partial<MintOptions> = {}, key: SigningKey = issuer.signing): Promise<string> {
  return mintToken(key, { subject, scopes, ttlSeconds: 600, ...extra });
}

export const kafka: Kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'alert-engine-test', log: createLogger('alert-engine-test'), quiet: true });

export interface Engine extends Child {
  port: number;
  url: string;
}

export async function startEngine(env: Record<string, string>): Promise<Engine> {
  const port = await freePort();
  const child = spawnProgram('alert-engine/dist/src/main.js', {
    KAFKA_BROKERS: testServers.kafkaBrokers.join(','),
    REDIS_URL: REDIS_DB_URL,
    OPERATOR_TOKENS: TOKEN,
    ALERT_ADDR: `127.0.0.1:${port}`,
    ALERT_SESSION_TIMEOUT_MS: '6000',
    ALERT_FROM_BEGINNING: 'true',
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
    ...env,
  });
  await waitReady(child, 'alert engine ready', `http://127.0.0.1:${port}/ready`, 90_000);
  return { ...child, port, url: `http://127.0.0.1:${port}` };
}

export async function metric(port: number, name: string, match = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || !(line[name.length] === ' ' || line[name.length] === '{')) continue;
    if (match && !line.includes(match)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export async function send(topic: string, inputs: Input[]): Promise<void> {
  await produce(kafka, topic, inputs.map((i) => ({ key: i.carId, value: wire(i) })));
}

/** Every event on the alerts topic, as read so far, in partition order (a car's events in order). */
export async function readAlerts(topic: string): Promise<{ events: AlertEvent[]; stop(): Promise<void> }> {
  const events: AlertEvent[] = [];
  const consumer: Consumer = kafka.consumer({ groupId: uniqueName('alert-reader'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void events.push(JSON.parse(message.value!.toString()) as AlertEvent) });
  return { events, stop: () => consumer.disconnect() };
}

/** A car's alert events in order, once per event id, as "transition:severity". */
export function sequence(events: AlertEvent[], car: string): string[] {
  const seen = new Set<string>();
  return events.filter((e) => e.car_id === car && !seen.has(e.event_id) && seen.add(e.event_id)).map((e) => `${e.event_type.slice(6)}:${e.severity}`);
}

export async function api(engine: Engine, path: string, init: RequestInit & { token?: string | null } = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...(init.headers as Record<string, string> | undefined) };
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? TOKEN}`;
  const res = await fetch(`${engine.url}${path}`, { ...init, headers });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: res.status, body, headers: res.headers };
}

export async function redisDb13() {
  const client = createClient({ url: REDIS_DB_URL });
  await client.connect();
  return client;
}

/** Deletes every key under the prefix in DB 13. */
export async function dropPrefix(prefix: string): Promise<void> {
  const client = await redisDb13();
  try {
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) if (keys.length > 0) await client.del(keys);
  } finally {
    await client.quit();
  }
}

export async function topicEnd(topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

export { waitFor, uniqueName };
