/**
 * The worker's database access: a pg pool (one connection on the embedded TimescaleDB, whose one
 * backend more connections would only queue for) and the migration at start. The embedded server
 * grants its backend per transaction, so the worker keeps its connection open and analysts' psql
 * sessions still get their turn between two batches. The pool, its search_path and the locked
 * migration are the services' common ones (common/src/db/service-db.ts).
 */
import type pg from 'pg';
import { migrate, openServiceDatabase, type DatabaseTarget, type Logger } from '@greenlane/common';

export interface WorkerDatabase {
  withDb<T>(fn: (client: pg.ClientBase) => Promise<T>): Promise<T>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export async function openDatabase(opts: { target: DatabaseTarget; schema: string | undefined; connections: number; log: Logger }): Promise<WorkerDatabase> {
  const db = openServiceDatabase({ ...opts, lockKey: 724242 });
  // The continuous aggregate cannot be created inside a transaction, hence a session lock.
  await db.migrateLocked(async (client) => {
    const { timescale } = await migrate(client, opts.log);
    opts.log.info({ timescale, embedded: opts.target.embedded }, 'schema ready');
  });
  return { withDb: db.withDb, ping: db.ping, close: db.close };
}
