/**
 * A service's database access: a pg pool whose connections put the service's schema first on the
 * search_path, `withDb` for a checked-out client (a connection that fails mid-use is discarded),
 * and the start-up migration under a lock so that two instances starting together do not race on
 * CREATE ... IF NOT EXISTS.
 */
import type pg from 'pg';
import { ConfigError, envOptional } from '../config.js';
import type { Logger } from '../logger.js';
import { createPool, type DatabaseTarget } from './connect.js';

export interface ServiceDatabase {
  pool: pg.Pool;
  withDb<T>(fn: (client: pg.ClientBase) => Promise<T>): Promise<T>;
  /** Runs `fn` once, under a session advisory lock on PostgreSQL (not on the embedded database, whose one backend is shared by every connection). */
  migrateLocked<T>(fn: (client: pg.ClientBase) => Promise<T>, lockKey?: number): Promise<T>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** A schema name from the environment: a lower-case SQL identifier, or unset. */
export function envSchema(env: Record<string, string | undefined>, name: string): string | undefined {
  const value = envOptional(env, name);
  if (value !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(value)) throw new ConfigError(name, value, 'a lower-case SQL identifier');
  return value;
}

export function openServiceDatabase(opts: { target: DatabaseTarget; schema: string | undefined; connections: number; log: Logger; lockKey: number }): ServiceDatabase {
  const pool = createPool(opts.target, opts.connections);
  pool.on('error', (error) => opts.log.warn({ err: error.message }, 'idle database connection failed'));
  const searchPath = opts.schema === undefined ? '"$user", public' : `${opts.schema}, public`;
  // Queries queue behind this on the same connection, so it applies before the first of them.
  pool.on('connect', (client) => void client.query(`SET search_path TO ${searchPath}`).catch(() => undefined));

  async function withDb<T>(fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let failed: Error | undefined;
    // The pool listens for errors only on idle clients; a server that goes away mid-use would
    // otherwise be an unhandled 'error' event. The next query fails instead, and the connection is dropped.
    const onError = (error: Error) => {
      failed = error;
      opts.log.warn({ err: error.message }, 'database connection failed while in use');
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

  return {
    pool,
    withDb,
    migrateLocked: (fn, lockKey = opts.lockKey) =>
      withDb(async (client) => {
        if (!opts.target.embedded) await client.query('SELECT pg_advisory_lock($1)', [lockKey]);
        try {
          return await fn(client);
        } finally {
          if (!opts.target.embedded) await client.query('SELECT pg_advisory_unlock($1)', [lockKey]);
        }
      }),
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
