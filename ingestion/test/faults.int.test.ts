/**
 * Faults, against the real Redis (database 3) and a PRIVATE Kafka broker (the test stops it; the
 * shared broker is never touched):
 *   - the broker stopped mid-stream: no acknowledgement for what is not stored, the car is told to
 *     retry (UNAVAILABLE) once the bounds are spent, and after the broker returns everything the
 *     car sent is acknowledged, with every acknowledged CarStatus on the topic;
 *   - the storage thread dies with messages in flight: they are failed or stored, never acknowledged
 *     and lost; a new thread takes over and the resending cars get everything acknowledged;
 *   - SIGTERM drains the compiled service: new streams are refused, what was in flight is
 *     acknowledged (and on the topic) or failed, the process exits 0.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { status as GrpcStatus, type ClientDuplexStream } from '@grpc/grpc-js';
import { uniqueName, waitFor } from '@greenlane/common/testing';
import { freePort, startPrivateKafka, type PrivateKafka } from '@greenlane/common/testing-kafka';
import { BookingStatus, type BookingResponse, type CarStatus, type FleetServiceClient } from '@greenlane/common/gen/fleet/fleet';
import { serializeTelemetry } from '../src/event.js';
import {
  carStatus,
  client,
  openStream,
  readTopic,
  serviceEnv,
  sleep,
  spawnService,
  startService,
  tokenMetadata,
} from './helpers.js';

const DB = 3;

/**
 * A car as the contract wants it: every CarStatus stays queued until acknowledged; when the stream
 * fails it reconnects after a pause and resends, in order, what was not acknowledged.
 */
class ResendingCar {
  readonly unacked: CarStatus[] = [];
  /** timestamp of the CarStatus → when it was first sent and when its ack arrived (Date.now()). */
  readonly firstSentAt = new Map<number, number>();
  readonly ackedAt = new Map<number, number>();
  readonly sent: CarStatus[] = [];
  readonly ends: Array<{ code: number; details: string }> = [];
  readonly failedAnswers: BookingResponse[] = [];
  streamsOpened = 0;
  private call: ClientDuplexStream<CarStatus, BookingResponse> | undefined;
  private stopped = false;
  private reconnect: NodeJS.Timeout | undefined;

  constructor(
    private readonly grpc: FleetServiceClient,
    readonly carId: string,
    private readonly reconnectMs = 300,
  ) {}

  open(): void {
    const call = this.grpc.streamTelemetry(tokenMetadata());
    this.call = call;
    this.streamsOpened++;
    call.on('data', (r: BookingResponse) => {
      if (r.status !== BookingStatus.BOOKING_UNKNOWN) {
        this.failedAnswers.push(r);
        return;
      }
      const at = this.unacked.findIndex((s) => s.timestamp === r.timestamp);
      if (at < 0) return; // an ack for a resent message already acknowledged cannot happen, but would be harmless
      this.unacked.splice(at, 1);
      this.ackedAt.set(r.timestamp, Date.now());
    });
    const ended = (end: { code: number; details: string }) => {
      if (this.call !== call) return;
      this.call = undefined;
      this.ends.push(end);
      if (!this.stopped) this.reconnect = setTimeout(() => this.open(), this.reconnectMs);
    };
    call.on('error', (e: { code: number; details: string }) => ended({ code: e.code, details: e.details }));
    call.on('status', (s: { code: number; details: string }) => s.code === 0 && ended({ code: 0, details: s.details }));
    for (const s of this.unacked) call.write(s);
  }

  send(status: CarStatus): void {
    this.sent.push(status);
    this.unacked.push(status);
    this.firstSentAt.set(status.timestamp, Date.now());
    this.call?.write(status);
  }

  get acked(): number {
    return this.ackedAt.size;
  }

  /** Half-closes the stream once everything is acknowledged (or gives up after timeoutMs). */
  async finish(timeoutMs = 30_000): Promise<void> {
    await waitFor(`${this.carId}: every message acknowledged`, () => this.unacked.length === 0, timeoutMs);
    this.stopped = true;
    clearTimeout(this.reconnect);
    const call = this.call;
    if (call !== undefined) {
      const done = new Promise<void>((resolve) => {
        call.on('status', () => resolve());
        call.on('error', () => resolve());
      });
      call.end();
      await done;
    }
  }

  abandon(): void {
    this.stopped = true;
    clearTimeout(this.reconnect);
    this.call?.cancel();
  }
}

/** Sends one CarStatus per `everyMs` per car until stopped; distinct, increasing timestamps. */
function keepSending(cars: ResendingCar[], everyMs: number): { stop(): void } {
  const base = Date.now() - 60_000;
  let i = 0;
  const timer = setInterval(() => {
    i++;
    for (const car of cars) car.send(carStatus(car.carId, i, { timestamp: base + i }));
  }, everyMs);
  return { stop: () => clearInterval(timer) };
}

/** Every acknowledged CarStatus is on the topic with the event id of exactly that CarStatus. */
/** Lets every car finish (at most timeoutMs each); each must have had every message acknowledged, none refused. */
async function finishAllAcknowledged(cars: ResendingCar[], timeoutMs: number): Promise<void> {
  for (const car of cars) await car.finish(timeoutMs);
  for (const car of cars) {
    assert.equal(car.failedAnswers, [], 'no refusal of valid telemetry');
    assert.is(car.acked, car.sent.length, `${car.carId}: every message acknowledged in the end`);
  }
}

function assertAckedOnTopic(cars: ResendingCar[], events: Array<{ key: string; value: Record<string, unknown> }>): void {
  const onTopic = new Map<string, Record<string, unknown>>();
  for (const e of events) onTopic.set(String(e.value.event_id), e.value);
  let checked = 0;
  for (const car of cars) {
    for (const s of car.sent) {
      if (!car.ackedAt.has(s.timestamp)) continue;
      const { eventId } = serializeTelemetry(s);
      const event = onTopic.get(eventId);
      assert.ok(event !== undefined, `acknowledged ${s.carId}@${s.timestamp} is on the topic`);
      assert.is(event!.car_id, s.carId);
      assert.is(event!.timestamp, s.timestamp);
      checked++;
    }
  }
  assert.ok(checked > 0, 'some messages were acknowledged');
}

const it = suite<{ kafka: PrivateKafka }>('ingestion faults');

it.before(async (ctx) => {
  ctx.kafka = await startPrivateKafka({ port: await freePort(), controllerPort: await freePort(), partitions: 3 });
});

it.after(async (ctx) => {
  await ctx.kafka?.destroy();
});

it('broker stopped mid-stream: no ack for what is not stored, UNAVAILABLE at the bound, recovery, every ack on the topic', async ({ kafka }) => {
  const ACK_TIMEOUT_MS = 2500;
  const svc = await startService(DB, {
    KAFKA_BROKERS: kafka.brokers.join(','),
    INGESTION_MAX_IN_FLIGHT: '30',
    INGESTION_MAX_IN_FLIGHT_PER_STREAM: '10',
    INGESTION_ACK_TIMEOUT_MS: String(ACK_TIMEOUT_MS),
  });
  const grpc = client(svc.address);
  const prefix = uniqueName('FAULT');
  const cars = [new ResendingCar(grpc, `${prefix}-a`), new ResendingCar(grpc, `${prefix}-b`)];
  try {
    for (const car of cars) car.open();
    const sender = keepSending(cars, 25);
    await waitFor('acks flowing before the outage', () => cars.every((c) => c.acked >= 20));

    await kafka.stop();
    const stoppedAt = Date.now();
    // Acks already on their way when the broker exited may still land; after that, nothing.
    await sleep(1000);
    const acksAfterStop = cars.map((c) => c.acked);
    const ready = await waitFor('/ready to report Kafka down', async () => {
      const res = await fetch(`${svc.http}/ready`);
      const body = (await res.json()) as { ready: boolean; kafka: boolean };
      return res.status === 503 && !body.kafka ? body : undefined;
    });
    assert.is(ready.ready, false);
    // Keep the broker down well past the ack timeout: the bounds fill and the car is told to retry.
    await sleep(Math.max(0, stoppedAt + 3 * ACK_TIMEOUT_MS - Date.now()));
    const acksBeforeRestart = cars.map((c) => c.acked);
    const restartAt = Date.now();
    assert.equal(acksBeforeRestart, acksAfterStop, 'no acknowledgement while the broker is down');
    for (const car of cars) {
      for (const [ts, ackedAt] of car.ackedAt) {
        const sentAt = car.firstSentAt.get(ts)!;
        assert.ok(!(sentAt > stoppedAt && ackedAt < restartAt), `${car.carId}@${ts} sent during the outage was not acknowledged during it`);
      }
      assert.ok(
        car.ends.some((e) => e.code === GrpcStatus.UNAVAILABLE),
        `${car.carId} was told UNAVAILABLE (ends: ${JSON.stringify(car.ends)})`,
      );
    }
    const metricsDown = await (await fetch(`${svc.http}/metrics`)).text();
    assert.match(metricsDown, /ingestion_errors_total\{kind="ack_timeout"\} [1-9]/);
    assert.match(metricsDown, /ingestion_in_flight_messages ([1-9]|[1-3]\d)\b/, 'in-flight messages stay within the bound');

    await kafka.start();
    // The service recovers by itself: the cars (reconnecting as told) get everything acknowledged,
    // including what they keep sending after the broker returned.
    await waitFor('acks after the broker returned', () => cars.every((c, i) => c.acked > acksBeforeRestart[i]! + 20), 90_000);
    sender.stop();
    await finishAllAcknowledged(cars, 60_000);
    await waitFor('/ready again', async () => (await fetch(`${svc.http}/ready`)).status === 200, 30_000, 500);

    const totalAcked = cars.reduce((n, c) => n + c.acked, 0);
    const events = await readTopic(svc.topic, totalAcked, kafka.brokers);
    assertAckedOnTopic(cars, events);
    // Resent messages carry the same event id: consumers drop the duplicates.
    assert.is(new Set(events.map((e) => e.value.event_id)).size, totalAcked);
  } finally {
    for (const car of cars) car.abandon();
    grpc.close();
    await svc.ingestion.stop();
  }
});

it('storage thread dies mid-stream: a new one takes over, every message acknowledged in the end and on the topic', async ({ kafka }) => {
  await kafka.start(); // back up even if the previous test failed with the broker down
  const svc = await startService(DB, { KAFKA_BROKERS: kafka.brokers.join(','), KAFKA_LINGER_MS: '20' });
  const grpc = client(svc.address);
  const prefix = uniqueName('THREAD');
  const cars = [0, 1, 2].map((k) => new ResendingCar(grpc, `${prefix}-${k}`, 200));
  try {
    for (const car of cars) car.open();
    const sender = keepSending(cars, 5);
    await waitFor('acks flowing', () => cars.every((c) => c.acked >= 30), 30_000);
    // The linger keeps messages in the storage thread at any moment; kill it while it holds some.
    await waitFor('messages in flight', () => svc.ingestion.hub.inFlightMessages > 0, 10_000, 1);
    const exitCode = await svc.ingestion.storage.crashForTest();
    assert.is(exitCode, 1, 'the thread was terminated');
    const acksAtCrash = cars.map((c) => c.acked);
    await waitFor('acks after the new thread started', () => cars.every((c, i) => c.acked > acksAtCrash[i]! + 30), 30_000);
    sender.stop();
    await finishAllAcknowledged(cars, 30_000);
    const metrics = await (await fetch(`${svc.http}/metrics`)).text();
    assert.match(metrics, /ingestion_errors_total\{kind="storage_thread"\} 1\b/, 'the thread death is counted once');
    const totalAcked = cars.reduce((n, c) => n + c.acked, 0);
    const events = await readTopic(svc.topic, totalAcked, kafka.brokers);
    assertAckedOnTopic(cars, events);
  } finally {
    for (const car of cars) car.abandon();
    grpc.close();
    await svc.ingestion.stop();
  }
});

it('SIGTERM drains the compiled service: refuses new streams, acks or fails what is in flight, exits 0', async ({ kafka }) => {
  await kafka.start(); // back up even if the previous test failed with the broker down
  const env = await serviceEnv(DB, {
    KAFKA_BROKERS: kafka.brokers.join(','),
    // A long linger keeps messages in flight at any moment, so the drain has something to do.
    KAFKA_LINGER_MS: '100',
    LOG_LEVEL: 'info',
  });
  const topic = env.FLEET_EVENTS_TOPIC!;
  const http = `http://${env.INGESTION_HTTP_ADDR}`;
  const service = spawnService(env);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    service.child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const grpc = client(env.INGESTION_ADDR!);
  const prefix = uniqueName('DRAIN');
  const cars = [0, 1, 2, 3].map((k) => new ResendingCar(grpc, `${prefix}-${k}`, 60_000));
  try {
    await waitFor('the service to be ready', async () => (await fetch(`${http}/ready`)).status === 200, 60_000, 200);
    for (const car of cars) car.open();
    const sender = keepSending(cars, 5);
    await waitFor('acks flowing', () => cars.every((c) => c.acked >= 50), 30_000);

    // A ready answer just given is cached for a second: draining must turn it into a 503 all the same.
    assert.is((await fetch(`${http}/ready`)).status, 200);
    // The signal lands while the service holds messages (the linger keeps some there nearly always).
    await waitFor('messages awaiting their ack', () => cars.every((c) => c.unacked.length > 0), 5_000, 1);
    const unackedAtSignal = cars.map((c) => c.unacked.length);
    const signalledAt = Date.now();
    service.child.kill('SIGTERM');
    // Draining has begun once /ready says so, with a 503 at once (or the port is already closed).
    const draining = await waitFor('draining to begin', async () => {
      const ready = await fetch(`${http}/ready`).then(
        async (r) => ({ status: r.status, ...((await r.json()) as { draining: boolean }) }),
        () => ({ status: 503, draining: true }),
      );
      return ready.draining ? ready : undefined;
    }, 10_000, 10);
    assert.is(draining.status, 503, '/ready while draining');
    const late = openStream(grpc);
    late.call.write(carStatus(`${prefix}-late`));
    const lateEnd = await late.ended;
    const result = await exited;
    sender.stop();

    assert.equal(result, { code: 0, signal: null }, `exit status; output:\n${service.output().slice(-3000)}`);
    assert.is(lateEnd.code, GrpcStatus.UNAVAILABLE, 'a stream opened after SIGTERM is refused');
    assert.equal(late.responses, []);
    for (const car of cars) {
      assert.ok(car.ends.length >= 1, `${car.carId}: the stream ended`);
      assert.is(car.ends[0]!.code, GrpcStatus.UNAVAILABLE, `${car.carId}: told to reconnect (${JSON.stringify(car.ends)})`);
      assert.equal(car.failedAnswers, []);
    }
    // What was in flight at the signal was acknowledged during the drain, not dropped.
    const ackedDuringDrain = cars.reduce((n, c) => n + [...c.ackedAt.values()].filter((at) => at >= signalledAt).length, 0);
    assert.ok(ackedDuringDrain > 0, `messages in flight at SIGTERM were acknowledged while draining (unacknowledged per car at the signal: ${unackedAtSignal}); output:\n${service.output().slice(-3000)}`);
    assert.match(service.output(), /"unacknowledged":0\b/, 'nothing left unacknowledged by the drain');
    assert.match(service.output(), /stopped cleanly/);

    const totalAcked = cars.reduce((n, c) => n + c.acked, 0);
    const events = await readTopic(topic, totalAcked, kafka.brokers);
    assertAckedOnTopic(cars, events);
  } finally {
    for (const car of cars) car.abandon();
    grpc.close();
    if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill('SIGKILL');
  }
});

it.run();
