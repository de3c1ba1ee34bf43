#!/usr/bin/env node
/**
 * GreenLane alert engine: consumes fleet-events as its own group, runs the alert rules per car,
 * keeps their state and the alerts in Redis, sends every transition to fleet-alerts and
 * fleet_alerts, and serves the operators' API (openapi.json) with presence.
 */
import { completeProducer } from '@greenlane/common/kafka-send';
import { readFileSync } from 'node:fs';
import { Gauge } from 'prom-client';
import { connectRedis, createGroupConsumer, createKafka, createLogger, ensureTopics, exitOnStartupError, onShutdown, openServiceDatabase, parseFlags } from '@greenlane/common';
import { closeServer, createOpsServer, listen } from '@greenlane/common/ops-http';
import { createOperatorAuth, logOperatorAuth } from '@greenlane/common/operator-auth';
import { createApiHandler } from './api.js';
import { ENVIRONMENT, loadConfig } from './config.js';
import { countSent, runConsumer } from './consumer.js';
import { migrateAlerts } from './db.js';
import { createMetrics } from './metrics.js';
import { PresenceReader } from './presence.js';
import { loadServiceArea } from './rules/service-area.js';
import { createSink, startDbWriter } from './sink.js';
import { AlertStore } from './store.js';

const log = createLogger('alert-engine');
/** Advisory lock of the fleet_alerts migration. */
const SCHEMA_LOCK = 724245;

parseFlags(process.argv.slice(2), {}, {
  summary: 'GreenLane alert engine: battery, overspeed, offline, charging-stalled, service-area and booking no-show alerts from fleet-events; raised, refreshed, cleared, acknowledged; fleet-alerts topic, fleet_alerts table, operators\' API (openapi.json).',
  usage: 'npm start -w alert-engine',
  options: [],
  environment: ENVIRONMENT,
});

try {
  const config = loadConfig();
  const area = loadServiceArea(config.serviceAreaFile);
  logOperatorAuth(log, config.operators);
  const auth = await createOperatorAuth(config.operators);
  const openapi = readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8');
  const metrics = createMetrics();

  const redis = await connectRedis(config.redisUrl, log.child({ component: 'redis' }));
  const store = new AlertStore(redis, config.redisPrefix, config.doneRetentionS, config.clearedRetentionS);
  new Gauge({
    name: 'alert_open', help: 'Alerts not done (active, or cleared and not acknowledged)', registers: [metrics.registry],
    async collect() {
      this.set(await redis.sCard(store.keys.open).catch(() => 0));
    },
  });

  const database = openServiceDatabase({ target: config.database, schema: config.dbSchema, connections: 2, log, lockKey: SCHEMA_LOCK });
  const schema = await database.migrateLocked((client) => migrateAlerts(client, log));

  const kafka = createKafka({ brokers: config.brokers, clientId: 'alert-engine', log });
  await ensureTopics(kafka, [{ topic: config.topic, numPartitions: 6 }, { topic: config.alertsTopic, numPartitions: config.alertsPartitions }]);
  const producer = completeProducer(kafka, { idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  const sink = createSink({ producer, topic: config.alertsTopic });
  const dbWriter = startDbWriter({ store, withDb: database.withDb, metrics, log, intervalMs: 200 });
  new Gauge({
    name: 'alert_db_backlog', help: 'Alert events waiting to be written to fleet_alerts', registers: [metrics.registry],
    async collect() {
      this.set(await store.backlog(store.keys.dbOutbox).catch(() => 0));
    },
  });

  // Acknowledgements: queued in Redis with the ack itself, sent from there (one sender at a time).
  let flushing: Promise<void> | undefined;
  const flushAcks = (): Promise<void> => {
    flushing ??= (async () => {
      try {
        for (;;) {
          const queued = await store.read(store.keys.apiOutbox, 500);
          if (queued.raw.length === 0) return;
          await sink.publish(queued.events);
          countSent(metrics, queued.events);
          await store.confirm(queued);
        }
      } finally {
        flushing = undefined;
      }
    })();
    return flushing;
  };
  await flushAcks();
  const ackTimer = setInterval(() => void flushAcks().catch((error: Error) => log.warn({ err: error.message }, 'acknowledgements not sent yet; retrying')), 5000);
  ackTimer.unref();

  let consuming = false;
  const server = createOpsServer({
    registry: metrics.registry,
    ready: () => consuming && redis.isReady,
    health: () => ({ consuming, redis: redis.isReady, topic: config.topic, group: config.groupId, alertsTopic: config.alertsTopic, timescale: schema.timescale, area: area.name }),
    handle: createApiHandler({
      store,
      presence: new PresenceReader(redis, config.presencePrefix),
      redis,
      auth,
      openapi,
      maxBodyBytes: config.maxBodyBytes,
      log,
      flushAcks,
      refused: (reason) => metrics.apiRefused.inc({ reason }),
      rateLimited: (route) => metrics.rateLimited.inc({ route }),
      observe: (route, status, seconds) => metrics.apiRequests.observe({ route, status: String(status) }, seconds),
    }),
  });
  const port = await listen(server, config.addr);

  const consumer = createGroupConsumer(kafka, {
    groupId: config.groupId,
    sessionTimeoutMs: config.sessionTimeoutMs,
    maxBytesPerPartition: config.maxBytesPerPartition,
    log,
    self: 'the alert engine',
    onReady: (value) => (consuming = value),
  });
  await consumer.connect();
  await consumer.subscribe({ topic: config.topic, fromBeginning: config.fromBeginning });
  const loop = await runConsumer({ consumer, store, sink, settings: { rules: config.rules, area }, metrics, log, concurrency: config.concurrency });
  log.info({ topic: config.topic, group: config.groupId, alertsTopic: config.alertsTopic, port, rules: config.rules, area: area.name, timescale: schema.timescale, embeddedDb: config.database.embedded }, 'alert engine running');

  onShutdown(log, async () => {
    consuming = false;
    loop.stop();
    clearInterval(ackTimer);
    // Stops fetching, lets the batches in hand finish and commit, then leaves the group.
    await consumer.disconnect();
    await flushing?.catch(() => undefined);
    await closeServer(server);
    await producer.disconnect();
    await dbWriter.drain().catch((error: Error) => log.warn({ err: error.message }, 'fleet_alerts not fully written; the rest waits in Redis for the next start'));
    await dbWriter.stop();
    await database.close();
    await redis.quit().catch(() => undefined);
  });
} catch (error) {
  exitOnStartupError(log, error);
}
