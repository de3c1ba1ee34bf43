import { envInt, envNumber, envString } from '@greenlane/common';
import { DEFAULT_STATIONS_FILE } from './registry.js';

export interface BookingConfig {
  /** BOOKING_RADIUS_KM: how far from the car the nearest free slot is looked for. */
  radiusKm: number;
  /** BOOKING_TTL_SECONDS: how long an unused booking holds its slot. */
  ttlSeconds: number;
  /** STATIONS_FILE: the station registry. */
  stationsFile: string;
  /** BOOKING_SWEEP_MS: how often every instance looks for expired bookings. */
  sweepMs: number;
  /** BOOKING_NOTICE_LEASE_MS: an expiry notice claimed but not delivered is retried after this. */
  noticeLeaseMs: number;
  /** BOOKING_RESYNC_MS: how often the local mirror of occupied slots is reloaded from Redis. */
  resyncMs: number;
  /** BOOKING_PRICE_CACHE_MS: how long one grid price answer serves bookings. */
  priceCacheMs: number;
  /** BOOKING_WAIT_REPLICAS: replicas that must hold a booking before it is confirmed (Redis WAIT); 0 = none. */
  waitReplicas: number;
  /** BOOKING_WAIT_TIMEOUT_MS: how long a confirmation waits for them. */
  waitTimeoutMs: number;
}

export const BOOKING_ENV: Array<[variable: string, description: string]> = [
  ['BOOKING_RADIUS_KM', 'search radius for the nearest free slot, km [5]'],
  ['BOOKING_TTL_SECONDS', 'an unused booking expires after this [1200]'],
  ['STATIONS_FILE', 'station registry JSON [ingestion/data/stations.json]'],
  ['BOOKING_SWEEP_MS', 'expiry sweep interval of every instance [1000]'],
  ['BOOKING_NOTICE_LEASE_MS', 'retry an undelivered expiry event after [30000]'],
  ['BOOKING_RESYNC_MS', 'reload the occupied-slot mirror every [30000]'],
  ['BOOKING_PRICE_CACHE_MS', 'reuse the grid price for bookings this long; 0 = ask every time [1000]'],
  ['BOOKING_WAIT_REPLICAS', 'Redis replicas that must hold a booking before the car is told CONFIRMED (WAIT), so a confirmed booking survives the loss of the primary; 0 = no wait [0]'],
  ['BOOKING_WAIT_TIMEOUT_MS', 'how long a confirmation waits for those replicas; short of them the car is answered FAILED and asks again [1000]'],
];

/** Throws ConfigError naming the variable on a bad value. */
export function readBookingConfig(env: Record<string, string | undefined>): BookingConfig {
  return {
    radiusKm: envNumber(env, 'BOOKING_RADIUS_KM', 5, 0.01, 100),
    ttlSeconds: envInt(env, 'BOOKING_TTL_SECONDS', 1200, 1, 86_400),
    stationsFile: envString(env, 'STATIONS_FILE', DEFAULT_STATIONS_FILE),
    sweepMs: envInt(env, 'BOOKING_SWEEP_MS', 1000, 20, 60_000),
    noticeLeaseMs: envInt(env, 'BOOKING_NOTICE_LEASE_MS', 30_000, 100, 3_600_000),
    resyncMs: envInt(env, 'BOOKING_RESYNC_MS', 30_000, 100, 3_600_000),
    priceCacheMs: envInt(env, 'BOOKING_PRICE_CACHE_MS', 1000, 0, 900_000),
    waitReplicas: envInt(env, 'BOOKING_WAIT_REPLICAS', 0, 0, 16),
    waitTimeoutMs: envInt(env, 'BOOKING_WAIT_TIMEOUT_MS', 1000, 1, 60_000),
  };
}
