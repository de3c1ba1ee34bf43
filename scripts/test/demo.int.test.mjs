// `make demo` as a new user runs it, in a real terminal (tmux, as the live-ops CLI test does): with
// API_TOKENS set in the shell its cars must get through (they were all refused: an empty console);
// Ctrl+C must count the rows before the embedded database stops (it printed "(database not
// reachable)"); a shell pointing KAFKA_BROKERS, INGESTION_ADDR... elsewhere must not break it; a
// port taken by another program must stop it naming the port and the program.
// Runs scripts/demo.sh on the demo's own ports (8081, 50051, 9464, 9465, 8090, 9466, 9467, 8091, 9468), beside the shared Redis
// and Kafka, with a private cache folder (its own embedded TimescaleDB on a free port).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const ROOT = new URL('../..', import.meta.url).pathname;
const socket = `demo-test-${process.pid}`;
const caches = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tmux(...args) {
  return execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
}
const screen = (session) => tmux('capture-pane', '-p', '-J', '-S', '-', '-t', session);

async function waitFor(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const portOpen = (port) =>
  new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });

async function accepted() {
  try {
    const text = await (await fetch('http://127.0.0.1:9464/metrics')).text();
    return Number(/^ingestion_messages_accepted_total (\S+)$/m.exec(text)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** The environment a demo run gets: a private cache (its own embedded database), no setup step. */
async function demoEnv(extra) {
  const cache = mkdtempSync(join(tmpdir(), 'demo-test-'));
  caches.push(cache);
  return {
    GREENLANE_CACHE: cache,
    KAFKA_LIBS: join(ROOT, '.cache', 'kafka', 'libs'),
    EMBEDDED_DB_PORT: String(await freePort()),
    DEMO_SETUP: '0',
    DEMO_CARS: '5',
    DEMO_INTERVAL_MS: '500',
    ...extra,
  };
}

/** The live-ops CLI as an operator runs it, to its exit: its code and what it printed. */
function runCli(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['liveops-cli/dist/src/main.js', ...args], { cwd: ROOT, env: { ...process.env, COMMAND_API_URL: 'http://127.0.0.1:8091' } });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

/** Starts the demo in a tmux window; the shell prints its exit status when it ends. */
function startDemo(session, env) {
  const assignments = Object.entries(env).map(([k, v]) => `${k}='${v}'`);
  tmux('new-session', '-d', '-s', session, '-x', '220', '-y', '60', `cd ${ROOT} && env ${assignments.join(' ')} bash scripts/demo.sh; echo "[demo exit status $?]"; sleep 600`);
}

/** Runs a demo to its first accepted messages, Ctrl+C, and returns the screen once it ended. */
async function runAndStop(session, env) {
  startDemo(session, env);
  await waitFor('the ingestion to accept the cars\' messages', async () => (await accepted()) > 0 || /STOPPED/.test(screen(session)), 90_000);
  assert.not.match(screen(session), /STOPPED/, screen(session));
  await waitFor('cars on the live-ops console', () => /CAR-00\d/.test(screen(session)), 30_000);
  // The live map runs too, with the same cars (README: open the address the demo prints).
  await waitFor('cars on the live map', async () => {
    const r = await fetch('http://127.0.0.1:8090/api/v1/cars', { headers: { authorization: 'Bearer greenlane-operator-token' } }).catch(() => undefined);
    return r?.ok === true && (await r.json()).count > 0;
  }, 30_000);
  // And the history, through the analytics API (issue 19).
  await waitFor('the cars in the history, through the analytics API', async () => {
    const r = await fetch('http://127.0.0.1:9467/api/v1/fleet/summary', { headers: { authorization: 'Bearer greenlane-operator-token' } }).catch(() => undefined);
    return r?.ok === true && (await r.json()).hours.some((h) => h.samples > 0);
  }, 30_000);
  // An operator's command reaches a car of the demo, which carries it out (issue 15): the CLI's
  // own command, against the demo's command API, exits 0 only on SUCCEEDED. A car may be away on
  // one of the simulator's incidents (a dropped stream, a vanished car): the first that answers.
  const tried = [];
  let stopped;
  for (const car of ['CAR-001', 'CAR-002', 'CAR-003', 'CAR-004', 'CAR-005']) {
    const stop = await runCli(['command', car, 'emergency-stop', '--timeout-ms', '5000']);
    tried.push(`${car}: exit ${stop.code}\n${stop.output}`);
    if (stop.code === 0) {
      stopped = car;
      assert.match(stop.output, /SUCCEEDED/);
      break;
    }
  }
  assert.ok(stopped, tried.join('\n'));
  assert.is((await runCli(['command', stopped, 'resume'])).code, 0);
  tmux('send-keys', '-t', session, 'C-c');
  return waitFor('the demo to end', () => /\[demo exit status \d+\]/.test(screen(session)) && screen(session), 60_000);
}

test.after(() => {
  try {
    tmux('kill-server');
  } catch {
    // already gone
  }
  for (const cache of caches) rmSync(cache, { recursive: true, force: true });
});

test('API_TOKENS set in the shell: the cars get through, and Ctrl+C counts the rows before the database stops', async () => {
  const env = await demoEnv({ API_TOKENS: 'deploy-token-a,deploy-token-b' });
  const end = await runAndStop('tokens', env);
  assert.match(end, /Rows in charging_sessions: \d+ charging samples, \d+ stays, [\d.]+ USD/, end);
  assert.match(end, /live map: open http:\/\/127\.0\.0\.1:8090\/\?token=greenlane-operator-token in a browser/);
  assert.not.match(end, /not reachable|did not answer/);
  assert.match(end, /\[demo exit status 0\]/);
  // The embedded database the demo started is stopped, after the count; the shared servers are not.
  assert.is(await portOpen(Number(env.EMBEDDED_DB_PORT)), false, 'the demo stopped the database it started');
  assert.ok(await portOpen(6379), 'the shared Redis still runs');
});

test('a shell pointing elsewhere (KAFKA_BROKERS, INGESTION_ADDR, REDIS_URL, SIM_DURATION, API_TOKEN) and DATABASE_URL set', async () => {
  const db = `demo_test_${Date.now()}`;
  const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:55432/postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  try {
    const env = await demoEnv({
      DATABASE_URL: `postgres://postgres@127.0.0.1:55432/${db}`,
      KAFKA_BROKERS: '10.255.0.1:9092',
      INGESTION_ADDR: '10.255.0.2:50051',
      REDIS_URL: 'redis://10.255.0.3:6379',
      SIM_DURATION: '3',
      API_TOKEN: 'a-token-nobody-accepts',
    });
    const end = await runAndStop('dirty', env);
    for (const variable of ['KAFKA_BROKERS=10.255.0.1:9092', 'INGESTION_ADDR=10.255.0.2:50051', 'REDIS_URL=redis://10.255.0.3:6379', 'SIM_DURATION=3', 'API_TOKEN']) {
      assert.ok(end.includes(variable), `the notice names ${variable}:\n${end}`);
    }
    assert.match(end, /Rows in charging_sessions: \d+ charging samples/, end);
    assert.match(end, /\[demo exit status 0\]/);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
});

test('a port taken by another program stops the demo, naming the port and the program', async () => {
  const squatter = spawn(process.execPath, ['-e', 'require("net").createServer().listen(50051, "0.0.0.0", () => console.log("listening"))'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => squatter.stdout.once('data', resolve));
  try {
    const env = { ...process.env, ...(await demoEnv({})) };
    const run = spawn('bash', ['scripts/demo.sh'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    run.stdout.on('data', (c) => (out += c));
    run.stderr.on('data', (c) => (out += c));
    const code = await new Promise((resolve) => run.on('exit', resolve));
    assert.is(code, 1, out);
    assert.match(out, /STOPPED: port 50051 \(the ingestion's gRPC port\) is already taken by node/);
    assert.ok(out.includes(`pid ${squatter.pid}`), out);
    assert.not.match(out, /started/, 'nothing was started');
  } finally {
    squatter.kill();
  }
});

test('infra/infra.sh does not reuse a server port held by a program of another kind: it names it and stops', async () => {
  const squatter = spawn(process.execPath, ['-e', 'require("net").createServer((s) => s.end()).listen(0, "127.0.0.1", function () { console.log(this.address().port) })'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = Number(await new Promise((resolve) => squatter.stdout.once('data', resolve)));
  try {
    const env = { ...process.env, ...(await demoEnv({ INFRA_REDIS_PORT: String(port) })) };
    const run = spawn('bash', ['infra/infra.sh', 'up', '--no-embedded-db'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    run.stdout.on('data', (c) => (out += c));
    run.stderr.on('data', (c) => (out += c));
    const code = await new Promise((resolve) => run.on('exit', resolve));
    assert.is(code, 1, out);
    assert.match(out, new RegExp(`port ${port} \\(redis\\) is taken by node \\(pid ${squatter.pid}:.*does not answer as redis.*INFRA_REDIS_PORT`));
  } finally {
    squatter.kill();
  }
});

test.run();
