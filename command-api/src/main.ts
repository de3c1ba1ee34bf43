#!/usr/bin/env node
/**
 * GreenLane command API: operators' commands to vehicles (openapi.json). It queues each command in
 * Redis and hands it to the ingestion instance holding the car's stream, ends the ones past their
 * deadline (EXPIRED, TIMED_OUT), answers long polls the moment a command is final, and relays
 * every status change to the fleet-commands topic.
 */
import { completeProducer } from '@greenlane/common/kafka-send';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CommandStore, connectRedis, createKafka, createLogger, ensureTopics, exitOnStartupError, onShutdown, parseFlags } from '@greenlane/common';
import { closeServer, createOpsServer, listen } from '@greenlane/common/ops-http';
import { createOperatorAuth, logOperatorAuth } from '@greenlane/common/operator-auth';
import { createApiHandler } from './api.js';
import { ENVIRONMENT, loadConfig } from './config.js';
import { CommandLogTail } from './log-tail.js';
import { CommandRelay } from './relay.js';

const log = createLogger('command-api');

parseFlags(process.argv.slice(2), {}, {
  summary: "GreenLane command API: send a command to a car, follow it, wait for its outcome (HTTP + JSON, openapi.json); commands reach the car's stream on whichever ingestion instance holds it.",
  usage: 'npm start -w command-api',
  options: [],
  environment: ENVIRONMENT,
});

try {
  const config = loadConfig();
  logOperatorAuth(log, config.operators);
  const auth = await createOperatorAuth(config.operators);
  const openapi = readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8');

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'command_api_' });
  const requests = new Histogram({
    name: 'command_api_request_duration_seconds',
    help: 'Requests by route and status (a long poll counts its wait)',
    labelNames: ['route', 'status'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 60],
    registers: [registry],
  });
  const refused = new Counter({ name: 'command_api_requests_refused_total', help: 'Requests refused, by reason (bad_<field>, bad_json, too_large, unknown_car, too_many_pending, token_missing, token_wrong, token_expired, token_signature, token_claims, vehicle_token, insufficient_scope, rate_limited, …)', labelNames: ['reason'], registers: [registry] });
  const rateLimited = new Counter({ name: 'command_api_http_rate_limited_total', help: 'Requests refused with 429 because their operator identity was over OPERATOR_RATE / OPERATOR_BURST, by route', labelNames: ['route'], registers: [registry] });
  const issued = new Counter({ name: 'command_api_commands_issued_total', help: 'Commands accepted, by type', labelNames: ['type'], registers: [registry] });
  const ended = new Counter({ name: 'command_api_commands_ended_by_deadline_total', help: 'Commands the sweeper ended (EXPIRED or TIMED_OUT)', registers: [registry] });
  const relayed = new Counter({ name: 'command_api_status_changes_relayed_total', help: 'Status changes relayed to the fleet-commands topic', registers: [registry] });
  const relayFailures = new Counter({ name: 'command_api_relay_failures_total', help: 'Relay attempts that failed (Redis or Kafka away); retried', registers: [registry] });

  const redis = await connectRedis(config.redisUrl, log.child({ component: 'redis' }));
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: 'greenlane-command-api', log });
  await ensureTopics(kafka, [{ topic: config.topic, numPartitions: config.topicPartitions }]);
  const producer = completeProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();

  const store = new CommandStore(redis);
  const tail = new CommandLogTail(redis, log.child({ component: 'log-tail' }));
  await tail.start();
  const instance = `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const relay = new CommandRelay(redis, producer, config.topic, instance, { relayed: (n) => relayed.inc(n), failed: () => relayFailures.inc() }, log.child({ component: 'relay' }));
  await relay.start();
  new Gauge({ name: 'command_api_waiting_requests', help: 'Long polls waiting for an outcome', registers: [registry], collect() { this.set(tail.waiting); } });
  new Gauge({ name: 'command_api_relay_leader', help: '1 while this instance holds the relay lease (one instance relays commands:log at a time)', registers: [registry], collect() { this.set(relay.leader ? 1 : 0); } });
  new Gauge({ name: 'command_api_relay_lag_seconds', help: 'Age of the oldest status change being relayed (0: caught up)', registers: [registry], collect() { this.set(relay.lagMs / 1000); } });

  // Every instance sweeps; each change is one script, so two sweepers never end a command twice.
  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    store.sweep().then(
      (n) => ended.inc(n),
      (error: unknown) => log.warn({ err: (error as Error).message }, 'deadline sweep failed; retrying'),
    ).finally(() => (sweeping = false));
  }, config.sweepMs);

  let ready = true;
  const server = createOpsServer({
    registry,
    ready: () => ready && redis.isReady,
    health: () => ({ ready, redis: redis.isReady, waiting: tail.waiting }),
    handle: createApiHandler({
      store,
      tail,
      auth,
      openapi,
      maxPendingPerCar: config.maxPendingPerCar,
      defaultTimeoutMs: config.defaultTimeoutMs,
      maxBodyBytes: config.maxBodyBytes,
      maxWaitMs: config.maxWaitMs,
      log,
      refused: (reason) => refused.inc({ reason }),
      rateLimited: (route) => rateLimited.inc({ route }),
      issued: (type) => issued.inc({ type }),
      observe: (route, status, seconds) => requests.observe({ route, status: String(status) }, seconds),
    }),
  });
  const port = await listen(server, config.addr);
  log.info({ addr: config.addr, port, topic: config.topic }, 'command API listening');

  onShutdown(log, async () => {
    ready = false;
    clearInterval(sweeper);
    await closeServer(server);
    await tail.stop();
    await relay.stop();
    await producer.disconnect().catch(() => undefined);
    await redis.quit().catch(() => undefined);
  });
} catch (error) {
  exitOnStartupError(log, error);
}
