/**
 * The embedded TimescaleDB server as a process of its own (a private data folder and port, so the
 * shared one is never disturbed): it keeps continuous aggregates across a restart on the same data
 * folder, and it outlives clients that die mid-connection, active or queued.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { migrate } from '../src/db/schema.js';
import { waitFor } from '../src/testing.js';

const SERVER = new URL('../src/embedded-db/server.js', import.meta.url).pathname;
const log = pino({ level: 'silent' });
const test = suite<{ dir: string; port: number; server?: ChildProcess; output: string }>('embedded TimescaleDB server');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const url = (port: number) => `postgres://postgres@127.0.0.1:${port}/postgres`;

async function query<T extends pg.QueryResultRow>(port: number, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url(port) });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function start(ctx: { dir: string; port: number; server?: ChildProcess; output: string }): Promise<void> {
  ctx.output = '';
  const server = spawn(process.execPath, [SERVER], {
    env: { ...process.env, EMBEDDED_DB_DIR: ctx.dir, EMBEDDED_DB_PORT: String(ctx.port), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout!.on('data', (chunk) => (ctx.output += chunk));
  server.stderr!.on('data', (chunk) => (ctx.output += chunk));
  ctx.server = server;
  await waitFor('the embedded server to be ready', () => ctx.output.includes('embedded TimescaleDB ready'), 60_000);
}

async function stop(ctx: { server?: ChildProcess }): Promise<number | null> {
  const server = ctx.server;
  if (!server || server.exitCode !== null) return server?.exitCode ?? null;
  const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
  server.kill('SIGINT');
  return exited;
}

/** A client that opens a connection, sends the start of a handshake and resets the socket. */
function resetClient(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      // A startup message for user postgres (protocol 3.0), then a TCP reset instead of a goodbye.
      const body = Buffer.from('\0\x03\0\0user\0postgres\0database\0postgres\0\0', 'binary');
      const length = Buffer.alloc(4);
      length.writeUInt32BE(body.length + 4);
      socket.write(Buffer.concat([length, body]), () => setTimeout(() => {
        socket.resetAndDestroy();
        resolve();
      }, 50));
    });
    socket.on('error', reject);
  });
}

test.before(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'greenlane-embedded-'));
  ctx.port = await freePort();
});

test.after.each(async (ctx) => {
  await stop(ctx);
});

test.after((ctx) => {
  rmSync(ctx.dir, { recursive: true, force: true });
});

test('a restart on the same data folder keeps continuous aggregates available', async (ctx) => {
  await start(ctx);
  assert.equal(await migrateOnce(ctx.port), { timescale: true });
  assert.is(await stop(ctx), 0);

  await start(ctx);
  // The second migration recreates nothing, but it must still be allowed to run the aggregate's DDL.
  assert.equal(await migrateOnce(ctx.port), { timescale: true });
  const views = await query<{ view_name: string }>(ctx.port, "SELECT view_name FROM timescaledb_information.continuous_aggregates");
  assert.equal(views.map((v) => v.view_name), ['charging_sessions_hourly']);
  const fresh = await query<{ n: string }>(ctx.port, 'SELECT count(*) AS n FROM charging_sessions_hourly');
  assert.is(fresh[0]!.n, '0');
});

test('clients that reset their connection, while served or while queued, do not take the server down', async (ctx) => {
  await start(ctx);
  // One client holds the server, so the next ones queue behind it; then they all vanish.
  const holder = new pg.Client({ connectionString: url(ctx.port) });
  holder.on('error', () => {}); // it is about to be cut off on purpose
  await holder.connect();
  await Promise.all([resetClient(ctx.port), resetClient(ctx.port), resetClient(ctx.port)]);
  await holder.query('SELECT 1');
  holder.connection.stream.destroy();
  await resetClient(ctx.port);

  const rows = await waitFor('the server to answer again', async () => (await query<{ one: number }>(ctx.port, 'SELECT 1 AS one'))[0]);
  assert.equal(rows, { one: 1 });
  assert.is(ctx.server!.exitCode, null, 'still running');
});

async function migrateOnce(port: number): Promise<{ timescale: boolean }> {
  const client = new pg.Client({ connectionString: url(port) });
  await client.connect();
  try {
    return await migrate(client, log);
  } finally {
    await client.end();
  }
}

test.run();
