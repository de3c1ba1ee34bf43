/**
 * Bookings on Redis with failover (the cluster layout's primary, replica and Sentinels): with
 * BOOKING_WAIT_REPLICAS=1 a booking is confirmed only once the replica holds it, so the primary's
 * loss never takes back a confirmation; with the replica gone the car is told to ask again, and
 * its slot waits for it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BookingStatus } from '@greenlane/common/gen/fleet/fleet';
import { freePort, startGrid, type Child } from '@greenlane/common/testing-programs';
import { waitFor } from '@greenlane/common/testing';
import { asking, writeRegistry } from './bookings-fixture.js';
import { connectRedis } from '@greenlane/common';
import { client, log, openStream, startService, type TestService } from './helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cluster = (...args: string[]) => execFileSync('bash', [`${root}infra/cluster.sh`, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
const SENTINELS = process.env.TEST_REDIS_SENTINELS ?? '127.0.0.1:26479,127.0.0.1:26480,127.0.0.1:26481';
const STATION = { id: 'REPL', name: 'Replicated', lat: 40.75, lon: -73.99, slots: 5 };

let service: TestService;
let grid: Child;

/** The cluster node that is Sentinel's replica now (redis-1 or redis-2). */
function replicaNode(): string {
  const line = cluster('status').split('\n').find((l) => /^redis-\d: up .*replica of/.test(l));
  if (line === undefined) throw new Error('no replica is up in the cluster layout');
  return line.slice(0, line.indexOf(':'));
}

test.before(async () => {
  cluster('up', 'redis');
  // A database of its own, empty: earlier runs' bookings would hold the station's slots.
  const redis = await connectRedis(`redis-sentinel://${SENTINELS}/5#greenlane`, log);
  await redis.flushDb();
  await redis.quit();
  const gridPort = await freePort();
  grid = await startGrid(gridPort);
  service = await startService(1, {
    // The helpers own databases 1-4 of the single Redis; on the cluster's Redis this test owns 5.
    REDIS_URL: `redis-sentinel://${SENTINELS}/5#greenlane`,
    INGESTION_BOOKINGS: 'true',
    GRID_URL: `http://127.0.0.1:${gridPort}`,
    STATIONS_FILE: writeRegistry([STATION]),
    BOOKING_WAIT_REPLICAS: '1',
    BOOKING_WAIT_TIMEOUT_MS: '300',
  });
});

test.after(async () => {
  await service?.ingestion.stop();
  grid?.signal('SIGTERM');
  cluster('start', 'redis-1', 'redis-2');
});

async function ask(carId: string): Promise<{ status: BookingStatus; message: string; stationId: string }> {
  const s = openStream(client(service.address));
  s.call.write(asking(carId, STATION.lat, STATION.lon, STATION.id));
  await waitFor(`${carId}'s answer`, () => s.responses.length === 1, 10_000);
  s.call.end();
  const r = s.responses[0]!;
  return { status: r.status, message: r.message, stationId: r.stationId };
}

test('confirmed once the replica holds it; without a replica "ask again", and the slot is still the car\'s when it does', async () => {
  const first = await ask(`REPL-A-${Date.now()}`);
  assert.is(first.status, BookingStatus.BOOKING_CONFIRMED, first.message);

  const replica = replicaNode();
  cluster('stop', replica);
  const car = `REPL-B-${Date.now()}`;
  const refused = await ask(car);
  assert.is(refused.status, BookingStatus.BOOKING_FAILED);
  assert.match(refused.message, /booking not confirmed yet: the booking store has fewer than 1 replica\(s\) in sync; ask again/);

  cluster('start', replica);
  await waitFor('the replica back in sync', async () => Number(await service.ingestion.redis.sendCommand(['WAIT', '1', '200'])) >= 1, 30_000);
  const again = await ask(car);
  assert.is(again.status, BookingStatus.BOOKING_CONFIRMED, again.message);
  assert.is(again.stationId, STATION.id);
});

test.run();
