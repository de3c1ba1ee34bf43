import pg from 'pg';
import { DEFAULTS } from '../defaults.js';
import { envOptional, envUrl } from '../config.js';

export interface DatabaseTarget {
  url: string;
  /** The embedded TimescaleDB (PGlite): one backend, granted per transaction; its clients need only one connection. */
  embedded: boolean;
}

/** DATABASE_URL when set; otherwise the embedded TimescaleDB that `make up` serves. */
export function databaseTarget(env: Record<string, string | undefined> = process.env): DatabaseTarget {
  if (envOptional(env, 'DATABASE_URL') === undefined) return { url: DEFAULTS.EMBEDDED_DATABASE_URL, embedded: true };
  return { url: envUrl(env, 'DATABASE_URL', '', ['postgres:', 'postgresql:']), embedded: false };
}

export function createPool(target: DatabaseTarget, max = 4): pg.Pool {
  return new pg.Pool({
    connectionString: target.url,
    max: target.embedded ? 1 : max,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000,
  });
}
