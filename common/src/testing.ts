/**
 * Helpers for the integration tests: where the real servers started by `infra/infra.sh up` listen,
 * and names that keep concurrent test runs from seeing each other's data.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DEFAULTS } from './defaults.js';
import { ConfigError } from './config.js';

const env = process.env;

export const testServers = {
  redisUrl: env.REDIS_URL ?? DEFAULTS.REDIS_URL,
  kafkaBrokers: (env.KAFKA_BROKERS ?? DEFAULTS.KAFKA_BROKERS).split(','),
  /** The throwaway PostgreSQL 15 cluster of `infra/infra.sh up --postgres`. */
  postgresUrl: env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:55432/postgres',
  /** The embedded TimescaleDB (PGlite). */
  timescaleUrl: env.TEST_TIMESCALE_URL ?? DEFAULTS.EMBEDDED_DATABASE_URL,
};

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

/**
 * A client whose tables live in a fresh schema of their own, so tests sharing a server (and the
 * embedded database, which has only one database) never meet. `drop()` removes the schema.
 */
export async function isolatedSchema(url: string): Promise<{ client: pg.Client; schema: string; drop(): Promise<void> }> {
  const schema = uniqueName('test').replace(/-/g, '_');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`SET search_path TO ${schema}, public`);
  return {
    client,
    schema,
    async drop() {
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    },
  };
}

/**
 * The `[variable, value]` cases that `load` does not refuse with a ConfigError naming that
 * variable (a configuration test expects none), each with what happened instead.
 */
export function unrefusedConfig(load: (env: Record<string, string>) => unknown, cases: Array<[string, string]>): string[] {
  const wrong: string[] = [];
  for (const [variable, value] of cases) {
    try {
      load({ [variable]: value });
      wrong.push(`${variable}=${JSON.stringify(value)} accepted`);
    } catch (error) {
      if (!(error instanceof ConfigError) || error.variable !== variable) wrong.push(`${variable}=${JSON.stringify(value)}: ${String(error)}`);
    }
  }
  return wrong;
}
