/**
 * Shared set-up of the booking tests: a Redis database of their own (5-9, flushed per test), a
 * registry file of test stations, and desks whose publish/notifyCar record what they were given.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectRedis, createLogger, type BookingEvent, type RedisClient } from '@greenlane/common';
import { testServers } from '@greenlane/common/testing';
import type { BookingResponse, CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { createBookingDesk, type BookingDesk } from '../src/bookings/index.js';
import { SCRIPTS } from '../src/bookings/scripts.js';
import type { Station } from '../src/bookings/registry.js';

export const log = createLogger('bookings-test', { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });

export function redisUrl(db: number): string {
  if (db < 5 || db > 9) throw new Error('booking tests own Redis databases 5-9 only');
  const url = new URL(testServers.redisUrl);
  url.pathname = `/${db}`;
  return url.toString();
}

/** A connected client on database `db`, emptied (only the booking tests' databases). */
export async function freshRedis(db: number): Promise<RedisClient> {
  const redis = await connectRedis(redisUrl(db), log);
  await redis.flushDb();
  return redis;
}

export function writeRegistry(stations: Station[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'greenlane-stations-'));
  const file = join(dir, 'stations.json');
  writeFileSync(file, JSON.stringify(stations));
  return file;
}

export interface Recorder {
  events: BookingEvent[];
  notices: Array<{ carId: string; response: BookingResponse }>;
}

export interface TestDesk extends Recorder {
  desk: BookingDesk;
}

export async function openDesk(
  redis: RedisClient,
  env: Record<string, string>,
  opts: { connected?: (carId: string) => boolean; publish?: (events: BookingEvent[]) => Promise<void>; price?: number } = {},
): Promise<TestDesk> {
  const rec: Recorder = { events: [], notices: [] };
  const desk = await createBookingDesk({
    redis,
    log,
    env,
    currentPrice: async () => opts.price ?? 0.31,
    publish: async (events) => {
      if (opts.publish) await opts.publish(events);
      rec.events.push(...events);
    },
    notifyCar: (carId, response) => {
      const here = opts.connected ? opts.connected(carId) : true;
      if (here) rec.notices.push({ carId, response });
      return here;
    },
  });
  return { desk, ...rec, events: rec.events, notices: rec.notices };
}

export function status(carId: string, lat: number, lon: number, extra: Partial<CarStatus> = {}): CarStatus {
  return {
    carId,
    latitude: lat,
    longitude: lon,
    batteryLevel: 12,
    velocity: 20,
    timestamp: Date.now(),
    stationId: '',
    charging: false,
    chargeEnergyKwh: 0,
    pluggedInAt: 0,
    bookingRequest: undefined,
    commandResult: undefined,
    ...extra,
  };
}

export function asking(carId: string, lat: number, lon: number, preferred = ''): CarStatus {
  return status(carId, lat, lon, { bookingRequest: { carId, stationId: preferred, expectedArrival: Date.now() + 600_000, batteryLevel: 12 } });
}

export function pluggedIn(carId: string, station: Station): CarStatus {
  return status(carId, station.lat, station.lon, { stationId: station.id, charging: true, velocity: 0, pluggedInAt: Date.now() });
}

export interface StationCount {
  id: string;
  slots: number;
  free: number;
  booked: number;
  occupied: number;
}

/** One atomic snapshot (the report script) of every station's counters. */
export async function snapshot(redis: RedisClient): Promise<{ stations: StationCount[]; liveBookings: number; occupying: number }> {
  const raw = (await SCRIPTS.report.run(redis, [])) as { stations: unknown; bookings: unknown; occupying: number };
  const rows = Array.isArray(raw.stations) ? (raw.stations as Array<Record<string, unknown>>) : [];
  return {
    stations: rows.map((s) => ({
      id: String(s.id),
      slots: Number(s.slots),
      free: Number(s.free),
      booked: Number(s.booked),
      occupied: Number(s.occupied),
    })),
    liveBookings: Array.isArray(raw.bookings) ? raw.bookings.length : 0,
    occupying: raw.occupying,
  };
}

/** free + booked + occupied = slots and free >= 0 at every station; the counts agree with the bookkeeping. Returns problems. */
export async function invariantProblems(redis: RedisClient): Promise<string[]> {
  const snap = await snapshot(redis);
  const problems: string[] = [];
  for (const s of snap.stations) {
    if (s.free + s.booked + s.occupied !== s.slots || s.free < 0) {
      problems.push(`${s.id}: free ${s.free} + booked ${s.booked} + occupied ${s.occupied} != slots ${s.slots}`);
    }
  }
  const booked = snap.stations.reduce((n, s) => n + s.booked, 0);
  const occupied = snap.stations.reduce((n, s) => n + s.occupied, 0);
  if (booked !== snap.liveBookings) problems.push(`booked ${booked} != live bookings ${snap.liveBookings}`);
  if (occupied !== snap.occupying) problems.push(`occupied ${occupied} != occupying cars ${snap.occupying}`);
  return problems;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A point `km` north/east of (lat, lon) (flat-earth, good to metres at these distances). */
export function offset(lat: number, lon: number, kmNorth: number, kmEast: number): { lat: number; lon: number } {
  const R = 6372.797560856;
  const dLat = (kmNorth / R) * (180 / Math.PI);
  const dLon = (kmEast / (R * Math.cos((lat * Math.PI) / 180))) * (180 / Math.PI);
  return { lat: lat + dLat, lon: lon + dLon };
}
