// The short form of the auth fuzz phase of `node chaos/fuzz.mjs` (lib/fuzz-auth.mjs): every kind of
// hostile credential and handshake five times, a new-stream flood from one address and one car over
// its message rate, at a TLS + JWT ingestion and a mutual-TLS one, with 4 valid cars streaming through
// each (a minted JWT per car; a certificate per car). It runs on the shared Redis (its own database,
// 15, emptied first) and Kafka (its own topic), like tokens.int.test.mjs: the phase needs no private
// stack of its own, and a private Kafka would take most of the test's time to start.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { createClient } from 'redis';
import { AUTH_CASES, formatAuth, runAuthFuzz } from '../lib/fuzz-auth.mjs';
import { stackConfig } from '../lib/stack.mjs';

const cfg = { ...stackConfig(600), redisPort: 6379, redisDb: 15, kafkaPort: 19092 };
const runId = `fuzz-auth-${Date.now()}`;
const topic = runId;
const dir = join(cfg.cache, 'runs', runId);

test('auth fuzz, short: every hostile credential and handshake refused and counted by its reason, nothing of it stored, the valid cars lose nothing', async () => {
  mkdirSync(dir, { recursive: true });
  const redis = createClient({ url: `redis://127.0.0.1:${cfg.redisPort}/${cfg.redisDb}` });
  await redis.connect();
  await redis.flushDb();
  await redis.quit();
  const perKind = 5;
  const a = await runAuthFuzz({ cfg, dir, topic, runId, count: perKind * AUTH_CASES.length, flood: 1000, carFloodMessages: 500, cars: 4 });
  process.stderr.write(`${formatAuth(a)}\n`);
  const wrong = JSON.stringify(a.examples);
  assert.is(a.sent, perKind * AUTH_CASES.length);
  assert.equal(a.kindsWrong, [], `kinds answered otherwise than a correct ingestion does: ${wrong} (logs in ${dir})`);
  for (const [kind, k] of Object.entries(a.byKind)) assert.is(k.sent, perKind, kind);
  for (const [reason, r] of Object.entries(a.reasons)) assert.ok(r.ok, `ingestion_auth_refused_total{${reason}} grew by ${r.counted}, ${r.expected} such refusals were seen`);
  for (const [port, u] of Object.entries(a.unauthenticated)) assert.is(u.errorsDelta, u.refusedDelta, `${port}: errors_total{unauthenticated} counts every refusal`);
  for (const [key, m] of Object.entries(a.mismatch)) assert.ok(m.ok, `identity_mismatch_total ${key}: counted ${m.counted}, sent ${m.expected}`);
  assert.ok(a.mismatch['tls jwt']?.expected > 0 && a.mismatch['mtls certificate']?.expected > 0, JSON.stringify(a.mismatch));
  assert.ok(a.flood.ok && a.flood.streamRate > 0, `the stream flood: ${JSON.stringify(a.flood)}`);
  assert.ok(a.carFlood.ok && a.carFlood.rateLimited > 0, `one car over its rate: ${JSON.stringify(a.carFlood)}`);
  assert.equal([a.stored.keys, a.stored.indexMembers, a.stored.onTopic], [0, 0, 0], `stored from refused calls: ${JSON.stringify(a.stored)}`);
  assert.equal(a.jwtsInLogs, {}, `JWTs written to the ingestions' logs (in ${dir}): ${JSON.stringify(a.jwtsInLogs)}`);
  assert.equal(a.crashes, [], 'no ingestion crashed');
  assert.ok(Object.values(a.alive).every(Boolean), `both ingestions ready at the end: ${JSON.stringify(a.alive)}`);
  assert.is(a.valid.lost, 0, `valid CarStatus acknowledged but not on the topic: ${JSON.stringify(a.valid.lostExamples)}`);
  assert.ok(a.valid.acked > 0 && a.valid.simulators.every((s) => s.rejected === 0), JSON.stringify(a.valid.simulators));
  assert.is(a.valid.cars, a.valid.expectedCars, 'every valid car acknowledged');
  assert.is(a.valid.silentAfter, 0, 'every valid car kept streaming through the fuzz');
  assert.ok(a.valid.simulators.every((s) => s.reconnects === 0), `no valid car's stream broken: ${JSON.stringify(a.valid.simulators)}`);
  assert.ok(a.ok);
});

test.after(async () => {
  const admin = new kafkajs.Kafka({ brokers: [`127.0.0.1:${cfg.kafkaPort}`], logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin.disconnect();
});

test.run();
