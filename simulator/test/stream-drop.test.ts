/**
 * A car that drops its stream on purpose (the `drop` incident, CarStream.drop) over a real gRPC
 * connection to a grpc-js server playing ingestion's side: the call ends, nothing is sent while
 * the car is away, the new stream carries what was unacknowledged and what was recorded meanwhile,
 * in order, and every message is acknowledged exactly once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as grpc from '@grpc/grpc-js';
import { BookingStatus, FleetServiceService, type BookingResponse, type CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { waitFor } from '@greenlane/common/testing';
import { CarStream, type PendingStatus } from '../src/car-stream.js';
import { createFleetClient, tokenMetadata } from '../src/grpc-client.js';

interface Connection {
  received: number[];
  ended: boolean;
  /** Acknowledge what it receives (else hold it unacknowledged). */
  acking: boolean;
}

async function startServer(onConnection: (n: number) => boolean): Promise<{ port: number; connections: Connection[]; close(): void }> {
  const server = new grpc.Server();
  const connections: Connection[] = [];
  server.addService(FleetServiceService, {
    streamTelemetry: (call: grpc.ServerDuplexStream<CarStatus, BookingResponse>) => {
      const c: Connection = { received: [], ended: false, acking: onConnection(connections.length + 1) };
      connections.push(c);
      call.on('data', (s: CarStatus) => {
        c.received.push(s.timestamp);
        if (c.acking) {
          call.write({ bookingId: '', carId: s.carId, stationId: '', status: BookingStatus.BOOKING_UNKNOWN, message: '', timestamp: s.timestamp, priceRate: 0, command: undefined });
        }
      });
      call.on('cancelled', () => (c.ended = true));
      call.on('error', () => (c.ended = true));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { port, connections, close: () => server.forceShutdown() };
}

const status = (n: number): CarStatus => ({
  carId: 'CAR-900', latitude: 40.75, longitude: -73.98, batteryLevel: 50, velocity: 10, timestamp: n,
  stationId: '', charging: false, chargeEnergyKwh: 0, pluggedInAt: 0, bookingRequest: undefined, commandResult: undefined,
});

test('a drop ends the call; what the car sends while away waits; the new stream carries it and everything unacknowledged, once each', async () => {
  // The first connection takes messages and acknowledges the first two only: the third is in flight at the drop.
  const server = await startServer(() => true);
  const client = createFleetClient(`127.0.0.1:${server.port}`, 0);
  const acked: number[] = [];
  let disconnects = 0;
  const stream = new CarStream(client, tokenMetadata('t'), {
    onAck: (m: PendingStatus) => acked.push(m.status.timestamp),
    onRejected: () => assert.unreachable('not refused'),
    onDisconnect: () => (disconnects += 1),
  });
  stream.start();
  stream.send(status(1), 0);
  stream.send(status(2), 0);
  await waitFor('two acks', () => acked.length === 2);
  server.connections[0]!.acking = false;
  stream.send(status(3), 0);
  await waitFor('3 reached the server', () => server.connections[0]!.received.includes(3));

  // Away for an hour: only reconnectNow() brings it back, so nothing here depends on timing.
  stream.drop(3_600_000);
  assert.ok(stream.dropped);
  assert.ok(stream.usable, 'a dropped car still records');
  await waitFor('the server saw the call end', () => server.connections[0]!.ended);
  stream.send(status(4), 0);
  stream.send(status(5), 0);
  assert.is(stream.inflight, 3, '3 (unacknowledged), 4 and 5 wait');
  stream.drop(10);
  assert.is(server.connections.length, 1, 'a second drop while away changes nothing, and no stream opens');

  stream.reconnectNow();
  assert.not.ok(stream.dropped);
  await waitFor('every message acknowledged', () => acked.length === 5);
  assert.equal(acked, [1, 2, 3, 4, 5]);
  assert.is(server.connections.length, 2);
  assert.equal(server.connections[0]!.received, [1, 2, 3]);
  assert.equal(server.connections[1]!.received, [3, 4, 5], 'the new stream: what was unacknowledged, then what was recorded meanwhile');
  assert.is(disconnects, 0, 'a drop is not a failure: no backoff, no reconnect counted');
  assert.is(stream.inflight, 0);
  await stream.close();
  client.close();
  server.close();
});

test('a drop comes back by itself after its time; close() during a drop ends it for good', async () => {
  const server = await startServer(() => true);
  const client = createFleetClient(`127.0.0.1:${server.port}`, 0);
  const acked: number[] = [];
  const stream = new CarStream(client, tokenMetadata('t'), { onAck: (m) => acked.push(m.status.timestamp), onRejected: () => assert.unreachable('not refused') });
  stream.start();
  stream.send(status(1), 0);
  await waitFor('the first ack', () => acked.length === 1);
  stream.drop(50);
  stream.send(status(2), 0);
  await waitFor('back by itself, 2 acknowledged', () => acked.length === 2);
  assert.is(server.connections.length, 2);

  stream.drop(3_600_000);
  await waitFor('the second call ended', () => server.connections[1]!.ended);
  await stream.close(500);
  assert.not.ok(stream.dropped);
  assert.not.ok(stream.usable);
  stream.reconnectNow();
  stream.send(status(3), 0);
  assert.is(server.connections.length, 2, 'a closed stream never opens again');
  client.close();
  server.close();
});

test.run();
