/**
 * The embedded TimescaleDB's multiplexer, on a server process of its own (private data folder and
 * port): many connections share the one PGlite backend per transaction, an idle open connection
 * holds nothing, a transaction left idle is cut off with 25P03, session settings and prepared
 * statements stay with their connection, a connection that goes away mid-transaction is rolled back.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { waitFor } from '../src/testing.js';

const SERVER = new URL('../src/embedded-db/server.js', import.meta.url).pathname;
const IDLE_LIMIT_MS = 1500;
const test = suite<{ dir: string; port: number; server?: ChildProcess; output: string; clients: pg.Client[] }>('embedded TimescaleDB multiplexer');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function client(ctx: { port: number; clients: pg.Client[] }, errors?: Error[]): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${ctx.port}/postgres` });
  // A FATAL sent to a client between its queries arrives as an 'error' event.
  c.on('error', (error) => errors?.push(error));
  await c.connect();
  ctx.clients.push(c);
  return c;
}

test.before(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'greenlane-mux-'));
  ctx.port = await freePort();
  ctx.output = '';
  ctx.clients = [];
  const server = spawn(process.execPath, [SERVER], {
    env: { ...process.env, EMBEDDED_DB_DIR: ctx.dir, EMBEDDED_DB_PORT: String(ctx.port), EMBEDDED_DB_IDLE_IN_TRANSACTION_MS: String(IDLE_LIMIT_MS), EMBEDDED_DB_MAX_CONNECTIONS: '8', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout!.on('data', (chunk) => (ctx.output += chunk));
  server.stderr!.on('data', (chunk) => (ctx.output += chunk));
  ctx.server = server;
  await waitFor('the embedded server to be ready', () => ctx.output.includes('embedded TimescaleDB ready'), 60_000);
  const setup = await client(ctx);
  await setup.query('CREATE TABLE mux_t (who text, n int)');
});

test.after.each(async (ctx) => {
  await Promise.all(ctx.clients.splice(0).map((c) => c.end().catch(() => undefined)));
});

test.after(async (ctx) => {
  const server = ctx.server!;
  if (server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGINT');
    await exited;
  }
  rmSync(ctx.dir, { recursive: true, force: true });
});

test('an idle open connection holds nothing: another connection runs transactions beside it, interleaved', async (ctx) => {
  const idle = await client(ctx);
  await idle.query('SELECT 1'); // connected and used once, then left at its prompt
  const a = await client(ctx);
  const b = await client(ctx);
  // Two writers whose transactions interleave, each with its own statements.
  await Promise.all([a, b].map(async (c, i) => {
    for (let n = 0; n < 20; n++) {
      await c.query('BEGIN');
      await c.query('INSERT INTO mux_t VALUES ($1, $2)', [`w${i}`, n]);
      await c.query('COMMIT');
    }
  }));
  const { rows } = await idle.query<{ who: string; n: number }>("SELECT who, count(*)::int AS n FROM mux_t WHERE who LIKE 'w%' GROUP BY who ORDER BY who");
  assert.equal(rows, [{ who: 'w0', n: 20 }, { who: 'w1', n: 20 }]);
});

test('a transaction left idle is rolled back and its connection ended with 25P03; the others go on', async (ctx) => {
  const errors: Error[] = [];
  const analyst = await client(ctx, errors);
  const writer = await client(ctx);
  await analyst.query('BEGIN');
  await analyst.query("INSERT INTO mux_t VALUES ('analyst', 1)");
  // The writer waits for the backend while the analyst's transaction is open, then gets it.
  await writer.query("INSERT INTO mux_t VALUES ('writer', 1)");
  await waitFor('the analyst to be told', () => errors.length > 0, 10_000);
  assert.match(errors[0]!.message, /idle-in-transaction timeout/);
  assert.is((errors[0] as Error & { code?: string }).code, '25P03');
  const { rows } = await writer.query<{ who: string }>("SELECT who FROM mux_t WHERE who IN ('analyst', 'writer')");
  assert.equal(rows, [{ who: 'writer' }], 'the analyst transaction was rolled back');
  assert.match(ctx.output, /transaction idle too long/);
});

test('SET search_path and other session settings stay with their connection', async (ctx) => {
  const a = await client(ctx);
  const b = await client(ctx);
  await a.query('CREATE SCHEMA IF NOT EXISTS mux_s');
  await a.query('CREATE TABLE IF NOT EXISTS mux_s.mux_t (only_in_s boolean)');
  await a.query("SET search_path TO mux_s, public");
  await a.query("SET TimeZone TO 'Asia/Tokyo'");
  const seenByB = await b.query<{ search_path: string; tz: string }>("SELECT current_setting('search_path') AS search_path, current_setting('TimeZone') AS tz");
  assert.equal(seenByB.rows[0], { search_path: 'public', tz: 'GMT' }); // PGlite's defaults
  // b's own setting, then back to a: each sees its own, also after the other used the backend.
  await b.query("SET search_path TO pg_catalog");
  const seenByA = await a.query<{ search_path: string; tz: string }>("SELECT current_setting('search_path') AS search_path, current_setting('TimeZone') AS tz");
  assert.equal(seenByA.rows[0], { search_path: 'mux_s, public', tz: 'Asia/Tokyo' });
  const cols = await a.query<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_name = 'mux_t' AND table_schema = current_schema()");
  assert.equal(cols.rows, [{ column_name: 'only_in_s' }]);
  assert.is((await b.query<{ p: string }>("SELECT current_setting('search_path') AS p")).rows[0]!.p, 'pg_catalog');
});

test('DEBUG and LOG notices reach only a connection whose client_min_messages asks for them', async (ctx) => {
  const seen = (c: pg.Client) => {
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(`${(n as { severity?: string }).severity}: ${n.message}`));
    return notices;
  };
  const raise = "DO $$ BEGIN RAISE DEBUG 'a debug line'; RAISE LOG 'a log line'; RAISE NOTICE 'a notice'; END $$";
  const quiet = await client(ctx);
  const quietSeen = seen(quiet);
  const logging = await client(ctx);
  const loggingSeen = seen(logging);
  const debugging = await client(ctx);
  const debuggingSeen = seen(debugging);
  await logging.query('SET client_min_messages TO log');
  await debugging.query('SET client_min_messages TO debug1');
  for (const c of [quiet, logging, debugging]) await c.query(raise);
  assert.equal(quietSeen, ['NOTICE: a notice']);
  assert.equal(loggingSeen, ['LOG: a log line', 'NOTICE: a notice']);
  assert.equal(debuggingSeen.filter((n) => n.includes('a ')), ['DEBUG: a debug line', 'LOG: a log line', 'NOTICE: a notice']);
});

test('prepared statements of the same name on two connections do not meet', async (ctx) => {
  const a = await client(ctx);
  const b = await client(ctx);
  await a.query({ name: 'same', text: 'SELECT $1::int + 1 AS v', values: [1] });
  await b.query({ name: 'same', text: "SELECT $1::text || '!' AS v", values: ['x'] });
  assert.equal((await a.query({ name: 'same', text: 'SELECT $1::int + 1 AS v', values: [41] })).rows, [{ v: 42 }]);
  assert.equal((await b.query({ name: 'same', text: "SELECT $1::text || '!' AS v", values: ['y'] })).rows, [{ v: 'y!' }]);
});

test('a connection destroyed inside a transaction is rolled back and the server serves the next', async (ctx) => {
  const victim = await client(ctx, []);
  await victim.query('BEGIN');
  await victim.query("INSERT INTO mux_t VALUES ('victim', 1)");
  victim.connection.stream.destroy();
  const next = await client(ctx);
  const { rows } = await next.query<{ n: number }>("SELECT count(*)::int AS n FROM mux_t WHERE who = 'victim'");
  assert.equal(rows, [{ n: 0 }]);
  assert.is(ctx.server!.exitCode, null, 'still running');
});

test('COPY FROM STDIN (psql \\copy) is refused with 0A000 instead of breaking the backend for everyone', async (ctx) => {
  // Sent as is, the WebAssembly backend traps on it ("unreachable") and every connection fails from then on.
  const analyst = await client(ctx, []);
  for (const sql of ['COPY mux_t FROM STDIN', "/* bulk */ copy mux_t (who, n) from stdin with (format csv)"]) {
    const error = await analyst.query(sql).then(() => undefined, (e: Error & { code?: string }) => e);
    assert.is(error?.code, '0A000', String(error));
    assert.match(error!.message, /not supported by the embedded database/);
  }
  const extended = await analyst.query({ text: 'COPY mux_t FROM STDIN', queryMode: 'extended' } as pg.QueryConfig).then(() => undefined, (e: Error & { code?: string }) => e);
  assert.is(extended?.code, '0A000', String(extended));
  const other = await client(ctx);
  assert.equal((await other.query<{ ok: number }>('SELECT 1 AS ok')).rows, [{ ok: 1 }]);
  assert.equal((await analyst.query<{ ok: number }>('SELECT 2 AS ok')).rows, [{ ok: 2 }], 'the same connection goes on');
});

test('beyond EMBEDDED_DB_MAX_CONNECTIONS a connection is refused with 53300', async (ctx) => {
  // Up to 8 (the limit) connect; the ones beyond are refused. (Connections of the tests before
  // may still be closing on the server side, so fewer than 8 may get in here.)
  let refused: (Error & { code?: string }) | undefined;
  let accepted = 0;
  for (let i = 0; i < 9 && !refused; i++) {
    const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${ctx.port}/postgres` });
    c.on('error', () => {});
    refused = await c.connect().then(() => {
      ctx.clients.push(c);
      accepted++;
      return undefined;
    }, (e: Error & { code?: string }) => e);
  }
  assert.ok(accepted <= 8, `${accepted} accepted`);
  assert.is(refused?.code, '53300', String(refused));
  assert.match(refused!.message, /too many clients/);
});

test.run();
