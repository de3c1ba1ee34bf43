// The cluster layout of infra/cluster.sh (issue 20), on real servers of its own: private ports and
// folder (.cache/cluster-test), so it runs beside the shared single servers and a cluster of
// `make up CLUSTER=1`. Three KRaft nodes form a quorum; a topic created as the services create
// theirs (common's ensureTopics, no replication factor given) gets replication factor 3 and
// min.insync.replicas 2; writes with acks=all go on after kill -9 of the node leading the most
// partitions, nothing acknowledged is missing, and with two nodes gone nothing is acknowledged.
// Sentinel promotes the replica when the primary is killed and the old primary rejoins as a
// replica. HAProxy carries gRPC bidi streams with their trailers over HTTP/2, spreads streams over
// the instances, drops the one whose /ready fails, and a restart cuts streams that reconnect.
// Failover times are printed by infra/cluster-failover.mjs, not asserted here.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { createClient } from 'redis';
import { ensureTopics } from '../../common/dist/src/kafka.js';
import { startEchoBackend, echoClient, converse } from '../../infra/cluster/grpc-echo.mjs';

const { Kafka, logLevel, ConfigResourceTypes } = kafkajs;
const ROOT = new URL('../..', import.meta.url).pathname;
const run = promisify(execFile);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Private ports: none of the defaults (22092.., 26380.., 50061, 9470..) nor the chaos stacks'.
const P = {
  kafka: 23092, controller: 23192, redis: 26580, sentinel: 26679,
  grpc: 23061, stats: 23070, ingGrpc: 23071, ingOps: 23081,
};
const env = {
  ...process.env,
  INFRA_CLUSTER_DIR: join(ROOT, '.cache', 'cluster-test'),
  INFRA_CLUSTER_KAFKA_PORT: String(P.kafka),
  INFRA_CLUSTER_KAFKA_CONTROLLER_PORT: String(P.controller),
  INFRA_CLUSTER_KAFKA_HEAP: '320m',
  // C1 only: the JVMs start sooner on a busy machine (the test needs no peak throughput).
  INFRA_CLUSTER_KAFKA_OPTS: '-XX:TieredStopAtLevel=1',
  INFRA_CLUSTER_REDIS_PORT: String(P.redis),
  INFRA_CLUSTER_SENTINEL_PORT: String(P.sentinel),
  INFRA_CLUSTER_GRPC_PORT: String(P.grpc),
  INFRA_CLUSTER_HAPROXY_STATS_PORT: String(P.stats),
  INFRA_CLUSTER_INGESTIONS: '2',
  INFRA_CLUSTER_INGESTION_GRPC_PORT: String(P.ingGrpc),
  INFRA_CLUSTER_INGESTION_OPS_PORT: String(P.ingOps),
  INFRA_CLUSTER_INGESTION_BACKENDS: '',
};
const brokers = [0, 1, 2].map((i) => `127.0.0.1:${P.kafka + i}`);

async function cluster(...args) {
  try {
    const { stdout } = await run('bash', [join(ROOT, 'infra/cluster.sh'), ...args], { cwd: ROOT, env, timeout: 240_000 });
    return stdout.trim();
  } catch (error) {
    throw new Error(`infra/cluster.sh ${args.join(' ')} failed: ${error.stderr || error.message}`);
  }
}

async function waitFor(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(100);
  }
}

const kafkaClient = (list = brokers, retry = { initialRetryTime: 100, maxRetryTime: 1000, retries: 30 }) =>
  new Kafka({ clientId: 'cluster-test', brokers: list, logLevel: logLevel.NOTHING, retry, connectionTimeout: 1500 });

async function redisAt(port, fn) {
  const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { connectTimeout: 1000, reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    client.destroy();
  }
}
const primaryPort = () => redisAt(P.sentinel, async (c) => Number((await c.sendCommand(['SENTINEL', 'get-master-addr-by-name', 'greenlane']))[1]));
/** HAProxy's view of the instances: "ingestion-1 UP streams=0 ..." lines. */
const haproxyServers = async () => (await run('node', [join(ROOT, 'infra/cluster/admin.mjs'), 'haproxy', String(P.stats)])).stdout;
const role = (port) => redisAt(port, async (c) => /role:(\w+)/.exec(await c.info('replication'))?.[1]);

// Kafka takes the longest to start: it boots while Redis and HAProxy are tested.
let kafkaUp;
const backends = [];

const t0 = Date.now();
const mark = (what) => console.log(`  [${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`);
test.before(async () => {
  kafkaUp = cluster('up', 'kafka').then((out) => (mark('kafka up'), out));
  kafkaUp.catch(() => {});
  await cluster('up', 'redis', 'haproxy');
  mark('redis and haproxy up');
});

test.after.each(() => mark('test done'));

test.after(async () => {
  await Promise.all(backends.map((b) => b.close()));
  await kafkaUp?.catch(() => {});
  mark('tests done');
  await cluster('down').catch((error) => console.error(error.message));
  mark('cluster down');
});

test('Sentinel promotes the replica when the primary is killed; the old primary comes back as its replica', async () => {
  const before = await primaryPort();
  const replica = before === P.redis ? P.redis + 1 : P.redis;
  const key = `cluster-test:${process.pid}`;
  // Written to the primary and, by WAIT, to the replica before the primary dies.
  const copies = await redisAt(before, async (c) => {
    await c.set(key, 'confirmed');
    return c.sendCommand(['WAIT', '1', '2000']);
  });
  assert.equal(copies, 1, 'WAIT 1: the replica has the write');
  await cluster('kill', 'redis-primary');
  await waitFor('the Sentinels to name the replica', async () => (await primaryPort()) === replica, 30_000);
  await waitFor('the new primary to take writes', () => redisAt(replica, async (c) => (await c.set(`${key}:after`, '1')) === 'OK'), 10_000);
  assert.equal(await role(replica), 'master');
  assert.equal(await redisAt(replica, (c) => c.get(key)), 'confirmed', 'what WAIT confirmed survived the failover');
  await cluster('start', `redis-${before - P.redis + 1}`);
  await waitFor('the old primary to replicate the new one', async () => (await role(before)) === 'slave', 30_000);
  assert.equal(await redisAt(before, (c) => c.get(key)), 'confirmed');
});

test('HAProxy carries gRPC bidi streams and their trailers over HTTP/2, spread over the instances', async () => {
  backends.push(
    await startEchoBackend({ name: 'echo-1', grpcPort: P.ingGrpc, opsPort: P.ingOps }),
    await startEchoBackend({ name: 'echo-2', grpcPort: P.ingGrpc + 1, opsPort: P.ingOps + 1 }),
  );
  const client = echoClient(`127.0.0.1:${P.grpc}`);
  await waitFor('both instances up behind HAProxy', async () => (await haproxyServers()).match(/ingestion-\d UP/g)?.length === 2, 15_000);
  const long = await converse(client, Array.from({ length: 200 }, (_, i) => `m${i}`), 'end');
  assert.equal(long.echoes.length, 200);
  assert.equal(long.code, 0);
  assert.ok(long.trailer, 'the trailing metadata of an OK status crossed the balancer');
  const failed = await converse(client, ['a'], 'fail');
  assert.equal(failed.code, 9, 'grpc-status FAILED_PRECONDITION from the trailers');
  assert.match(failed.details, /told to fail by echo-\d/);
  assert.ok(failed.trailer);
  // 200 streams at once on one connection, spread by leastconn.
  const many = await Promise.all(Array.from({ length: 200 }, (_, i) => converse(client, [`s${i}`], 'end')));
  assert.ok(many.every((m) => m.code === 0 && m.echoes.length === 1));
  const by = new Set(many.map((m) => m.echoes[0].split(':')[0]));
  assert.equal([...by].sort(), ['echo-1', 'echo-2']);
  client.close();
});

test('HAProxy drops an instance whose /ready fails and takes it back; a restart ends open streams and new ones are answered', async () => {
  const [one, two] = backends;
  const client = echoClient(`127.0.0.1:${P.grpc}`);
  one.setReady(false);
  await waitFor('ingestion-1 marked down', async () => /ingestion-1 DOWN/.test(await haproxyServers()), 10_000);
  const after = await Promise.all(Array.from({ length: 20 }, (_, i) => converse(client, [`t${i}`], 'end')));
  assert.ok(after.every((m) => m.code === 0 && m.echoes[0].startsWith('echo-2:')), 'every new stream to the ready instance');
  one.setReady(true);
  await waitFor('ingestion-1 up again', async () => /ingestion-1 UP/.test(await haproxyServers()), 10_000);
  // A stream held open through the restart ends (it does not hang); a new one is answered.
  const open = client.stream();
  open.on('error', () => {});
  const ended = new Promise((resolve) => open.on('status', resolve));
  open.write('hold');
  await new Promise((resolve) => open.once('data', resolve));
  await cluster('restart', 'haproxy');
  const status = await ended;
  assert.is.not(status.code, 0, 'the open stream ended with an error status');
  client.close();
  const fresh = echoClient(`127.0.0.1:${P.grpc}`);
  await waitFor('a new stream after the restart', async () => (await converse(fresh, ['y'], 'end')).code === 0, 15_000);
  fresh.close();
  assert.ok(two.streams() > 0);
});

test('three KRaft nodes form one quorum; the services\' topics get replication factor 3 and min.insync.replicas 2', async () => {
  await kafkaUp;
  const status = await cluster('status');
  assert.match(status, /kafka: controller quorum of 3 voters: leader kafka-\d, followers kafka-\d \(lag \d+\), kafka-\d \(lag \d+\)/);
  assert.match(status, /fleet-events: 6 partitions, replication factor 3, min.insync.replicas 2; all in sync/);
  for (const n of [1, 2, 3]) assert.match(status, new RegExp(`kafka-${n}: up on ${P.kafka + n - 1} \\(pid \\d+\\)`));
});

test('acks=all goes on after kill -9 of the node leading the most partitions, nothing acknowledged is lost; with two nodes gone nothing is acknowledged', async () => {
  await kafkaUp;
  const kafka = kafkaClient();
  const topic = `cluster-test-${process.pid}`;
  // As every service creates its topics: no replication factor given.
  await ensureTopics(kafka, [{ topic, numPartitions: 6 }]);
  const admin = kafka.admin();
  await admin.connect();
  // ensureTopics saw the topic led through one broker; the one asked here may not have heard of it yet.
  let parts = [];
  await waitFor('the new topic\'s metadata', async () => {
    parts = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions;
    return parts.length === 6 && parts.every((p) => p.leader >= 0);
  }, 15_000);
  assert.ok(parts.every((p) => p.replicas.length === 3), 'replication factor 3 from the brokers\' default');
  // describeConfigs goes to any one broker, and a broker that has not yet applied the new topic's
  // metadata answers UNKNOWN_TOPIC_OR_PARTITION ("This server does not host this topic-partition").
  const configs = await waitFor('the new topic\'s configuration from any broker', () =>
    admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['min.insync.replicas', 'unclean.leader.election.enable'] }], includeSynonyms: false }), 15_000);
  const value = (name) => configs.resources[0].configEntries.find((e) => e.configName === name)?.configValue;
  assert.equal(value('min.insync.replicas'), '2');
  assert.equal(value('unclean.leader.election.enable'), 'false');

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 1000 } });
  await producer.connect();
  let acknowledged = 0;
  const writeAll = async (round) => {
    await Promise.all(parts.map(async (p) => {
      await producer.send({ topic, acks: -1, timeout: 10_000, messages: Array.from({ length: 10 }, (_, i) => ({ partition: p.partitionId, value: `${round}-${i}` })) });
      acknowledged += 10;
    }));
  };
  await writeAll('before');
  const leader = `kafka-${(await run('node', [join(ROOT, 'infra/cluster/admin.mjs'), 'kafka-leader-most', brokers.join(','), topic])).stdout.trim()}`;
  await cluster('kill', leader);
  const killedAt = Date.now();
  await writeAll('after');
  console.log(`  (every partition acknowledged acks=all again ${Date.now() - killedAt} ms after the kill)`);
  await producer.disconnect();
  // Every acknowledged message is on the topic, once (idempotent producer): the high watermarks add up.
  const offsets = await admin.fetchTopicOffsets(topic);
  assert.equal(offsets.reduce((n, o) => n + Number(o.high), 0), acknowledged);
  await admin.disconnect();

  // A second node gone: one of three in sync is below min.insync.replicas, so acks=all is refused.
  const alive = ['kafka-1', 'kafka-2', 'kafka-3'].filter((n) => n !== leader);
  await cluster('kill', alive[0]);
  const last = alive[1];
  const lone = kafkaClient([`127.0.0.1:${P.kafka + Number(last.split('-')[1]) - 1}`], { retries: 0 });
  const p2 = lone.producer({ retry: { retries: 0 } });
  await p2.connect();
  const outcomes = await Promise.all(parts.map((p) =>
    p2.send({ topic, acks: -1, timeout: 3000, messages: [{ partition: p.partitionId, value: 'one node left' }] }).then(() => 'acknowledged', (e) => e.type ?? e.name),
  ));
  await p2.disconnect().catch(() => {});
  assert.ok(outcomes.every((o) => o !== 'acknowledged'), `no write acknowledged by one node: ${outcomes.join(', ')}`);
});

test.run();
