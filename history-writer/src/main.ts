#!/usr/bin/env node
/**
 * GreenLane history writer: consumes fleet-events as its own group (`history-writer-group`) and
 * writes every telemetry event into the car_telemetry hypertable, batched and once (by event id).
 */
import { createKafka, createLogger, ensureTopics, exitOnStartupError, migrateTelemetry, onShutdown, openServiceDatabase, parseFlags } from '@greenlane/common';
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
    const result = await migrateTelemetry(client, log, { policies: true, retentionDays: config.retentionDays, compressAfterHours: config.compressAfterHours });
    let scheduler = false;
    if (result.timescale) {
      const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'TimescaleDB Background Worker Scheduler%'");
      scheduler = (rows[0]?.n ?? 0) > 0;
    }
    return { ...result, scheduler };
  });
  const runJobs = schema.timescale && (config.runJobs === 'auto' ? !schema.scheduler : config.runJobs);
  log.info({ timescale: schema.timescale, jobs: schema.jobs, scheduler: schema.scheduler, writerRunsJobs: runJobs, retentionDays: config.retentionDays }, 'schema ready');
  const jobs = startJobRunner({ jobs: runJobs ? schema.jobs : [], intervalMs: config.jobsIntervalMs, withDb: database.withDb, log, metrics });

  const kafka = createKafka({ brokers: config.brokers, clientId: 'history-writer', log });
  await ensureTopics(kafka, [{ topic: config.topic, numPartitions: 6 }]);
  const consumer = kafka.consumer({
    groupId: config.groupId,
    sessionTimeout: config.sessionTimeoutMs,
    heartbeatInterval: Math.min(3000, Math.floor(config.sessionTimeoutMs / 3)),
    maxBytesPerPartition: config.maxBytesPerPartition,
    maxBytes: Math.max(config.maxBytesPerPartition * 6, 10 * 1024 * 1024),
    maxWaitTimeInMs: 250,
    allowAutoTopicCreation: false,
  });
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    ready = true;
    log.info({ memberId: e.payload.memberId, assignment: e.payload.memberAssignment }, 'joined the consumer group');
  });
  consumer.on(consumer.events.CRASH, (e) => {
    ready = false;
    log.error({ err: e.payload.error.message, restart: e.payload.restart }, 'consumer crashed');
    // Offsets are committed only after rows, so exiting for a supervisor to restart loses nothing.
    if (!e.payload.restart) {
      log.fatal('consumer stopped for good; exiting so that a supervisor restarts the writer');
      process.exitCode = 1;
      process.kill(process.pid, 'SIGTERM');
    }
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
