#!/usr/bin/env node
/**
 * GreenLane analytics API: a car's series, trips and charging stays, station utilization and the
 * fleet's hourly summary, over HTTP + JSON behind operator tokens (openapi.json).
 */
import { readFileSync } from 'node:fs';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { createLogger, exitOnStartupError, migrate, migrateTelemetry, onShutdown, openServiceDatabase, parseFlags } from '@greenlane/common';
import { closeServer, createOpsServer, listen } from '@greenlane/common/ops-http';
import { createOperatorAuth, logOperatorAuth } from '@greenlane/common/operator-auth';
import { ENVIRONMENT, loadConfig } from './config.js';
import { createApiHandler } from './api.js';

const log = createLogger('analytics-api');
/** The pricing worker's migration lock (pricing-worker/src/database.ts). */
const PRICING_SCHEMA_LOCK = 724242;

parseFlags(process.argv.slice(2), {}, {
  summary: 'GreenLane analytics API: telemetry series, trips, charging stays, station utilization and fleet summaries over HTTP + JSON (openapi.json).',
  usage: 'npm start -w analytics-api',
  options: [],
  environment: ENVIRONMENT,
});

try {
  const config = loadConfig();
  logOperatorAuth(log, config.operators);
  const auth = await createOperatorAuth(config.operators);
  const openapi = readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'analytics_api_' });
  const requests = new Histogram({
    name: 'analytics_request_duration_seconds',
    help: 'Requests by route and status, validation to answer',
    labelNames: ['route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const refused = new Counter({ name: 'analytics_requests_refused_total', help: 'Requests refused before or instead of a query, by reason (token_missing, token_wrong, token_expired, …, vehicle_token, insufficient_scope, rate_limited, bad parameter, too much data, timeout)', labelNames: ['reason'], registers: [registry] });
  const rateLimited = new Counter({ name: 'analytics_api_http_rate_limited_total', help: 'Requests refused with 429 because their operator identity was over OPERATOR_RATE / OPERATOR_BURST, by route', labelNames: ['route'], registers: [registry] });

  const database = openServiceDatabase({ target: config.database, schema: config.dbSchema, connections: config.connections, log, lockKey: 724243 });
  // The API may start before the writers: it creates what it reads (never the policies, the history writer's).
  // Each under its owner's lock: the pricing worker's charging_sessions, the history writer's car_telemetry.
  await database.migrateLocked((client) => migrate(client, log), PRICING_SCHEMA_LOCK);
  const schema = await database.migrateLocked((client) => migrateTelemetry(client, log, { policies: false, retentionDays: 30, compressAfterHours: 24 }));
  let ready = true;
  const server = createOpsServer({
    registry,
    ready: () => ready,
    health: () => ({ ready, timescale: schema.timescale }),
    handle: createApiHandler({
      withDb: database.withDb,
      auth,
      limits: config.limits,
      statementTimeout: !config.database.embedded,
      timescale: schema.timescale,
      openapi,
      log,
      observe: (route, status, seconds) => requests.observe({ route, status: String(status) }, seconds),
      refused: (reason) => refused.inc({ reason }),
      rateLimited: (route) => rateLimited.inc({ route }),
    }),
  });
  const port = await listen(server, config.addr);
  log.info({ addr: config.addr, port, timescale: schema.timescale, embeddedDb: config.database.embedded, limits: config.limits }, 'analytics API listening');

  onShutdown(log, async () => {
    ready = false;
    await closeServer(server);
    await database.close();
  });
} catch (error) {
  exitOnStartupError(log, error);
}
