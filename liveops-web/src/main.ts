#!/usr/bin/env node
/**
 * GreenLane live web map for operators: one Kafka consumer of fleet-events (a group of its own)
 * keeps the latest state of every car in memory; browsers get a snapshot on connect, then one
 * frame of changed cars per tick over WebSocket (/ws), and the page that draws them (/).
 *   npm start -w liveops-web -- --help
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { WebSocketServer } from 'ws';
import {
  connectRedis,
  createKafka,
  createLogger,
  createOperatorAuth,
  ensureTopics,
  logOperatorAuth,
  refusalHeaders,
  exitOnStartupError,
  onShutdown,
  parseFlags,
  type RedisClient,
} from '@greenlane/common';
import { closeServer, createOpsServer, listen } from '@greenlane/common/ops-http';
import { ENVIRONMENT, loadConfig } from './config.js';
import { createMetrics } from './metrics.js';
import { FleetState } from './state.js';
import { StationBoard, readStations } from './stations.js';
import { Hub } from './hub.js';
import { createApiHandler, REALM } from './http.js';

/** setTimeout's longest delay (about 24.8 days); a JWT living longer is closed at its next reconnect. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const STATUS_TEXT: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 429: 'Too Many Requests', 503: 'Service Unavailable' };

const log = createLogger('liveops-web');

const flags = parseFlags(
  process.argv.slice(2),
  { 'from-beginning': { type: 'boolean' } },
  {
    summary: 'GreenLane live web map: every car and station on a map of Manhattan, live, for operators (open http://127.0.0.1:8090/?token=<operator token>).',
    usage: 'npm start -w liveops-web -- [flags]',
    options: [['--from-beginning', 'replay the topic from its start (as LIVEOPS_WEB_FROM_BEGINNING=true)']],
    environment: ENVIRONMENT,
  },
);

try {
  const config = loadConfig();
  if (flags['from-beginning'] === true) config.fromBeginning = true;
  logOperatorAuth(log, config.operators);
  const metrics = createMetrics();
  const auth = await createOperatorAuth(config.operators);
  const state = new FleetState({ offlineAfterMs: config.offlineAfterMs, recentEvents: config.recentEvents });

  let redis: RedisClient | undefined;
  if (config.redisUrl !== undefined) redis = await connectRedis(config.redisUrl, log);
  const board = new StationBoard(await readStations(config.stationsFile), redis, log);
  board.start(config.stationsPollMs);

  const hub = new Hub(state, board, { tickMs: config.tickMs, maxBufferedBytes: config.maxBufferedBytes, statusEveryMs: 1000 }, metrics, log);
  let consuming = false;
  const server = createOpsServer({
    registry: metrics.registry,
    ready: () => consuming,
    health: () => ({ consuming, cars: state.size, browsers: hub.clientCount, topic: config.topic }),
    handle: createApiHandler({ state, stations: board, auth, metrics, log, commandApiUrl: config.commandApiUrl }),
  });
  // noServer: the upgrade is authenticated first; a refused one never becomes a WebSocket.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
      return;
    }
    // A socket reset while the credential is being checked must not take the process down.
    socket.on('error', () => socket.destroy());
    auth.authorize(req, 'operator:read').then(
      (result) => {
        if (!result.ok) {
          metrics.refused.inc({ reason: result.reason });
          if (result.status === 429) metrics.rateLimited.inc({ route: 'ws' });
          const headers = Object.entries(refusalHeaders(result, REALM)).map(([k, v]) => `${k}: ${v}\r\n`).join('');
          socket.end(`HTTP/1.1 ${result.status} ${STATUS_TEXT[result.status]}\r\n${headers}connection: close\r\n\r\n`);
          return;
        }
        const { expiresAt } = result.identity;
        wss.handleUpgrade(req, socket, head, (ws) => {
          hub.add(ws);
          // The credential's life bounds the connection's: an expired JWT no longer reads the map.
          if (expiresAt === undefined) return;
          const timer = setTimeout(() => ws.close(1008, 'operator token expired'), Math.min(MAX_TIMER_MS, Math.max(0, expiresAt - Date.now())));
          ws.once('close', () => clearTimeout(timer));
        });
      },
      (error: unknown) => {
        log.error({ err: error }, 'operator check of a WebSocket upgrade failed');
        socket.destroy();
      },
    );
  });
  const port = await listen(server, config.httpAddr);
  hub.start();
  log.info({ port, addr: config.httpAddr, topic: config.topic, tickMs: config.tickMs, stations: board.stations.length }, `live map at http://127.0.0.1:${port}/`);

  const kafka = createKafka({ brokers: config.brokers, clientId: 'liveops-web', log });
  await ensureTopics(kafka, [{ topic: config.topic, numPartitions: 6 }]);
  const groupId = config.groupId ?? `liveops-web-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, sessionTimeout: 10_000, heartbeatInterval: 3_000, allowAutoTopicCreation: false });
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    consuming = true;
    log.info({ groupId, partitions: Object.values(e.payload.memberAssignment).reduce((n, p) => n + p.length, 0) }, 'consuming');
  });
  consumer.on(consumer.events.CRASH, (e) => {
    consuming = false;
    log.error({ err: e.payload.error.message, restart: e.payload.restart }, 'consumer crashed');
    if (!e.payload.restart) {
      process.exitCode = 1;
      process.kill(process.pid, 'SIGTERM');
    }
  });
  // Registered before the broker is reached: a service waiting for Kafka still stops cleanly.
  onShutdown(log, async () => {
    consuming = false;
    hub.stop();
    board.stop();
    await consumer.disconnect();
    wss.close();
    await closeServer(server);
    if (redis) await redis.quit().catch(() => undefined);
  });
  await consumer.connect();
  await consumer.subscribe({ topic: config.topic, fromBeginning: config.fromBeginning });
  // The alert engine's topic, where it exists: read from its start, so alerts raised before this
  // service started are shown while active (cleared ones are dropped on the way).
  const admin = kafka.admin();
  await admin.connect();
  const alertsTopicExists = (await admin.listTopics()).includes(config.alertsTopic);
  await admin.disconnect();
  if (alertsTopicExists) await consumer.subscribe({ topic: config.alertsTopic, fromBeginning: true });
  else log.info({ topic: config.alertsTopic }, 'no alerts topic (the alert engine has not run here): battery alerts only');
  await consumer.run({
    // The group is this process's own: nothing to resume from, no offsets worth committing.
    autoCommit: false,
    eachBatch: async ({ batch, isRunning, isStale }) => {
      const now = Date.now();
      let ok = 0;
      let bad = 0;
      for (const message of batch.messages) {
        if (!isRunning() || isStale()) break;
        if (message.value === null) continue;
        if (state.apply(message.value.toString('utf8'), now)) ok += 1;
        else bad += 1;
      }
      if (ok > 0) metrics.eventsConsumed.inc({ outcome: 'applied' }, ok);
      if (bad > 0) metrics.eventsConsumed.inc({ outcome: 'unreadable' }, bad);
    },
  });
} catch (error) {
  exitOnStartupError(log, error);
}
