/**
 * The analytics API's routes (GET only, JSON): the operator credential with operator:read
 * (common/src/operator-auth.ts), validation (params.ts), then one bounded query (queries.ts,
 * guard.ts). /openapi.json serves the committed OpenAPI 3 document; it and the ops paths need no token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type pg from 'pg';
import { sendJson } from '@greenlane/common/ops-http';
import type { Logger } from '@greenlane/common';
import { refusalHeaders, type OperatorAuth, type OperatorRefusal, type OperatorScope } from '@greenlane/common/operator-auth';
import {
  BadRequest, METRICS, parseBucket, parseCarId, parseMetric, parseRange, parseStationId, readQuery, type Limits,
} from './params.js';
import { fleetQuery, seriesQuery, seriesRollupQuery, staysQuery, stationsQuery, stationsRollupQuery, tripsQuery, type Query } from './queries.js';
import { estimateRows, fleetProbes, movingProbe, rangeProbe, seriesRollupProbes, staysProbe } from './guard.js';

export interface ApiLimits extends Limits {
  /** Most rows a query's scans may read, by the planner's estimate; more is refused (400 too_much_data). */
  maxScanRows: number;
  /** PostgreSQL statement_timeout of each query (the embedded database cannot interrupt a query). */
  statementTimeoutMs: number;
}

export interface ApiDeps {
  withDb<T>(fn: (client: pg.ClientBase) => Promise<T>): Promise<T>;
  auth: Pick<OperatorAuth, 'authorize'>;
  limits: ApiLimits;
  /** False on the embedded database: no statement_timeout there. */
  statementTimeout: boolean;
  /**
   * The database has TimescaleDB (the fleet summary reads a continuous aggregate). Without it the
   * history has rollups (common/src/db/rollups.ts: this API's start-up migration builds them
   * there), which the fleet summary, whole-hour series and station utilization read, and an
   * index of the moving samples, which the trips read.
   */
  timescale: boolean;
  openapi: string;
  log: Logger;
  observe(route: string, status: number, seconds: number): void;
  refused(reason: string): void;
  rateLimited(route: string): void;
}

interface Planned {
  query: Query;
  /** What the query reads, as bare scans whose planner estimates are summed (guard.ts). */
  probes(client: pg.ClientBase, timescale: boolean): Promise<Query[]>;
  shape(rows: Record<string, unknown>[], truncated: boolean): unknown;
}

interface Route {
  /** OpenAPI path template. */
  path: string;
  pattern: RegExp;
  params: readonly string[];
  /** `rollups`: read the rollups (PostgreSQL without TimescaleDB). */
  run(match: RegExpExecArray, q: Map<string, string>, limits: ApiLimits, rollups: boolean): Planned;
}

const segment = (match: RegExpExecArray, i: number, parameter: string): string => {
  try {
    return decodeURIComponent(match[i]!);
  } catch {
    throw new BadRequest(parameter, `${parameter} is not valid percent-encoding`);
  }
};

const rangeOut = (q: Map<string, string>, limits: Limits) => parseRange(q, limits);

export const ROUTES: Route[] = [
  {
    path: '/api/v1/cars/{car_id}/series',
    pattern: /^\/api\/v1\/cars\/([^/]+)\/series$/,
    params: ['metric', 'bucket', 'from', 'to'],
    run(match, q, limits, rollups) {
      const car = parseCarId(segment(match, 1, 'car_id'));
      const [name, metric] = parseMetric(q.get('metric'));
      const range = rangeOut(q, limits);
      const bucket = parseBucket(q.get('bucket'), range, limits);
      const rolled = rollups ? seriesRollupQuery(car, metric, bucket.seconds, range, limits.maxPoints) : undefined;
      return {
        query: rolled ?? seriesQuery(car, metric, bucket.seconds, range, limits.maxPoints),
        probes: async () => (rolled ? seriesRollupProbes(range, car) : [rangeProbe('car_telemetry', range, { column: 'car_id', value: car })]),
        shape: (rows) => ({ car_id: car, metric: name, unit: metric.unit, bucket: bucket.label, bucket_seconds: bucket.seconds, from: range.from, to: range.to, points: rows }),
      };
    },
  },
  {
    path: '/api/v1/cars/{car_id}/trips',
    pattern: /^\/api\/v1\/cars\/([^/]+)\/trips$/,
    params: ['from', 'to'],
    run(match, q, limits, rollups) {
      const car = parseCarId(segment(match, 1, 'car_id'));
      const range = rangeOut(q, limits);
      return {
        query: tripsQuery(car, range, limits.maxRows),
        probes: async () => [rollups ? movingProbe(range, car) : rangeProbe('car_telemetry', range, { column: 'car_id', value: car })],
        shape: (rows, truncated) => ({
          car_id: car, from: range.from, to: range.to, truncated,
          trips: rows.map((r) => ({ ...r, battery_used: Number(r.start_battery) - Number(r.end_battery) })),
        }),
      };
    },
  },
  {
    path: '/api/v1/cars/{car_id}/stays',
    pattern: /^\/api\/v1\/cars\/([^/]+)\/stays$/,
    params: ['from', 'to'],
    run(match, q, limits) {
      const car = parseCarId(segment(match, 1, 'car_id'));
      const range = rangeOut(q, limits);
      return { query: staysQuery(car, range, limits.maxRows), probes: async () => [rangeProbe('charging_sessions', range, { column: 'car_id', value: car })], shape: (rows, truncated) => ({ car_id: car, from: range.from, to: range.to, truncated, stays: rows }) };
    },
  },
  {
    path: '/api/v1/stations/utilization',
    pattern: /^\/api\/v1\/stations\/utilization$/,
    params: ['from', 'to', 'station_id'],
    run(_match, q, limits, rollups) {
      const range = rangeOut(q, limits);
      const station = q.has('station_id') ? parseStationId(q.get('station_id')!) : undefined;
      return {
        query: rollups ? stationsRollupQuery(range, station, limits.maxRows) : stationsQuery(range, station, limits.maxRows),
        probes: async () => (rollups ? [staysProbe(range, station)] : [rangeProbe('charging_sessions', range, station === undefined ? undefined : { column: 'station_id', value: station })]),
        shape: (rows, truncated) => ({ from: range.from, to: range.to, truncated, stations: rows }),
      };
    },
  },
  {
    path: '/api/v1/fleet/summary',
    pattern: /^\/api\/v1\/fleet\/summary$/,
    params: ['from', 'to'],
    run(_match, q, limits) {
      const range = rangeOut(q, limits);
      return { query: fleetQuery(range, limits.maxRows), probes: (client, timescale) => fleetProbes(client, range, timescale), shape: (rows, truncated) => ({ from: range.from, to: range.to, truncated, hours: rows }) };
    },
  },
];

/** float8 and numeric come back as numbers, bigint counts too (they stay far below 2^53). */
function jsonRows(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  return rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) out[k] = typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) && k !== 'session_id' && k !== 'station_id' ? Number(v) : v;
    return out;
  });
}

async function execute(deps: ApiDeps, planned: Planned): Promise<{ rows: Record<string, unknown>[] } | { refused: number }> {
  const { query } = planned;
  return deps.withDb(async (client) => {
    const estimate = await estimateRows(client, await planned.probes(client, deps.timescale));
    if (estimate > deps.limits.maxScanRows) return { refused: estimate };
    if (!deps.statementTimeout) return { rows: (await client.query(query.text, query.values)).rows };
    await client.query('BEGIN READ ONLY');
    try {
      await client.query(`SET LOCAL statement_timeout = ${Math.floor(deps.limits.statementTimeoutMs)}`);
      const { rows } = await client.query(query.text, query.values);
      await client.query('COMMIT');
      return { rows };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}

/** Every route reads: analysts never act on the fleet. */
const SCOPE: OperatorScope = 'operator:read';
/** WWW-Authenticate realm of this API's refusals. */
const REALM = 'greenlane-analytics';
/** The JSON `error` of a refusal by the check, by its HTTP status. */
const AUTH_ERRORS: Record<OperatorRefusal['status'], string> = { 401: 'unauthorized', 403: 'forbidden', 429: 'rate_limited', 503: 'keys_unavailable' };

export function createApiHandler(deps: ApiDeps) {
  return (req: IncomingMessage, res: ServerResponse, path: string): void => {
    const started = process.hrtime.bigint();
    let routeName = 'unknown';
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      sendJson(res, status, body, headers);
      deps.observe(routeName, status, Number(process.hrtime.bigint() - started) / 1e9);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, { error: 'method_not_allowed', message: 'only GET' }, { allow: 'GET' });
    if (path === '/openapi.json') {
      routeName = '/openapi.json';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(deps.openapi);
      return deps.observe(routeName, 200, Number(process.hrtime.bigint() - started) / 1e9);
    }
    let match: RegExpExecArray | null = null;
    const route = ROUTES.find((r) => (match = r.pattern.exec(path)) !== null);
    if (!route || !match) return reply(404, { error: 'not_found', message: `no such endpoint; see /openapi.json (${ROUTES.map((r) => r.path).join(', ')})` });
    routeName = route.path;
    const matched: RegExpExecArray = match;
    deps.auth.authorize(req, SCOPE).then(
      (auth) => {
        if (auth.ok) return answer(route, matched);
        deps.refused(auth.reason);
        if (auth.status === 429) deps.rateLimited(route.path);
        reply(auth.status, { error: AUTH_ERRORS[auth.status], reason: auth.reason, message: auth.message }, refusalHeaders(auth, REALM));
      },
      (error: Error) => {
        deps.log.error({ err: error, route: route.path }, 'operator check failed');
        reply(500, { error: 'internal', message: 'the request failed' });
      },
    );

    function answer(route: Route, match: RegExpExecArray): void {
      let planned;
      try {
        const url = new URL(req.url ?? '/', 'http://localhost');
        planned = route.run(match, readQuery(url.searchParams, route.params), deps.limits, !deps.timescale);
      } catch (error) {
        if (!(error instanceof BadRequest)) {
          deps.log.error({ err: error, route: route.path }, 'request failed');
          return reply(500, { error: 'internal', message: 'the request failed' });
        }
        deps.refused(error.code);
        return reply(400, { error: error.code, parameter: error.parameter, message: error.message, ...error.extra });
      }
      const { query, shape } = planned;
      execute(deps, planned).then(
        (result) => {
          if ('refused' in result) {
            deps.refused('too_much_data');
            return reply(400, {
              error: 'too_much_data',
              message: `this query would read about ${result.refused} rows, more than the ${deps.limits.maxScanRows} allowed: narrow the range (or the car, the station)`,
              estimatedRows: result.refused,
              maxScanRows: deps.limits.maxScanRows,
            });
          }
          const max = query.name === 'series' ? deps.limits.maxPoints : deps.limits.maxRows;
          const truncated = result.rows.length > max;
          reply(200, shape(jsonRows(result.rows.slice(0, max)), truncated));
        },
        (error: Error & { code?: string }) => {
          if (error.code === '57014') {
            deps.refused('timeout');
            return reply(503, { error: 'timeout', message: `the query ran longer than ${deps.limits.statementTimeoutMs} ms and was cancelled: narrow the range` });
          }
          deps.log.warn({ err: error.message, code: error.code, route: route.path }, 'query failed');
          reply(503, { error: 'database_unavailable', message: 'the database did not answer; try again' });
        },
      );
    }
  };
}

export const METRIC_NAMES = Object.keys(METRICS);
