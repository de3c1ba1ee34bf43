import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as grpc from '@grpc/grpc-js';
import { createServer } from 'node:net';
import { BookingStatus, FleetServiceService, type BookingResponse, type CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { waitFor } from '@greenlane/common/testing';
import { CarStream, type PendingStatus } from '../src/car-stream.js';
import { createFleetClient, tokenMetadata } from '../src/grpc-client.js';
import { startEchoServer } from '../src/echo-server.js';

type Handler = (call: grpc.ServerDuplexStream<CarStatus, BookingResponse>, connection: number) => void;

async function startServer(handler: Handler, port = 0): Promise<{ port: number; close(): void }> {
  const server = new grpc.Server();
  let connection = 0;
  server.addService(FleetServiceService, { streamTelemetry: (call: grpc.ServerDuplexStream<CarStatus, BookingResponse>) => handler(call, ++connection) });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { port: bound, close: () => server.forceShutdown() };
}

function ack(status: CarStatus, code = BookingStatus.BOOKING_UNKNOWN): BookingResponse {
  return { bookingId: '', carId: status.carId, stationId: '', status: code, message: '', timestamp: status.timestamp, priceRate: 0, command: undefined };
}

function status(n: number): CarStatus {
  return { carId: 'CAR-900', latitude: 40.75, longitude: -73.98, batteryLevel: 50, velocity: 10, timestamp: n, stationId: '', charging: false, chargeEnergyKwh: 0, pluggedInAt: 0, bookingRequest: undefined, commandResult: undefined };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

test('a broken stream reopens and resends exactly what was not acknowledged, in order', async () => {
  const received: number[] = [];
  const server = await startServer((call, connection) => {
    let seen = 0;
    call.on('data', (s: CarStatus) => {
      received.push(s.timestamp);
      seen += 1;
      // First connection: acknowledge three, take two more, then fail as a restarting server does.
      if (connection > 1 || seen <= 3) call.write(ack(s));
      else if (seen === 5) call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'restarting', message: 'restarting' });
    });
    call.on('error', () => {});
    call.on('end', () => call.end());
  });
  const client = createFleetClient(`127.0.0.1:${server.port}`, 0);
  const acked: number[] = [];
  let disconnects = 0;
  // Read at the break itself: the reconnect comes 20 ms later and may ack 4 and 5 before a poll.
  let ackedAtBreak = -1;
  const stream = new CarStream(client, tokenMetadata('t'), {
    onAck: (m: PendingStatus) => acked.push(m.status.timestamp),
    onRejected: () => assert.unreachable('not a permanent error'),
    onDisconnect: () => {
      disconnects += 1;
      if (disconnects === 1) ackedAtBreak = acked.length;
    },
  }, { initialMs: 20, maxMs: 100 });
  stream.start();
  for (let n = 1; n <= 5; n++) stream.send(status(n), 0);
  await waitFor('the break', () => disconnects === 1);
  assert.is(ackedAtBreak, 3);
  for (let n = 6; n <= 8; n++) stream.send(status(n), 0);
  await waitFor('every message acknowledged', () => acked.length === 8);
  assert.equal(acked, [1, 2, 3, 4, 5, 6, 7, 8]);
  // 4 and 5 reached the first connection unacknowledged, so they went again.
  assert.equal(received.filter((n) => n === 4 || n === 5).length, 4);
  assert.is(stream.inflight, 0);
  await stream.close();
  client.close();
  server.close();
});

test('a service that is down at first is reached once it starts; nothing is lost', async () => {
  const port = await freePort();
  const client = createFleetClient(`127.0.0.1:${port}`, 0);
  const acked: number[] = [];
  let disconnects = 0;
  const stream = new CarStream(client, tokenMetadata('t'), {
    onAck: (m: PendingStatus) => acked.push(m.status.timestamp),
    onRejected: () => assert.unreachable('not a permanent error'),
    onDisconnect: () => (disconnects += 1),
  }, { initialMs: 20, maxMs: 200 });
  stream.start();
  for (let n = 1; n <= 3; n++) stream.send(status(n), 0);
  await waitFor('a failed attempt', () => disconnects >= 1);
  const echo = await startEchoServer(`127.0.0.1:${port}`);
  await waitFor('acks after the server came up', () => acked.length === 3, 10_000);
  assert.equal(acked, [1, 2, 3]);
  await stream.close();
  client.close();
  await echo.close();
});

test('a permanent refusal (bad token) hands back every queued message and stops the car', async () => {
  const server = await startServer((call) => {
    call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: 'bad token', message: 'bad token' });
  });
  const client = createFleetClient(`127.0.0.1:${server.port}`, 0);
  let rejected: number[] = [];
  const stream = new CarStream(client, tokenMetadata('wrong'), {
    onAck: () => assert.unreachable('nothing is acknowledged'),
    onRejected: (messages, error) => {
      rejected = messages.map((m) => m.status.timestamp);
      assert.is(error.code, grpc.status.UNAUTHENTICATED);
    },
  }, { initialMs: 20, maxMs: 100 });
  stream.start();
  stream.send(status(1), 0);
  stream.send(status(2), 0);
  await waitFor('the refusal', () => rejected.length === 2);
  assert.equal(rejected, [1, 2]);
  assert.is(stream.usable, false);
  stream.send(status(3), 0);
  assert.is(stream.inflight, 0);
  client.close();
  server.close();
});

test('a pushed booking expiry is a notice, not the acknowledgement of a message', async () => {
  const server = await startServer((call) => {
    call.on('data', (s: CarStatus) => {
      if (s.timestamp === 1) call.write({ ...ack(s, BookingStatus.BOOKING_EXPIRED), bookingId: 'B-1' });
      call.write(ack(s));
    });
    call.on('end', () => call.end());
  });
  const client = createFleetClient(`127.0.0.1:${server.port}`, 0);
  const acked: Array<[number, BookingStatus]> = [];
  const notices: string[] = [];
  const stream = new CarStream(client, tokenMetadata('t'), {
    onAck: (m, r) => acked.push([m.status.timestamp, r.status]),
    onNotice: (r) => notices.push(r.bookingId),
    onRejected: () => assert.unreachable('not refused'),
  });
  stream.start();
  stream.send(status(1), 0);
  stream.send(status(2), 0);
  await waitFor('both acks', () => acked.length === 2);
  assert.equal(acked, [[1, BookingStatus.BOOKING_UNKNOWN], [2, BookingStatus.BOOKING_UNKNOWN]]);
  assert.equal(notices, ['B-1']);
  await stream.close();
  client.close();
  server.close();
});

test.run();
