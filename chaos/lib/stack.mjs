/**
 * The private GreenLane stack a chaos run owns: its own Redis, Kafka and PostgreSQL 15 (started by
 * infra/infra.sh with a private cache folder and ports, so stopping them never touches the shared
 * servers), the grid mock, one or two ingestions and two pricing workers, each a child process
 * whose log goes to the run folder. Every port is the default one plus an offset.
 */
import { spawn, execFile } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { createClient } from 'redis';

export const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
/**
 * The one token of a private stack: its ingestions accept only it and its simulators and fuzzers
 * send it, whatever API_TOKENS / API_TOKEN the shell has (a deployer's shell has them set).
 */
export const CHAOS_TOKEN = 'chaos-private-token';
/** The operators' token of a private stack: its command API accepts only it (never CHAOS_TOKEN, a vehicle token). */
export const CHAOS_OPERATOR_TOKEN = 'chaos-operator-token';
const run = promisify(execFile);
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Ports and folders for a stack at `offset` (0 for `make chaos`, others for tests running alongside). */
export function stackConfig(offset = 0) {
  const cache = process.env.CHAOS_CACHE ?? join(ROOT, '.cache', `chaos-${offset}`);
  return {
    offset,
    cache,
    redisPort: 16379 + offset,
    kafkaPort: 29092 + offset,
    kafkaControllerPort: 29093 + offset,
    postgresPort: 55532 + offset,
    gridPort: 18081 + offset,
    ingestion: [0, 1].map((i) => ({ grpcPort: 15051 + offset + i, httpPort: 19464 + offset + 10 * i })),
    /** The auth fuzz phase's ingestions (lib/fuzz-auth.mjs): TLS + JWT, and mutual TLS. */
    authIngestion: { tls: { grpcPort: 15053 + offset, httpPort: 19484 + offset }, mtls: { grpcPort: 15054 + offset, httpPort: 19494 + offset } },
    pricing: [0, 1].map((i) => ({ httpPort: 19465 + offset + 10 * i })),
    /** The command API (its default 8091 + 10000, like the grid mock's 8081). */
    commandApiPort: 18091 + offset,
  };
}

function infraEnv(cfg) {
  return {
    ...process.env,
    GREENLANE_CACHE: cfg.cache,
    INFRA_REDIS_PORT: String(cfg.redisPort),
    INFRA_KAFKA_PORT: String(cfg.kafkaPort),
    INFRA_KAFKA_CONTROLLER_PORT: String(cfg.kafkaControllerPort),
    INFRA_POSTGRES_PORT: String(cfg.postgresPort),
    KAFKA_LIBS: process.env.KAFKA_LIBS ?? join(ROOT, '.cache', 'kafka', 'libs'),
    KAFKA_PARTITIONS: '6',
    KAFKA_HEAP: process.env.KAFKA_HEAP ?? '384m',
  };
}

/** Starts whatever of the private Redis, Kafka and PostgreSQL is not running (idempotent). */
export async function infraUp(cfg) {
  await run('bash', [join(ROOT, 'infra/infra.sh'), 'up', '--postgres', '--no-embedded-db'], { env: infraEnv(cfg), cwd: ROOT, timeout: 180_000 });
}

/**
 * The private servers up, for a new run: Redis emptied (it belongs to chaos runs alone) and the
 * run's own database created (u = urls(cfg, db)).
 */
export async function prepareRun(cfg, u, db) {
  await infraUp(cfg);
  const redis = createClient({ url: u.redisUrl });
  await redis.connect();
  await redis.flushDb();
  await redis.quit();
  const admin = new pg.Client({ connectionString: u.adminDbUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
}

/** Stops private servers by name (redis, kafka, postgres); the pid files are in the private cache. */
export async function infraStop(cfg, ...names) {
  await run('bash', [join(ROOT, 'infra/infra.sh'), 'stop', ...names], { env: infraEnv(cfg), cwd: ROOT, timeout: 60_000 });
}

export function urls(cfg, db) {
  return {
    brokers: [`127.0.0.1:${cfg.kafkaPort}`],
    redisUrl: `redis://127.0.0.1:${cfg.redisPort}/${cfg.redisDb ?? 0}`,
    gridUrl: `http://127.0.0.1:${cfg.gridPort}`,
    adminDbUrl: `postgres://postgres@127.0.0.1:${cfg.postgresPort}/postgres`,
    dbUrl: `postgres://postgres@127.0.0.1:${cfg.postgresPort}/${db}`,
  };
}

/**
 * A service as a child process (what `npm start -w NAME` runs, without npm in between, so a signal
 * reaches the program itself). `start()` again after a kill is a restart with the same settings.
 */
export class Service {
  constructor(name, script, env, logDir, readyUrl) {
    Object.assign(this, { name, script, env, logDir, readyUrl });
    this.child = undefined;
    this.starts = 0;
    /** Exits nobody asked for (a crash), with their code or signal. */
    this.crashes = [];
    this.expectExit = false;
    /** Restart after a crash, as a supervisor (systemd, Kubernetes) would; the crash still counts. */
    this.supervise = true;
    this.retired = false;
    this.restartTimer = undefined;
  }

  async start() {
    if (this.retired) return;
    this.starts += 1;
    const log = createWriteStream(join(this.logDir, `${this.name}.log`), { flags: 'a' });
    const child = spawn(process.execPath, [join(ROOT, this.script)], { cwd: ROOT, env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    this.child = child;
    this.expectExit = false;
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.expectExit) return;
      this.crashes.push({ at: Date.now(), code, signal });
      if (this.supervise && !this.retired) this.restartTimer = setTimeout(() => this.start().catch(() => {}), 1000);
    });
    if (this.readyUrl) await waitHttp(this.readyUrl, 60_000, () => this.child === child);
  }

  get pid() {
    return this.child?.pid;
  }

  /** kill -9: no shutdown code runs. */
  kill9() {
    const child = this.child;
    if (!child) return Promise.resolve();
    this.expectExit = true;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    return exited;
  }

  /** SIGTERM and wait (SIGKILL after `graceMs`). `retire` = for good (the run is over). */
  async stop(graceMs = 15_000, retire = false) {
    if (retire) {
      this.retired = true;
      clearTimeout(this.restartTimer);
    }
    const child = this.child;
    if (!child) return;
    this.expectExit = true;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

export async function waitHttp(url, timeoutMs, alive = () => true) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
    } catch {
      // not up yet
    }
    if (!alive()) throw new Error(`${url}: the process exited before it was ready`);
    if (Date.now() > deadline) throw new Error(`${url} not ready within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** The command API's address and its run's audit topic (`<run topic>-commands`). */
export function commandApiUrl(cfg) {
  return `http://127.0.0.1:${cfg.commandApiPort}`;
}
export const commandsTopic = (topic) => `${topic}-commands`;

/** What every ingestion of a stack runs with: the stack's Kafka, Redis and grid mock, `topic`, the ports `p` ({ grpcPort, httpPort }). */
export function ingestionEnv(cfg, topic, p) {
  const u = urls(cfg, 'unused');
  return {
    KAFKA_BROKERS: u.brokers.join(','),
    FLEET_EVENTS_TOPIC: topic,
    GRID_URL: u.gridUrl,
    LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'info',
    INGESTION_ADDR: `127.0.0.1:${p.grpcPort}`,
    INGESTION_HTTP_ADDR: `127.0.0.1:${p.httpPort}`,
    REDIS_URL: u.redisUrl,
    FLEET_EVENTS_PARTITIONS: '6',
  };
}

/**
 * The services of one run; `ingestions` 1 or 2, always two pricing workers, and the command API
 * (started by the runs that send commands; restartable like the others).
 */
export function createServices(cfg, { topic, dlqTopic, groupId, dbUrl, logDir, ingestions = 1, pricingSessionTimeoutMs = 10_000 }) {
  mkdirSync(logDir, { recursive: true });
  const u = urls(cfg, 'unused');
  const common = { KAFKA_BROKERS: u.brokers.join(','), FLEET_EVENTS_TOPIC: topic, GRID_URL: u.gridUrl, LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'info' };
  const grid = new Service('grid-mock', 'grid-mock/dist/src/main.js', { ...common, GRID_ADDR: `127.0.0.1:${cfg.gridPort}` }, logDir, `${u.gridUrl}/health`);
  const ingestion = cfg.ingestion.slice(0, ingestions).map(
    (p, i) =>
      new Service(
        `ingestion-${i + 1}`,
        'ingestion/dist/src/main.js',
        {
          ...ingestionEnv(cfg, topic, p),
          API_TOKENS: CHAOS_TOKEN,
          // No per-car or per-address rate limits: the fault and scale runs drive load cars (far
          // above 50 msgs/s each) and open many streams from one address (127.0.0.1), and they
          // measure loss, not limits. The limits have their own tests (ingestion) and the auth
          // fuzz phase (lib/fuzz-auth.mjs), which runs its ingestion with them on.
          INGESTION_CAR_RATE: '0',
          INGESTION_STREAM_RATE: '0',
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
          ...common,
          DATABASE_URL: dbUrl,
          PRICING_DLQ_TOPIC: dlqTopic,
          PRICING_GROUP_ID: groupId,
          PRICING_HTTP_ADDR: `127.0.0.1:${p.httpPort}`,
          PRICING_SESSION_TIMEOUT_MS: String(pricingSessionTimeoutMs),
          PRICING_POOL_SIZE: '1',
        },
        logDir,
        `http://127.0.0.1:${p.httpPort}/health`,
      ),
  );
  const commandApi = new Service(
    'command-api',
    'command-api/dist/src/main.js',
    {
      KAFKA_BROKERS: u.brokers.join(','),
      REDIS_URL: u.redisUrl,
      COMMAND_API_ADDR: `127.0.0.1:${cfg.commandApiPort}`,
      FLEET_COMMANDS_TOPIC: commandsTopic(topic),
      FLEET_COMMANDS_PARTITIONS: '6',
      OPERATOR_TOKENS: CHAOS_OPERATOR_TOKEN,
      // No per-operator rate limit (default 20 requests/s): the fuzzer's hostile requests and the
      // command driver all come from the one operator token, and the runs check each answer's
      // status, not the limit (common's operator-auth tests have it).
      OPERATOR_RATE: '0',
      LOG_LEVEL: common.LOG_LEVEL,
    },
    logDir,
    `${commandApiUrl(cfg)}/ready`,
  );
  return { grid, ingestion, pricing, commandApi, all: () => [grid, ...ingestion, ...pricing, commandApi] };
}

/** Sum of a Prometheus metric's samples whose labels include `match` (e.g. 'kind="unauthenticated"'); null when unreachable. */
export async function metric(url, name, match = '') {
  let text;
  try {
    text = await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();
  } catch {
    return null;
  }
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (match && !rest.includes(match)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
