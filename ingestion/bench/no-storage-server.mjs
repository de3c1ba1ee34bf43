#!/usr/bin/env node
// The ingestion service's own gRPC path with Redis and Kafka taken out, for the benchmark only: the
// same gRPC server (auth interceptor, limits, keepalive), stream handler (validation, flow control, in-order acks) and metrics as
// the service, and the same hop to a storage thread and back, whose thread acknowledges each
// batch at once instead of writing it anywhere. Between the bare echo server and the service, it
// tells how much of the ack latency is the service's own path and how much is Redis and Kafka.
//
//   node bench/no-storage-server.mjs --addr 127.0.0.1:PORT     (API_TOKENS as the service)
//
// It stores NOTHING: never point cars at it.
import { Worker } from 'node:worker_threads';
import { ServerCredentials } from '@grpc/grpc-js';
import { createLogger } from '@greenlane/common';
import { loadConfig } from '../dist/src/config.js';
import { createMetrics } from '../dist/src/metrics.js';
import { createFleetServer, fleetAuthenticator } from '../dist/src/server.js';
import { StreamHub } from '../dist/src/stream-handler.js';
import { StatusPacker } from '../dist/src/status-batch.js';

const at = process.argv.indexOf('--addr');
if (at < 0 || process.argv[at + 1] === undefined) {
  console.error('usage: no-storage-server.mjs --addr HOST:PORT');
  process.exit(2);
}
const cfg = loadConfig({ ...process.env, INGESTION_ADDR: process.argv[at + 1] });
const log = createLogger('ingestion-no-storage', process.env);

/** Storage's interface and batching (one batch per event-loop turn, one message to the thread and one back). */
function threadHopStorage() {
  const STORED = { late: false };
  const thread = new Worker(`
    const { parentPort } = require('node:worker_threads');
    let ids = [];
    parentPort.on('message', ({ id }) => {
      if (ids.length === 0) setImmediate(() => { parentPort.postMessage(ids); ids = []; });
      ids.push(id);
    });`, { eval: true });
  const waiting = new Map();
  let batch;
  let nextId = 1;
  thread.on('message', (ids) => {
    for (const id of ids) {
      // Each message's waiter, from its batch's outcome, as Storage.store calls them.
      for (const waiter of waiting.get(id)) waiter.storeDone(STORED);
      waiting.delete(id);
    }
  });
  return {
    stalled: false,
    store(status, waiter) {
      if (batch === undefined) {
        const id = nextId++;
        batch = { id, statuses: new StatusPacker(), waiters: [] };
        waiting.set(id, batch.waiters);
        setImmediate(() => {
          // The statuses travel as the service's do (packed, their numbers transferred), then are dropped.
          const statuses = batch.statuses.pack();
          thread.postMessage({ id: batch.id, statuses }, [statuses.numbers.buffer]);
          batch = undefined;
        });
      }
      batch.statuses.push(status);
      batch.waiters.push(waiter);
    },
    close: () => thread.terminate(),
  };
}

const metrics = createMetrics(true);
const storage = threadHopStorage();
const hub = new StreamHub({ cfg, log, metrics, storage });
const server = createFleetServer(cfg, hub, metrics, fleetAuthenticator(cfg, undefined));
const port = await new Promise((resolve, reject) =>
  server.bindAsync(cfg.grpcAddr, ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
);
log.info({ port }, 'no-storage ingestion path listening (stores nothing)');

const stop = async () => {
  await hub.drain(1000);
  server.forceShutdown();
  await storage.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
