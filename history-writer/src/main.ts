#!/usr/bin/env node
/**
 * GreenLane history writer: consumes fleet-events as its own group (`history-writer-group`) and
 * writes every telemetry event into the car_telemetry hypertable, batched and once (by event id).
 */
import { createGroupConsumer, createKafka, createLogger, ensureTopics, exitOnStartupError, migrateTelemetry, onShutdown, openServiceDatabase, parseFlags } from '@greenlane/common';
import { closeServer, createOpsServer, listen } from '@greenlane/common/ops-http';
import { ENVIRONMENT, loadConfig } from './config.js';
import { createMetrics } from './metrics.js';
import { runConsumer } from './consumer.js';
import { startJobRunner } from './jobs.js';

const log = createLogger('history-writer');

parseFlags(process.argv.slice(2), {}, {
  summary: 'GreenLane history writer: every telemetry event on fleet-events into the car_telemetry hypertable, once.',
  usage: 'npm start -w history-writer',
  options: [],
  environment: ENVIRONMENT,
});

try {
  const config = loadConfig();
  const metrics = createMetrics();
  let ready = false;
  const ops = createOpsServer({
    registry: metrics.registry,
    ready: () => ready,
    health: () => ({ ready, topic: config.topic, group: config.groupId }),
  });
  const opsPort = await listen(ops, config.httpAddr);

  const database = openServiceDatabase({ target: config.database, schema: config.dbSchema, connections: config.connections, log, lockKey: 724243 });
  const schema = await database.migrateLocked(async (client) => {
    const result = await migrateTelemetry(client, log, { policies: true, retentionDays: config.retentionDays, compressAfterHours: config.compressAfterHours, rollups: config.rollups });
    let scheduler = false;
    if (result.timescale) {
      // A server that does not show its background workers is taken as one without a scheduler.
      const { rows } = await client
        .query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'TimescaleDB Background Worker Scheduler%'")
        .catch(() => ({ rows: [] as Array<{ n: number }> }));
      scheduler = (rows[0]?.n ?? 0) > 0;
    }
    return { ...result, scheduler };
  });
  const runJobs = schema.timescale && (config.runJobs === 'auto' ? !schema.scheduler : config.runJobs);
  log.info({ timescale: schema.timescale, rollups: { telemetry: schema.rollups.telemetry, stays: schema.rollups.stays, backfilled: schema.rollups.backfilled }, jobs: schema.jobs, scheduler: schema.scheduler, writerRunsJobs: runJobs, retentionDays: config.retentionDays }, 'schema ready');
  const jobs = startJobRunner({ jobs: runJobs ? schema.jobs : [], intervalMs: config.jobsIntervalMs, withDb: database.withDb, log, metrics });

  const kafka = createKafka({ brokers: config.brokers, clientId: 'history-writer', log });
  await ensureTopics(kafka, [{ topic: config.topic, numPartitions: 6 }]);
  const consumer = createGroupConsumer(kafka, {
    groupId: config.groupId,
    sessionTimeoutMs: config.sessionTimeoutMs,
    maxBytesPerPartition: config.maxBytesPerPartition,
    log,
    self: 'the writer',
    onReady: (value) => (ready = value),
  });
  await consumer.connect();
  await consumer.subscribe({ topic: config.topic, fromBeginning: config.fromBeginning });
  const loop = await runConsumer({ consumer, withDb: database.withDb, metrics, log, concurrency: config.concurrency });
  log.info({ topic: config.topic, group: config.groupId, opsPort, embeddedDb: config.database.embedded }, 'history writer running');

  onShutdown(log, async () => {
    ready = false;
    loop.stop();
    // Stops fetching, lets the batch in hand finish and commit, then leaves the group.
    await consumer.disconnect();
    await jobs.stop();
    await database.close();
    await closeServer(ops);
  });
} catch (error) {
  exitOnStartupError(log, error);
}
