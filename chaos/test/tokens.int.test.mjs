// A private stack sets its own token: with API_TOKENS set in the parent's environment (as a
// deployer's shell has it), the stack's ingestion still accepts the stack's simulator, and a
// simulator whose token is refused stops the run at once with the reason (it used to go through
// three faults reporting "(0 acknowledged so far)"). The ingestion runs on the shared Redis (its own
// database, 14) and Kafka (its own topic); the other private servers are not needed here.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { countAcked, firstAck, startSimulator } from '../lib/run-chaos.mjs';
import { createServices, stackConfig } from '../lib/stack.mjs';

// What a deployer's shell has; the development token the simulator used to send is not among them.
process.env.API_TOKENS = 'shell-token-a,shell-token-b';
delete process.env.API_TOKEN;

const cfg = { ...stackConfig(400), redisPort: 6379, redisDb: 14, kafkaPort: 19092 };
const dir = mkdtempSync(join(tmpdir(), 'chaos-tokens-'));
const topics = [];

async function fleet(name, ingestionEnv = {}) {
  const topic = `chaos-tokens-${name}-${Date.now()}`;
  topics.push(topic);
  const services = createServices(cfg, { topic, dlqTopic: `${topic}-dlq`, groupId: `${topic}-g`, dbUrl: 'postgres://127.0.0.1:1/unused', logDir: join(dir, name), ingestions: 1 });
  const ingestion = services.ingestion[0];
  Object.assign(ingestion.env, ingestionEnv);
  await ingestion.start();
  const ackedLog = join(dir, name, 'acked.log');
  const sim = startSimulator({
    name: 'simulator', target: `127.0.0.1:${cfg.ingestion[0].grpcPort}`, cars: 3, intervalMs: 100, seed: 1,
    prefix: `TOK${name.slice(0, 3).toUpperCase()}-`, ackedLog, logDir: join(dir, name),
  });
  return { sim: { ...sim, ackedLog }, ingestion };
}

async function stop({ sim, ingestion }) {
  sim.stop();
  await sim.done;
  await ingestion.stop(15_000, true);
}

test.after(async () => {
  const admin = new kafkajs.Kafka({ brokers: ['127.0.0.1:19092'], logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.deleteTopics({ topics }).catch(() => {});
  await admin.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

test('with API_TOKENS set in the shell, the private ingestion accepts the private simulator', async () => {
  const f = await fleet('accepted');
  try {
    await firstAck([f.sim], 30_000, dir);
    assert.ok(countAcked([f.sim.ackedLog]) > 0);
  } finally {
    await stop(f);
  }
  const summary = await f.sim.done;
  assert.is(summary.rejected, 0, JSON.stringify(summary));
  assert.ok(summary.acked > 0, JSON.stringify(summary));
});

test('a simulator whose token is refused stops the run at once, saying so', async () => {
  const f = await fleet('refused', { API_TOKENS: 'not-the-chaos-token' });
  let error;
  try {
    await firstAck([f.sim], 60_000, dir);
  } catch (e) {
    error = e;
  } finally {
    await stop(f);
  }
  assert.ok(error, 'the wait for the first acknowledgement failed');
  assert.match(error.message, /refused the simulator's token/);
  assert.match(error.message, /UNAUTHENTICATED/);
  assert.is((await f.sim.done).exitCode, 3);
});

test.run();
