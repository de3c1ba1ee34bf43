#!/usr/bin/env node
/**
 * GreenLane pricing worker: consumes fleet-events as group `pricing-worker-group`, prices every
 * charging sample at its instant and writes charging_sessions exactly once in effect.
 * Main thread: Kafka, grid prices, database. Piscina pool: decoding and validation of whole batches.
 */
import { completeProducer } from '@greenlane/common/kafka-send';
import { Piscina } from 'piscina';
import { createGridClient } from '@greenlane/common/grid-client';
import { createGroupConsumer, createKafka, createLogger, ensureTopics, exitOnStartupError, onShutdown, parseFlags } from '@greenlane/common';
import { ENVIRONMENT, loadConfig } from './config.js';
import { createMetrics } from './metrics.js';
import { createPriceCache } from './price-cache.js';
import { openDatabase } from './database.js';
import { sendDeadLetters } from './dlq.js';
import { runConsumer } from './consumer.js';
import { createOpsServer, listen } from './ops-http.js';
import type { DecodedBatch } from './decode.js';

const log = createLogger('pricing-worker');

parseFlags(process.argv.slice(2), {}, {
  summary: 'GreenLane pricing worker: prices every charging sample on fleet-events and writes charging_sessions exactly once.',
  usage: 'npm start -w pricing-worker',
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

  const kafka = createKafka({ brokers: config.brokers, clientId: 'pricing-worker', log });
  await ensureTopics(kafka, [
    { topic: config.topic, numPartitions: 6 },
    { topic: config.dlqTopic, numPartitions: 1 },
  ]);
  const database = await openDatabase({ target: config.database, schema: config.dbSchema, connections: config.concurrency, log });
  const grid = createGridClient({ baseUrl: config.gridUrl, timeoutMs: config.gridTimeoutMs });
  const prices = createPriceCache(grid, { onHit: () => metrics.priceCacheHits.inc(), onMiss: () => metrics.priceCacheMisses.inc() });
  const pool = new Piscina({
    filename: new URL('./decode-task.js', import.meta.url).href,
    minThreads: config.poolSize,
    maxThreads: config.poolSize,
  });
  const producer = completeProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();

  const consumer = createGroupConsumer(kafka, {
    groupId: config.groupId,
    sessionTimeoutMs: config.sessionTimeoutMs,
    maxBytesPerPartition: config.maxBytesPerPartition,
    log,
    self: 'the worker',
    onReady: (value) => (ready = value),
  });
  await consumer.connect();
  await consumer.subscribe({ topic: config.topic, fromBeginning: config.fromBeginning });

  const loop = await runConsumer({
    consumer,
    metrics,
    log,
    concurrency: config.concurrency,
    deps: {
      decode: (task, transfer) => pool.run(task, { transferList: transfer }) as Promise<DecodedBatch>,
      prices,
      withDb: database.withDb,
      deadLetters: (letters) => sendDeadLetters(producer, config.dlqTopic, letters),
    },
  });
  log.info({ topic: config.topic, group: config.groupId, pool: config.poolSize, opsPort, grid: config.gridUrl, embeddedDb: config.database.embedded }, 'pricing worker running');

  onShutdown(log, async () => {
    ready = false;
    loop.stop();
    // Stops fetching, lets the batch in hand finish and commit, then leaves the group.
    await consumer.disconnect();
    await producer.disconnect();
    await pool.destroy();
    await grid.close();
    await database.close();
    ops.closeAllConnections();
    await new Promise<void>((resolve) => ops.close(() => resolve()));
  });
} catch (error) {
  exitOnStartupError(log, error);
}
