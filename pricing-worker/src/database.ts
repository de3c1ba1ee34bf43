/**
 * The worker's database access: a pg pool (one connection on the embedded TimescaleDB, whose one
 * backend more connections would only queue for) and the migration at start. The embedded server
 * grants its backend per transaction, so the worker keeps its connection open and analysts' psql
 * sessions still get their turn between two batches.
 */
import type pg from 'pg';
import { createPool, migrate, type DatabaseTarget, type Logger } from '@greenlane/common';

export interface WorkerDatabase {
  withDb<T>(fn: (client: pg.ClientBase) => Promise<T>): Promise<T>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export async function openDatabase(opts: { target: DatabaseTarget; schema: string | undefined; connections: number; log: Logger }): Promise<WorkerDatabase> {
  const pool = createPool(opts.target, opts.connections);
  pool.on('error', (error) => opts.log.warn({ err: error.message }, 'idle database connection failed'));
  // Always set, so that the worker never depends on the server's default. (The embedded server
  // keeps each connection's settings apart and rolls back what a vanished client left open.)
  // Queries queue behind this on the same connection, so it applies before the first of them.
  const searchPath = opts.schema === undefined ? '"$user", public' : `${opts.schema}, public`;
  pool.on('connect', (client) => void client.query(`SET search_path TO ${searchPath}`).catch(() => undefined));

  async function withDb<T>(fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let failed: Error | undefined;
    // The pool listens for errors only on idle clients. A server that goes away between two
    // queries of ours (a restart sends FATAL 57P01) would otherwise be an unhandled 'error'
    // event; the next query fails instead, and the batch is retried on a new connection.
    const onError = (error: Error) => {
      failed = error;
      opts.log.warn({ err: error.message }, 'database connection failed during a batch');
    };
    client.on('error', onError);
    try {
      return await fn(client);
    } catch (error) {
      failed ??= error as Error;
      throw error;
    } finally {
      client.off('error', onError);
      client.release(failed);
    }
  }

  // Two instances starting together must not race on CREATE ... IF NOT EXISTS: a session lock
  // (the continuous aggregate cannot be created inside a transaction). The embedded database has
  // one backend shared by every connection, where a session lock would outlive a killed worker.
  await withDb(async (client) => {
    if (!opts.target.embedded) await client.query('SELECT pg_advisory_lock(724242)');
    try {
      const { timescale } = await migrate(client, opts.log);
      opts.log.info({ timescale, embedded: opts.target.embedded }, 'schema ready');
    } finally {
      if (!opts.target.embedded) await client.query('SELECT pg_advisory_unlock(724242)');
    }
  });

  return {
    withDb,
    async ping() {
      try {
        await withDb((client) => client.query('SELECT 1'));
        return true;
      } catch {
        return false;
      }
    },
    close: () => pool.end(),
  };
}
