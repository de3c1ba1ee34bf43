/**
 * The cluster layout of issue 20 as a chaos run's private stack: three Kafka nodes, Redis with a
 * replica and three Sentinels, HAProxy in front of three ingestions, all started by
 * infra/cluster.sh with a private folder (.cache/chaos-<offset>/cluster) and private ports, so
 * killing its nodes never touches the cluster of `make up CLUSTER=1` nor the one `make test` uses.
 * Beside it, PostgreSQL 15 from infra/infra.sh (the same private cache as the other chaos runs),
 * the grid mock, three ingestions, three pricing workers in one group and the history writer, each
 * a child process (stack.mjs's Service).
 *
 * Ports (default offset 700, so it runs beside `make chaos`'s other runs and the tests' stacks), in
 * two blocks so that two cluster stacks 40 apart never meet: HAProxy gRPC 24061 + offset (stats
 * 24070), ingestions gRPC 24071..24073 + offset and ops 24081..24083, Kafka 24092..24094 +
 * offset (controllers 24095..24097); Redis 26780/26781 + offset, Sentinels 26782..26784 + offset.
 * Beside them PostgreSQL 55532 + offset, grid mock 18081 + offset, pricing ops 19465/19475/19485 +
 * offset, history writer 19466 + offset (stack.mjs's ports).
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { createClient } from 'redis';
import { CHAOS_TOKEN, ROOT, Service, infraStop, sleep, stackConfig } from './stack.mjs';
import { historyService } from './history.mjs';

const { Kafka, logLevel } = kafkajs;
const run = promisify(execFile);

export const CLUSTER_OFFSET = 700;
export const MASTER = 'greenlane';

export function clusterConfig(offset = CLUSTER_OFFSET, dir = undefined) {
  const stack = stackConfig(offset);
  const g = 24061 + offset;
  const r = 26780 + offset;
  const cluster = {
    dir: dir ?? join(stack.cache, 'cluster'),
    grpcPort: g,
    statsPort: g + 9,
    ingestion: [0, 1, 2].map((i) => ({ grpcPort: g + 10 + i, httpPort: g + 20 + i })),
    kafkaPorts: [0, 1, 2].map((i) => g + 31 + i),
    kafkaControllerPort: g + 34,
    redisPorts: [r, r + 1],
    sentinelPorts: [0, 1, 2].map((i) => r + 2 + i),
  };
  return {
    ...stack,
    cluster,
    // infra/infra.sh starts PostgreSQL only beside a Redis and a Kafka: pointed at the cluster's
    // first nodes, it finds them answering and reuses them (no single broker beside the three),
    // and `infraStop(cfg, 'postgres')` stops only what it started.
    redisPort: cluster.redisPorts[0],
    kafkaPort: cluster.kafkaPorts[0],
    kafkaControllerPort: cluster.kafkaControllerPort,
    pricing: [0, 1, 2].map((i) => ({ httpPort: 19465 + offset + 10 * i })),
  };
}

export function clusterUrls(cfg, db) {
  const c = cfg.cluster;
  return {
    brokers: c.kafkaPorts.map((p) => `127.0.0.1:${p}`),
    /** What every GreenLane client of the run is given: it follows a failover (common/src/redis-sentinel.ts). */
    redisUrl: `redis-sentinel://${c.sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}/0#${MASTER}`,
    gridUrl: `http://127.0.0.1:${cfg.gridPort}`,
    adminDbUrl: `postgres://postgres@127.0.0.1:${cfg.postgresPort}/postgres`,
    dbUrl: `postgres://postgres@127.0.0.1:${cfg.postgresPort}/${db}`,
    /** The cars' one address: the balancer. */
    target: `127.0.0.1:${c.grpcPort}`,
    statsUrl: `http://127.0.0.1:${c.statsPort}`,
  };
}

function clusterEnv(cfg) {
  const c = cfg.cluster;
  return {
    ...process.env,
    INFRA_CLUSTER_DIR: c.dir,
    INFRA_CLUSTER_KAFKA_PORT: String(c.kafkaPorts[0]),
    INFRA_CLUSTER_KAFKA_CONTROLLER_PORT: String(c.kafkaControllerPort),
    INFRA_CLUSTER_KAFKA_HEAP: process.env.INFRA_CLUSTER_KAFKA_HEAP ?? '384m',
    INFRA_CLUSTER_REDIS_PORT: String(c.redisPorts[0]),
    INFRA_CLUSTER_SENTINEL_PORT: String(c.sentinelPorts[0]),
    INFRA_CLUSTER_REDIS_MASTER: MASTER,
    INFRA_CLUSTER_GRPC_PORT: String(c.grpcPort),
    INFRA_CLUSTER_HAPROXY_STATS_PORT: String(c.statsPort),
    INFRA_CLUSTER_BIND: '127.0.0.1',
    INFRA_CLUSTER_INGESTIONS: String(c.ingestion.length),
    INFRA_CLUSTER_INGESTION_GRPC_PORT: String(c.ingestion[0].grpcPort),
    INFRA_CLUSTER_INGESTION_OPS_PORT: String(c.ingestion[0].httpPort),
    INFRA_CLUSTER_INGESTION_BACKENDS: '',
    KAFKA_LIBS: process.env.KAFKA_LIBS ?? join(ROOT, '.cache', 'kafka', 'libs'),
    KAFKA_PARTITIONS: '6',
  };
}

/** infra/cluster.sh ARGS... on the run's private cluster; resolves with its stdout and stderr (its own words). */
export async function clusterCmd(cfg, ...args) {
  mkdirSync(cfg.cluster.dir, { recursive: true });
  try {
    const { stdout, stderr } = await run('bash', [join(ROOT, 'infra/cluster.sh'), ...args], { env: clusterEnv(cfg), cwd: ROOT, timeout: 300_000, maxBuffer: 8 << 20 });
    return { stdout: stdout.trim(), stderr: stderr.trim() };
  } catch (error) {
    throw new Error(`infra/cluster.sh ${args.join(' ')} failed: ${(error.stderr || error.message).trim().split('\n').slice(-5).join(' | ')}`);
  }
}

/** The cluster up (what is not answering yet), then PostgreSQL; Redis db 0 emptied and the run's database made. */
export async function prepareClusterRun(cfg, u, db) {
  await clusterCmd(cfg, 'up', 'kafka', 'redis', 'haproxy');
  await run('bash', [join(ROOT, 'infra/infra.sh'), 'up', '--postgres', '--no-embedded-db'], { env: infraEnvFor(cfg), cwd: ROOT, timeout: 180_000 });
  await withPrimary(cfg, (redis) => redis.flushDb());
  const admin = new pg.Client({ connectionString: u.adminDbUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
}

function infraEnvFor(cfg) {
  return {
    ...process.env,
    GREENLANE_CACHE: cfg.cache,
    INFRA_REDIS_PORT: String(cfg.redisPort),
    INFRA_KAFKA_PORT: String(cfg.kafkaPort),
    INFRA_KAFKA_CONTROLLER_PORT: String(cfg.kafkaControllerPort),
    INFRA_POSTGRES_PORT: String(cfg.postgresPort),
    KAFKA_LIBS: process.env.KAFKA_LIBS ?? join(ROOT, '.cache', 'kafka', 'libs'),
  };
}

/** Stops the private cluster and PostgreSQL (what the run started). */
export async function clusterDown(cfg) {
  await infraStop(cfg, 'postgres').catch(() => {});
  await clusterCmd(cfg, 'down');
}

// ---- questions to the cluster ------------------------------------------------------------------

function redisAt(port, timeoutMs = 1000) {
  const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { connectTimeout: timeoutMs, reconnectStrategy: false } });
  client.on('error', () => {});
  return client;
}

/** The primary's port as the first Sentinel that answers names it. */
export async function sentinelPrimary(cfg) {
  for (const port of cfg.cluster.sentinelPorts) {
    const client = redisAt(port, 500);
    try {
      await client.connect();
      const [, p] = await client.sendCommand(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER]);
      return Number(p);
    } catch {
      // the next Sentinel
    } finally {
      client.destroy();
    }
  }
  throw new Error('no Sentinel answers');
}

/** `redis-1` or `redis-2` for a port of the cluster. */
export const redisNode = (cfg, port) => `redis-${cfg.cluster.redisPorts.indexOf(port) + 1}`;

/** The plain URL of the primary now (for the checker, which reads Redis once, at the end). */
export async function primaryUrl(cfg) {
  return `redis://127.0.0.1:${await sentinelPrimary(cfg)}/0`;
}

/** fn(client) on the primary Sentinel names. */
export async function withPrimary(cfg, fn) {
  const client = redisAt(await sentinelPrimary(cfg), 2000);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    client.destroy();
  }
}

/** `role` and `master_link_status` of a Redis node; undefined while it does not answer. */
export async function redisReplication(port) {
  const client = redisAt(port, 500);
  try {
    await client.connect();
    const info = await client.info('replication');
    return { role: /role:(\w+)/.exec(info)?.[1], link: /master_link_status:(\w+)/.exec(info)?.[1] };
  } catch {
    return undefined;
  } finally {
    client.destroy();
  }
}

export function kafkaAdmin(brokers) {
  return new Kafka({
    brokers,
    clientId: 'chaos-cluster',
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 3000,
    retry: { initialRetryTime: 100, maxRetryTime: 500, retries: 3 },
  }).admin();
}

/**
 * The run's topics made before any service starts (RF 3 and min ISR 2 from the brokers' defaults),
 * each partition led and in sync: a service making them itself would meet kafkajs's
 * createTopics wait for leaders, which on three nodes throws UNKNOWN_TOPIC_OR_PARTITION when the
 * broker it asks has not heard of the topic yet (seen here: an ingestion exited at start).
 */
export async function createTopics(brokers, topics) {
  const admin = kafkaAdmin(brokers);
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: false, topics: topics.map((topic) => ({ topic, numPartitions: 6 })) });
    const ready = await timeUntil(async () => {
      for (const topic of topics) if (!(await partitionsOf(admin, topic)).every((p) => p.leader >= 0 && p.isr.length === 3)) return false;
      return true;
    }, 60_000, 250);
    if (ready === null) throw new Error(`topics ${topics.join(', ')} not led and in sync within 60 s`);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** The partitions of `topic`: [{ partitionId, leader, isr }]. */
export async function partitionsOf(admin, topic) {
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  return metadata.topics[0].partitions.map((p) => ({ partitionId: p.partitionId, leader: p.leader, isr: p.isr, replicas: p.replicas }));
}

/** HAProxy's view of each ingestion: [{ server, status, streams }] (its CSV stats page). */
export async function haproxyServers(u) {
  const response = await fetch(`${u.statsUrl}/stats;csv;norefresh`, { signal: AbortSignal.timeout(2000) });
  const [header, ...rows] = (await response.text()).trim().split('\n');
  const names = header.replace(/^# /, '').split(',');
  return rows
    .map((row) => Object.fromEntries(row.split(',').map((v, i) => [names[i], v])))
    .filter((f) => f.pxname === 'ingestions' && f.svname !== 'BACKEND')
    .map((f) => ({ server: f.svname, status: f.status, streams: Number(f.scur) }));
}

/** Polls `check` every `everyMs` until it is truthy: the ms it took, or null after `timeoutMs`. */
export async function timeUntil(check, timeoutMs, everyMs = 100, from = Date.now()) {
  for (;;) {
    const ok = await Promise.resolve().then(check).catch(() => false);
    if (ok) return Date.now() - from;
    if (Date.now() - from > timeoutMs) return null;
    await sleep(everyMs);
  }
}

/**
 * The run's consistent view of the slots (each station read in one MULTI, so no booking script
 * runs between its four reads): stations whose free + booked + occupied is not their slots.
 */
export async function slotsSnapshot(cfg) {
  return withPrimary(cfg, async (redis) => {
    const stations = await redis.zRange('stations:locations', 0, -1);
    const wrong = [];
    for (const id of stations) {
      const [slots, free, booked, occupied] = await redis
        .multi()
        .hGet(`station:${id}:info`, 'slots')
        .get(`station:${id}:capacity`)
        .sCard(`station:${id}:booked`)
        .sCard(`station:${id}:occupied`)
        .exec();
      if (!(Number(free) >= 0 && Number(free) + booked + occupied === Number(slots))) wrong.push({ station: id, slots: Number(slots), free: Number(free), booked, occupied });
    }
    return { stations: stations.length, wrong };
  });
}

// ---- the services ------------------------------------------------------------------------------

/** Three ingestions (behind HAProxy), three pricing workers in one group, the history writer, the grid mock. */
export function createClusterServices(cfg, u, { topic, dlqTopic, groupId, logDir, pricingSessionTimeoutMs = 10_000 }) {
  mkdirSync(logDir, { recursive: true });
  const logLevelName = process.env.CHAOS_LOG_LEVEL ?? 'info';
  const kafka = u.brokers.join(',');
  const grid = new Service('grid-mock', 'grid-mock/dist/src/main.js', { GRID_ADDR: `127.0.0.1:${cfg.gridPort}`, LOG_LEVEL: logLevelName }, logDir, `${u.gridUrl}/health`);
  const ingestion = cfg.cluster.ingestion.map(
    (p, i) =>
      new Service(
        `ingestion-${i + 1}`,
        'ingestion/dist/src/main.js',
        {
          KAFKA_BROKERS: kafka,
          FLEET_EVENTS_TOPIC: topic,
          FLEET_EVENTS_PARTITIONS: '6',
          REDIS_URL: u.redisUrl,
          GRID_URL: u.gridUrl,
          INGESTION_ADDR: `127.0.0.1:${p.grpcPort}`,
          INGESTION_HTTP_ADDR: `127.0.0.1:${p.httpPort}`,
          INGESTION_INSTANCE_ID: `ingestion-${i + 1}`,
          API_TOKENS: CHAOS_TOKEN,
          // A booking is confirmed only once the replica holds it (Redis WAIT): Sentinel promoting
          // the replica never takes back a confirmation.
          BOOKING_WAIT_REPLICAS: '1',
          // Every car arrives from HAProxy's address, load cars far above 50 msgs/s: no limits.
          INGESTION_CAR_RATE: '0',
          INGESTION_STREAM_RATE: '0',
          LOG_LEVEL: logLevelName,
        },
        logDir,
        `http://127.0.0.1:${p.httpPort}/ready`,
      ),
  );
  const pricing = cfg.pricing.map(
    (p, i) =>
      new Service(
        `pricing-worker-${i + 1}`,
        'pricing-worker/dist/src/main.js',
        {
          KAFKA_BROKERS: kafka,
          FLEET_EVENTS_TOPIC: topic,
          GRID_URL: u.gridUrl,
          DATABASE_URL: u.dbUrl,
          PRICING_DLQ_TOPIC: dlqTopic,
          PRICING_GROUP_ID: groupId,
          PRICING_HTTP_ADDR: `127.0.0.1:${p.httpPort}`,
          PRICING_SESSION_TIMEOUT_MS: String(pricingSessionTimeoutMs),
          PRICING_POOL_SIZE: '1',
          LOG_LEVEL: logLevelName,
        },
        logDir,
        `http://127.0.0.1:${p.httpPort}/health`,
      ),
  );
  const history = historyService(cfg, { topic, dbUrl: u.dbUrl, logDir, brokers: u.brokers });
  return { grid, ingestion, pricing, history, all: () => [grid, ...ingestion, ...pricing, history] };
}
