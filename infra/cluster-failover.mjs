#!/usr/bin/env node
// Failover figures of the cluster layout (infra/cluster.sh), printed, never asserted:
//   - Kafka: kill -9 of the node leading the most fleet-events partitions, then of the active
//     controller (the same node when it is both: each is timed the same way); per partition, the time
//     until a write with acks=all (the ingestion's producer settings: idempotent, one in flight,
//     retries every 100 ms to 1 s) is acknowledged again; the node restarted, back in every ISR.
//   - Redis: kill -9 of the primary; the time until the Sentinels name the replica, and until it
//     takes a write; the old primary restarted, replicating the new one. And what WAIT costs.
//   - HAProxy: restart; the time until a new gRPC stream through it is answered (echo backends).
//   - The start of the whole cluster (with its data folders in place).
//
//   node infra/cluster-failover.mjs [--repeat N] [--skip start,kafka,kafka-leader,kafka-controller,redis,haproxy] [--json]
// It runs on the cluster the INFRA_CLUSTER_* variables point at (default ports, .cache/cluster),
// starting what is down; it kills and restarts nodes of it, so nothing else should be using it.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';
import { createClient } from 'redis';
import { startEchoBackend, echoClient, converse } from './cluster/grpc-echo.mjs';

const { Kafka, logLevel } = kafkajs;
const ROOT = new URL('..', import.meta.url).pathname;
const run = promisify(execFile);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const repeat = Number(opt('--repeat', '1'));
const skip = new Set(opt('--skip', '').split(',').filter(Boolean));
const json = args.includes('--json');

const env = process.env;
const base = (name, fallback) => Number(env[name] ?? fallback);
const kafkaPorts = [0, 1, 2].map((i) => base('INFRA_CLUSTER_KAFKA_PORT', 22092) + i);
const brokers = kafkaPorts.map((p) => `127.0.0.1:${p}`);
const redisPorts = [0, 1].map((i) => base('INFRA_CLUSTER_REDIS_PORT', 26380) + i);
const sentinelPorts = [0, 1, 2].map((i) => base('INFRA_CLUSTER_SENTINEL_PORT', 26479) + i);
const master = env.INFRA_CLUSTER_REDIS_MASTER ?? 'greenlane';
const grpcPort = base('INFRA_CLUSTER_GRPC_PORT', 50061);
const topic = 'fleet-events';

const clusterDir = env.INFRA_CLUSTER_DIR ?? `${env.GREENLANE_CACHE ?? `${ROOT}.cache`}/cluster`;
/** SIGKILL of the node's process group (what `infra/cluster.sh kill` does), timed here to the millisecond. */
function kill9(name) {
  const pid = Number(readFileSync(`${clusterDir}/run/${name}.pid`, 'utf8'));
  process.kill(-pid, 'SIGKILL');
  return Date.now();
}
const log = (line) => { if (!json) console.log(line); };
async function cluster(...command) {
  const { stdout } = await run('bash', [`${ROOT}infra/cluster.sh`, ...command], { cwd: ROOT, timeout: 300_000 });
  return stdout.trim();
}
const stats = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { n: sorted.length, min: sorted[0], p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] };
};
async function waitFor(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function kafkaClient() {
  return new Kafka({ clientId: 'cluster-failover', brokers, logLevel: logLevel.NOTHING, retry: { initialRetryTime: 200, maxRetryTime: 2000, retries: 30 } });
}

async function partitionsOf(admin) {
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  return metadata.topics[0].partitions;
}

/** victim: 'leader' (the node leading the most fleet-events partitions) or 'controller' (the active one). */
async function kafkaFailover(victim) {
  const kafka = kafkaClient();
  const admin = kafka.admin();
  await admin.connect();
  const parts = await partitionsOf(admin);
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 1000 } });
  await producer.connect();
  const send = (partition) => producer.send({ topic, acks: -1, timeout: 10_000, messages: [{ partition, key: `failover-${partition}`, value: JSON.stringify({ event_type: 'failover_probe', at: Date.now() }) }] });
  // Warm: every partition written once, metadata and connections in place.
  await Promise.all(parts.map((p) => send(p.partitionId)));
  const quorum = await cluster('quorum').catch(() => '?');
  const controller = /leader (kafka-\d)/.exec(quorum)?.[1];
  const killed = victim === 'controller' ? controller
    : `kafka-${(await run('node', [`${ROOT}infra/cluster/admin.mjs`, 'kafka-leader-most', brokers.join(','), topic])).stdout.trim()}`;
  const killedAt = kill9(killed);
  // Each partition: writes one after the other from the kill on; the first acknowledged one ends its outage.
  const recovered = await Promise.all(parts.map(async (p) => {
    for (;;) {
      try {
        await send(p.partitionId);
        return { partition: p.partitionId, leaderBefore: p.leader, ms: Date.now() - killedAt };
      } catch {
        if (Date.now() - killedAt > 60_000) return { partition: p.partitionId, leaderBefore: p.leader, ms: Infinity };
      }
    }
  }));
  // The node back, caught up in every ISR.
  const restartAt = Date.now();
  await cluster('start', killed);
  const admin2 = kafka.admin();
  await admin2.connect();
  await waitFor('every ISR complete again', async () => (await partitionsOf(admin2)).every((p) => p.isr.length === 3), 120_000);
  const rejoinMs = Date.now() - restartAt;
  await admin2.disconnect();
  await producer.disconnect();
  await cluster('rebalance');
  return { victim, killed, wasController: killed === controller, leadsBefore: parts.filter((p) => p.leader === Number(killed.split('-')[1])).length, quorumBefore: quorum, perPartition: recovered, maxMs: Math.max(...recovered.map((r) => r.ms)), rejoinMs };
}

async function redisRole(port) {
  const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { connectTimeout: 1000, reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.info('replication')).match(/role:(\w+)/)?.[1];
  } finally {
    client.destroy();
  }
}

async function sentinelPrimary() {
  for (const port of sentinelPorts) {
    const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { connectTimeout: 500, reconnectStrategy: false } });
    client.on('error', () => {});
    try {
      await client.connect();
      const [, p] = await client.sendCommand(['SENTINEL', 'get-master-addr-by-name', master]);
      return Number(p);
    } catch {
      // the next Sentinel
    } finally {
      client.destroy();
    }
  }
  throw new Error('no Sentinel answers');
}

async function waitCost(port) {
  const client = createClient({ url: `redis://127.0.0.1:${port}` });
  await client.connect();
  const plain = [];
  const waited = [];
  for (let i = 0; i < 2000; i++) {
    let t = process.hrtime.bigint();
    await client.set(`failover:probe:${i % 50}`, String(i));
    plain.push(Number(process.hrtime.bigint() - t) / 1e6);
    t = process.hrtime.bigint();
    await client.set(`failover:probe:${i % 50}`, String(i));
    const acked = await client.sendCommand(['WAIT', '1', '1000']);
    waited.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (acked < 1) throw new Error('WAIT 1 saw no replica');
  }
  await client.destroy();
  const round = (s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === 'n' ? v : Number(v.toFixed(3))]));
  return { set: round(stats(plain)), setThenWait1: round(stats(waited)) };
}

async function redisFailover() {
  const primary = await sentinelPrimary();
  const replica = redisPorts.find((p) => p !== primary);
  const cost = await waitCost(primary);
  const name = `redis-${redisPorts.indexOf(primary) + 1}`;
  const killedAt = kill9(name);
  await waitFor('the Sentinels to name the replica', async () => (await sentinelPrimary()) === replica, 60_000);
  const switchedMs = Date.now() - killedAt;
  const client = createClient({ url: `redis://127.0.0.1:${replica}`, socket: { reconnectStrategy: () => 50 } });
  client.on('error', () => {});
  await client.connect();
  await waitFor('a write to the new primary', async () => (await client.set('failover:after', String(Date.now()))) === 'OK', 60_000);
  const writableMs = Date.now() - killedAt;
  await client.destroy();
  const restartAt = Date.now();
  await cluster('start', name);
  await waitFor('the old primary to replicate the new one', async () => (await redisRole(primary)) === 'slave', 60_000);
  const rejoinMs = Date.now() - restartAt;
  return { killed: name, sentinelSwitchMs: switchedMs, writableMs, oldPrimaryReplicaAfterMs: rejoinMs, waitCostMs: cost };
}

async function haproxyRestart() {
  const n = Number(env.INFRA_CLUSTER_INGESTIONS ?? 3);
  const backends = await Promise.all(Array.from({ length: n }, (_, i) => startEchoBackend({ name: `echo-${i + 1}`, grpcPort: base('INFRA_CLUSTER_INGESTION_GRPC_PORT', 50071) + i, opsPort: base('INFRA_CLUSTER_INGESTION_OPS_PORT', 9471) + i })));
  try {
    let client = echoClient(`127.0.0.1:${grpcPort}`);
    await waitFor('a stream through haproxy', async () => (await converse(client, ['x'], 'end')).code === 0, 30_000);
    const open = client.stream();
    const cut = new Promise((resolve) => open.on('status', resolve));
    open.on('error', () => {});
    open.write('hold');
    const restartAt = Date.now();
    await cluster('restart', 'haproxy');
    const status = await cut;
    client.close();
    client = echoClient(`127.0.0.1:${grpcPort}`);
    await waitFor('a new stream after the restart', async () => (await converse(client, ['y'], 'end')).code === 0, 30_000);
    const backMs = Date.now() - restartAt;
    client.close();
    return { restartToNewStreamMs: backMs, openStreamEndedWith: `${status.code} ${status.details}` };
  } finally {
    await Promise.all(backends.map((b) => b.close()));
  }
}

async function clusterStart() {
  await cluster('down');
  const t = Date.now();
  await cluster('up');
  return { upMs: Date.now() - t };
}

const results = { at: new Date().toISOString(), load: (await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' '), runs: [] };
await cluster('up');
for (let r = 0; r < repeat; r++) {
  const one = {};
  if (!skip.has('start')) {
    one.start = await clusterStart();
    log(`cluster start (down, then up; data in place): ${(one.start.upMs / 1000).toFixed(1)} s`);
  }
  for (const victim of ['leader', 'controller']) {
    if (skip.has('kafka') || skip.has(`kafka-${victim}`)) continue;
    const k = await kafkaFailover(victim);
    one[`kafka-${victim}`] = k;
    log(`kafka: kill -9 of ${k.killed}, ${victim === 'leader' ? 'the node leading the most partitions' : 'the active controller'} (led ${k.leadsBefore} of ${k.perPartition.length} partitions${k.wasController ? ', was the active controller' : ''}; before: ${k.quorumBefore})`);
    log(`  acks=all acknowledged again after: ${k.perPartition.sort((a, b) => a.partition - b.partition).map((p) => `p${p.partition} (led by ${p.leaderBefore}) ${p.ms} ms`).join(', ')}`);
    log(`  all partitions: ${k.maxMs} ms; the node restarted and back in every ISR after ${(k.rejoinMs / 1000).toFixed(1)} s`);
  }
  if (!skip.has('redis')) {
    const d = await redisFailover();
    one.redis = d;
    log(`redis: kill -9 of the primary (${d.killed}): Sentinels name the replica after ${d.sentinelSwitchMs} ms, it takes writes after ${d.writableMs} ms; the old primary restarted is a replica after ${(d.oldPrimaryReplicaAfterMs / 1000).toFixed(1)} s`);
    log(`  SET ms p50/p99 ${d.waitCostMs.set.p50}/${d.waitCostMs.set.p99}; SET then WAIT 1 ${d.waitCostMs.setThenWait1.p50}/${d.waitCostMs.setThenWait1.p99} (n=${d.waitCostMs.set.n})`);
  }
  if (!skip.has('haproxy')) {
    const h = await haproxyRestart();
    one.haproxy = h;
    log(`haproxy: restart; an open stream ended with "${h.openStreamEndedWith}"; a new stream answered ${h.restartToNewStreamMs} ms after the restart began`);
  }
  results.runs.push(one);
}
log(`(load average at the start: ${results.load}; ${(await import('node:os')).cpus().length} cores)`);
if (json) console.log(JSON.stringify(results, null, 2));
