/**
 * Assembles one ingestion instance: Redis and Kafka clients, the gRPC server with its auth
 * interceptor and health service, the operations HTTP port, and the bookings desk when present.
 * Holds no state another instance would need, so several run side by side on one Redis and Kafka.
 */
import { Server } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Server as HttpServer } from 'node:http';
import { connectRedis, createKafka, ensureTopics, type Logger, type RedisClient } from '@greenlane/common';
import { createGridClient } from '@greenlane/common/grid-client';
import { FleetServiceService } from '@greenlane/common/gen/fleet/fleet';
import { serializeBookingResponse } from './ack-encoding.js';
import { createJwtVerifier, type JwtVerifier } from '@greenlane/common/jwt-auth';
import { authInterceptor, type Authenticator } from './auth.js';
import { vehicleAuthenticator } from './security/vehicle-auth.js';
import { portCredentials } from './security/tls.js';
import { openBookingDesk, type BookingDesk } from './bookings-bridge.js';
import { splitHostPort, type IngestionConfig } from './config.js';
import { createMetrics, type IngestionMetrics } from './metrics.js';
import { createOpsServer, type Readiness } from './ops-http.js';
import { Storage } from './storage.js';
import { CommandDelivery } from './commands/delivery.js';
import { PresenceTracker } from './presence/tracker.js';
import { StreamHub } from './stream-handler.js';

export interface Ingestion {
  grpcPort: number;
  httpPort: number;
  hub: StreamHub;
  metrics: IngestionMetrics;
  redis: RedisClient;
  storage: Storage;
  /** Drain (stop reading, ack or fail what is in flight), flush, close everything. */
  stop(): Promise<void>;
}

function withTimeout<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.catch(() => fallback),
    new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** Who may stream, from the configuration: stream-rate check, then certificate, JWT or shared token (security/vehicle-auth.ts). */
export function fleetAuthenticator(cfg: IngestionConfig, jwt: JwtVerifier | undefined): Authenticator {
  return vehicleAuthenticator({
    apiTokens: cfg.apiTokens,
    jwt,
    mutualTls: cfg.tls?.clientCaFile !== undefined,
    streamRate: cfg.streamRate,
    trustedProxies: new Set(cfg.trustedProxies),
  });
}

/** The gRPC server that serves the fleet's streams: credentials checked first, message size limit, keepalive. */
export function createFleetServer(cfg: IngestionConfig, hub: StreamHub, metrics: IngestionMetrics, authenticate: Authenticator): Server {
  const server = new Server({
    interceptors: [
      authInterceptor(authenticate, (_method, reason) => {
        if (reason === 'stream_rate') metrics.rateLimited.inc({ limit: 'stream' });
        metrics.authRefused.inc({ reason });
        metrics.error('unauthenticated');
      }),
    ],
    'grpc.max_receive_message_length': cfg.maxMessageBytes,
    // Cars hold streams for hours: detect dead peers, and let cars ping.
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 10_000,
  });
  // The same service, with the plain acknowledgement's encoding written directly (ack-encoding.ts).
  const service = { ...FleetServiceService, streamTelemetry: { ...FleetServiceService.streamTelemetry, responseSerialize: serializeBookingResponse } };
  server.addService(service, { streamTelemetry: hub.handle });
  return server;
}

export async function startIngestion(
  cfg: IngestionConfig,
  log: Logger,
  env: Record<string, string | undefined> = process.env,
  options: { defaultMetrics?: boolean } = {},
): Promise<Ingestion> {
  const metrics = createMetrics(options.defaultMetrics ?? true);
  // Credentials first: a bad certificate file or JWKS stops the start before anything connects.
  const jwt = cfg.jwt === undefined ? undefined : await createJwtVerifier(cfg.jwt);
  const grpcCredentials = portCredentials(cfg.tls, log.child({ component: 'tls' }), () => metrics.tlsReloads.inc());
  const redis = await connectRedis(cfg.redisUrl, log.child({ component: 'redis' }));
  const kafka = createKafka({ brokers: cfg.kafkaBrokers, clientId: 'greenlane-ingestion', log });
  await ensureTopics(kafka, [{ topic: cfg.topic, numPartitions: cfg.topicPartitions }]);
  const storage = await Storage.start(
    {
      redisUrl: cfg.redisUrl,
      kafkaBrokers: cfg.kafkaBrokers,
      topic: cfg.topic,
      lingerMs: cfg.kafkaLingerMs,
      batchMax: cfg.kafkaBatchMax,
      compression: cfg.kafkaCompression,
      logLevel: log.level,
    },
    metrics,
    log.child({ component: 'storage' }),
  );
  const hub = new StreamHub({ cfg, log, metrics, storage });
  metrics.inFlightSource = () => hub.inFlightMessages;
  const commands = new CommandDelivery({
    redis,
    instance: cfg.instanceId,
    log: log.child({ component: 'commands' }),
    metrics,
    write: (carId, command) => hub.writeCommand(carId, command),
    cars: () => hub.commandCars(),
  });
  await commands.start();
  hub.commands = commands;
  const presence = new PresenceTracker({
    redis,
    instance: cfg.instanceId,
    cfg: cfg.presence,
    log: log.child({ component: 'presence' }),
    publish: (events) => storage.publish(events).then(() => undefined),
    changed: (state, reason) => metrics.presenceChanges.inc({ state, reason }),
  });
  hub.presence = presence;

  const grid = createGridClient({ baseUrl: cfg.gridUrl, timeoutMs: 2000 });
  let desk: BookingDesk | undefined;
  if (cfg.bookings) {
    desk = await openBookingDesk({
      redis,
      log: log.child({ component: 'bookings' }),
      // A booking event Kafka refuses for what it is cannot be retried into the topic: the storage
      // thread logs it; the booking itself lives in Redis.
      publish: (events) => storage.publish(events.map((e) => ({ key: e.car_id, value: JSON.stringify(e) }))).then(() => undefined),
      currentPrice: async () => (await grid.price(Date.now())).price_per_kwh,
      notifyCar: (carId, response) => hub.notifyCar(carId, response),
      env,
    });
    hub.desk = desk;
  }

  const server = createFleetServer(cfg, hub, metrics, fleetAuthenticator(cfg, jwt));
  const health = new HealthImplementation({ '': 'SERVING', 'fleet.FleetService': 'SERVING' });
  health.addToServer(server);
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(cfg.grpcAddr, grpcCredentials.credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
  );

  const admin = kafka.admin();
  let adminConnected = false;
  let draining = false;
  let cached: { at: number; state: Readiness } | undefined;
  const readiness = async (): Promise<Readiness> => {
    // A cached answer still turns not-ready at once when draining starts: balancers stop sending then.
    if (cached !== undefined && Date.now() - cached.at < 1000) return { ...cached.state, ready: cached.state.ready && !draining, draining };
    const redisOk = withTimeout(redis.ping().then((pong) => pong === 'PONG'), 1000, false);
    const kafkaOk = withTimeout(
      (async () => {
        if (!adminConnected) {
          await admin.connect();
          adminConnected = true;
        }
        const cluster = await admin.describeCluster();
        return cluster.brokers.length > 0 && !storage.stalled;
      })(),
      1500,
      false,
    );
    const [r, k] = await Promise.all([redisOk, kafkaOk]);
    const state = { ready: r && k && !draining, redis: r, kafka: k, draining };
    cached = { at: Date.now(), state };
    return state;
  };

  const ops: HttpServer = createOpsServer({
    registry: metrics.registry,
    readiness,
    connections: () => hub.connections(),
    stations: desk === undefined ? undefined : () => desk.stationsReport(),
    log,
  });
  const { host, port } = splitHostPort(cfg.httpAddr);
  const httpPort = await new Promise<number>((resolve, reject) => {
    ops.once('error', reject);
    ops.listen(port, host, () => {
      const address = ops.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
  log.info(
    {
      grpc: `${cfg.grpcAddr.replace(/:\d+$/, '')}:${grpcPort}`,
      http: `${host}:${httpPort}`,
      topic: cfg.topic,
      bookings: desk !== undefined,
      instance: cfg.instanceId,
      transport: cfg.tls === undefined ? 'plaintext' : cfg.tls.clientCaFile === undefined ? 'tls' : 'mutual tls',
      credentials: [cfg.tls?.clientCaFile !== undefined ? 'certificate' : '', jwt !== undefined ? 'jwt' : '', cfg.apiTokens.length > 0 ? 'x-api-token' : ''].filter(Boolean),
    },
    cfg.usingDevelopmentToken ? 'ingestion ready (API_TOKENS unset: accepting the DEVELOPMENT token only)' : 'ingestion ready',
  );

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      draining = true;
      health.setStatus('', 'NOT_SERVING');
      health.setStatus('fleet.FleetService', 'NOT_SERVING');
      const { unacknowledged } = await hub.drain(cfg.drainTimeoutMs);
      log.info({ unacknowledged }, 'streams drained');
      await withTimeout(new Promise<void>((resolve) => server.tryShutdown(() => resolve())), 2000, undefined);
      server.forceShutdown();
      // What the closing streams wrote (their disconnections, their cars' presence) before storage goes.
      await withTimeout(presence.close(), 2000, undefined);
      await withTimeout(storage.close(Math.max(cfg.drainTimeoutMs, 1000)), Math.max(cfg.drainTimeoutMs, 1000) + 5000, undefined);
      if (desk !== undefined) await withTimeout(desk.close(), 5000, undefined);
      await withTimeout(commands.close(), 2000, undefined);
      await withTimeout(grid.close(), 1000, undefined);
      grpcCredentials.certificates?.close();
      if (adminConnected) await withTimeout(admin.disconnect(), 1000, undefined);
      await withTimeout(redis.quit().then(() => undefined), 2000, undefined);
      await new Promise<void>((resolve) => {
        ops.close(() => resolve());
        ops.closeAllConnections();
      });
    })());

  return { grpcPort, httpPort, hub, metrics, redis, storage, stop };
}
