import { databaseTarget, envHostPort, envInt, envSchema, type DatabaseTarget } from '@greenlane/common';
import { OPERATOR_AUTH_ENVIRONMENT, readOperatorAuth, type OperatorAuthSettings } from '@greenlane/common/operator-auth';
import type { ApiLimits } from './api.js';

export interface AnalyticsConfig {
  addr: string;
  database: DatabaseTarget;
  dbSchema: string | undefined;
  connections: number;
  operators: OperatorAuthSettings;
  limits: ApiLimits;
}

export const ENVIRONMENT: Array<[string, string]> = [
  ['ANALYTICS_ADDR', 'HTTP address: the API, /openapi.json, /health, /ready, /metrics [0.0.0.0:9467]'],
  ...OPERATOR_AUTH_ENVIRONMENT,
  ['DATABASE_URL', 'PostgreSQL/TimescaleDB URL [unset: the embedded TimescaleDB on 127.0.0.1:55433]'],
  ['ANALYTICS_DB_SCHEMA', 'schema first on the search_path [unset]'],
  ['ANALYTICS_DB_CONNECTIONS', 'database connections [4; 2 on the embedded database]'],
  ['ANALYTICS_MAX_RANGE_DAYS', 'longest from..to a request may ask for [31]'],
  ['ANALYTICS_MAX_POINTS', 'most points of a series (range / bucket) [2000]'],
  ['ANALYTICS_MAX_ROWS', 'most trips, stays, stations or hours in an answer (more: truncated) [5000]'],
  ['ANALYTICS_MAX_SCAN_ROWS', 'most rows a query may read by the planner\'s estimate; more is refused with 400 too_much_data [2000000]'],
  ['ANALYTICS_STATEMENT_TIMEOUT_MS', 'PostgreSQL statement_timeout per query (the embedded database cannot interrupt one) [5000]'],
  ['NODE_ENV', 'production makes OPERATOR_TOKENS or AUTH_JWKS mandatory, and refuses AUTH_JWT_HS256_SECRET'],
  ['LOG_LEVEL', 'pino level [info]'],
];

export function loadConfig(env: Record<string, string | undefined> = process.env): AnalyticsConfig {
  const database = databaseTarget(env);
  return {
    addr: envHostPort(env, 'ANALYTICS_ADDR', '0.0.0.0:9467'),
    database,
    dbSchema: envSchema(env, 'ANALYTICS_DB_SCHEMA'),
    connections: envInt(env, 'ANALYTICS_DB_CONNECTIONS', database.embedded ? 2 : 4, 1, 64),
    operators: readOperatorAuth(env),
    limits: {
      maxRangeDays: envInt(env, 'ANALYTICS_MAX_RANGE_DAYS', 31, 1, 3660),
      maxPoints: envInt(env, 'ANALYTICS_MAX_POINTS', 2000, 10, 1_000_000),
      maxRows: envInt(env, 'ANALYTICS_MAX_ROWS', 5000, 1, 1_000_000),
      maxScanRows: envInt(env, 'ANALYTICS_MAX_SCAN_ROWS', 2_000_000, 1, 10_000_000_000),
      statementTimeoutMs: envInt(env, 'ANALYTICS_STATEMENT_TIMEOUT_MS', 5000, 1, 3_600_000),
    },
  };
}
