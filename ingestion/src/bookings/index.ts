/**
 * The booking desk: charging stations and atomic slot bookings, inside the ingestion service.
 *
 *   request(status)  -> one Lua script checks and reserves (preferred, else nearest free in radius)
 *   observe(status)  -> plugged in at the booked station: the booking becomes an occupied slot;
 *                       unplugged: the slot is free again (no Redis trip for cars with nothing to do)
 *   sweep (timer)    -> every instance expires due bookings; the slot comes back exactly once; the
 *                       event goes to Kafka and the notice to the car via pub/sub, at least once
 *
 * All state lives in Redis (keys.ts), so any instance may die at any point without leaking a slot.
 */
import { randomUUID } from 'node:crypto';
import type { BookingEvent, Logger, RedisClient } from '@greenlane/common';
import { BookingStatus, type BookingResponse, type CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { readBookingConfig, type BookingConfig } from './config.js';
import { bookingEvent } from './events.js';
import { KEYS } from './keys.js';
import {
  confirmedMessage,
  expiredMessage,
  heldMessage,
  noSlotMessage,
  pluggedInMessage,
  type StationLabel,
} from './messages.js';
import { OccupancyMirror } from './occupancy.js';
import { distanceKm, readRegistry, type Station } from './registry.js';
import { list, SCRIPTS, str } from './scripts.js';

export { BOOKING_ENV } from './config.js';

export interface BookingDeskDeps {
  redis: RedisClient;
  log: Logger;
  /** Produces these to fleet-events keyed by car id; resolves when Kafka acked. */
  publish: (events: BookingEvent[]) => Promise<void>;
  /** Grid price per kWh now. */
  currentPrice: () => Promise<number>;
  /** Writes to the car's stream if it is connected to THIS instance. */
  notifyCar: (carId: string, response: BookingResponse) => boolean;
  env: Record<string, string | undefined>;
}

export interface BookingDesk {
  request(status: CarStatus): Promise<BookingResponse>;
  observe(status: CarStatus): Promise<void>;
  stationsReport(): Promise<unknown>;
  close(): Promise<void>;
}

/** How many bookings one sweep expires or delivers at most; a full batch sweeps again at once. */
const SWEEP_BATCH = 200;
/** The grid's price is informative for a booking; a slow grid must not hold up the slot. */
const PRICE_TIMEOUT_MS = 2_000;

type Row = Record<string, unknown>;

export async function createBookingDesk(deps: BookingDeskDeps): Promise<BookingDesk> {
  const config = readBookingConfig(deps.env);
  const stations = await readRegistry(config.stationsFile);
  const desk = new Desk(deps, config, stations);
  await desk.start();
  return desk;
}

class Desk implements BookingDesk {
  private readonly log: Logger;
  private readonly redis: RedisClient;
  private readonly stations: Map<string, Station>;
  private readonly mirror = new OccupancyMirror();
  private readonly subscriber: RedisClient;
  private sweepTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> = Promise.resolve();
  private price: { value: number; at: number } | undefined;
  private priceFlight: Promise<number | undefined> | undefined;
  private closed = false;

  constructor(
    private readonly deps: BookingDeskDeps,
    private readonly config: BookingConfig,
    stations: Station[],
  ) {
    this.log = deps.log;
    this.redis = deps.redis;
    this.stations = new Map(stations.map((s) => [s.id, s]));
    this.subscriber = deps.redis.duplicate();
  }

  async start(): Promise<void> {
    const stations = [...this.stations.values()];
    await this.loadStations();
    this.log.info(
      { stations: stations.length, slots: stations.reduce((n, s) => n + s.slots, 0), file: this.config.stationsFile },
      'station registry loaded',
    );

    this.subscriber.on('error', (error: Error) => this.log.warn({ err: error.message }, 'bookings subscriber error'));
    // After a reconnect the changes published meanwhile are lost: reload the mirror.
    this.subscriber.on('ready', () => void this.resync());
    await this.subscriber.connect();
    await this.subscriber.subscribe(KEYS.changesChannel, (message) => this.mirror.applyChange(message));
    await this.subscriber.subscribe(KEYS.notifyChannel, (message) => this.deliverNotice(message));
    await this.resync();

    this.scheduleSweep(0);
    this.resyncTimer = setInterval(() => void this.resync(true), this.config.resyncMs);
  }

  /** Idempotent: free is recomputed from what is booked and occupied, never reset. */
  private async loadStations(): Promise<void> {
    const rows = [...this.stations.values()].map((s) => ({ ...s, lat: String(s.lat), lon: String(s.lon) }));
    await SCRIPTS.loadStations.run(this.redis, [JSON.stringify(rows)]);
  }

  async request(status: CarStatus): Promise<BookingResponse> {
    const carId = status.carId;
    const preferred = status.bookingRequest?.stationId ?? '';
    const price = await this.priceNow();
    const now = Date.now();
    const result = (await SCRIPTS.reserve.run(this.redis, [
      carId,
      status.longitude,
      status.latitude,
      preferred,
      this.config.radiusKm,
      this.config.ttlSeconds * 1000,
      now,
      randomUUID(),
      price ?? 0,
    ])) as Row;

    const position = { lat: status.latitude, lon: status.longitude, battery: status.batteryLevel, velocity: status.velocity };
    const outcome = str(result.outcome);
    if ((outcome === 'confirmed' || outcome === 'held') && !(await this.replicated())) {
      // The slot stays reserved for this car: asking again finds it held and confirms once replicated.
      const message = `booking not confirmed yet: the booking store has fewer than ${this.config.waitReplicas} replica(s) in sync; ask again`;
      return response(BookingStatus.BOOKING_FAILED, { carId, bookingId: '', stationId: str(result.station_id) ?? preferred, message, priceRate: price ?? 0, timestamp: now });
    }
    if (outcome === 'confirmed' || outcome === 'held') {
      const bookingId = str(result.booking_id) ?? '';
      const stationId = str(result.station_id) ?? '';
      const priceRate = Number(str(result.price_rate) ?? 0);
      const station = this.label(stationId);
      const known = this.stations.get(stationId);
      const message =
        outcome === 'held'
          ? heldMessage(station, (Number(str(result.expires_at)) - now) / 1000)
          : confirmedMessage({
              station,
              distanceKm: known ? distanceKm(position, known) : undefined,
              holdSeconds: this.config.ttlSeconds,
              preferredId: preferred,
              preferredState: preferredState(result.preferred),
              priceKnown: price !== undefined,
            });
      // The same event_id each time, so asking again re-publishes a duplicate consumers drop.
      const event = bookingEvent('booking_confirmed', {
        car_id: carId,
        booking_id: bookingId,
        station_id: stationId,
        price_rate: priceRate,
        timestamp: Number(str(result.created_at) ?? now),
        message,
        position,
      });
      await this.deps.publish([event]);
      if (outcome === 'confirmed') this.log.debug({ carId, bookingId, stationId }, 'booking confirmed');
      return response(BookingStatus.BOOKING_CONFIRMED, { carId, bookingId, stationId, message, priceRate, timestamp: now });
    }

    const message =
      outcome === 'plugged_in'
        ? pluggedInMessage(this.label(str(result.station_id) ?? ''))
        : noSlotMessage({
            radiusKm: this.config.radiusKm,
            stationsInRange: Number(result.in_range ?? 0),
            preferredId: preferred,
            preferredState: preferredState(result.preferred),
          });
    const priceRate = price ?? 0;
    await this.deps.publish([
      bookingEvent('booking_failed', {
        car_id: carId,
        booking_id: '',
        station_id: preferred,
        price_rate: priceRate,
        timestamp: now,
        message,
        position,
      }),
    ]);
    return response(BookingStatus.BOOKING_FAILED, { carId, bookingId: '', stationId: preferred, message, priceRate, timestamp: now });
  }

  /**
   * Whether the writes of this connection so far (the reservation just made) are on
   * BOOKING_WAIT_REPLICAS replicas: Redis WAIT, on the same connection as the write. A booking is
   * confirmed to a car only then, so Sentinel promoting a replica never loses a confirmed booking.
   */
  private async replicated(): Promise<boolean> {
    const { waitReplicas, waitTimeoutMs } = this.config;
    if (waitReplicas === 0) return true;
    const acknowledged = Number(await this.redis.sendCommand(['WAIT', String(waitReplicas), String(waitTimeoutMs)]));
    if (acknowledged < waitReplicas) this.log.warn({ acknowledged, waitReplicas }, 'a booking reached fewer replicas than required: not confirmed');
    return acknowledged >= waitReplicas;
  }

  async observe(status: CarStatus): Promise<void> {
    const action = this.mirror.actionFor(status, Date.now());
    if (action === 'none') return;
    const carId = status.carId;
    try {
      if (action === 'unplug') {
        const result = (await SCRIPTS.unplug.run(this.redis, [carId])) as Row;
        this.mirror.release(carId);
        if (str(result.released)) this.log.debug({ carId, stationId: result.released }, 'slot released');
        return;
      }
      const result = (await SCRIPTS.plugIn.run(this.redis, [carId, status.stationId])) as Row;
      const outcome = str(result.outcome);
      if (outcome === 'full' || outcome === 'unknown_station') {
        this.mirror.release(carId);
        this.mirror.refuse(carId, status.stationId, Date.now());
        this.log.info({ carId, stationId: status.stationId, outcome }, 'plugged-in car not counted in a slot');
      } else {
        this.mirror.occupy(carId, status.stationId);
        if (outcome === 'consumed') this.log.debug({ carId, bookingId: result.booking_id }, 'booking used: slot occupied');
      }
    } catch (error) {
      // The mirror is unchanged, so the car's next status tries again; the stream must not suffer.
      this.log.warn({ err: (error as Error).message, carId, action }, 'booking bookkeeping failed; retried on next status');
    }
  }

  async stationsReport(): Promise<unknown> {
    const snapshot = (await SCRIPTS.report.run(this.redis, [])) as Row;
    const now = Date.now();
    const stations = list<Row>(snapshot.stations).map((s) => ({
      id: String(s.id),
      name: str(s.name) ?? this.stations.get(String(s.id))?.name ?? String(s.id),
      lat: Number(str(s.lat)),
      lon: Number(str(s.lon)),
      slots: Number(str(s.slots) ?? 0),
      free: Number(str(s.free) ?? 0),
      booked: Number(s.booked ?? 0),
      occupied: Number(s.occupied ?? 0),
    }));
    stations.sort((a, b) => a.id.localeCompare(b.id));
    const bookings = list<Row>(snapshot.bookings).map((b) => ({
      booking_id: String(b.booking_id),
      car_id: str(b.car_id) ?? '',
      station_id: str(b.station_id) ?? '',
      price_rate: Number(str(b.price_rate) ?? 0),
      created_at: Number(str(b.created_at) ?? 0),
      expires_at: Number(str(b.expires_at) ?? 0),
      expires_in_s: Math.max(0, Math.round((Number(str(b.expires_at) ?? 0) - now) / 1000)),
    }));
    const sum = (k: 'slots' | 'free' | 'booked' | 'occupied') => stations.reduce((n, s) => n + s[k], 0);
    return {
      generated_at: now,
      radius_km: this.config.radiusKm,
      booking_ttl_seconds: this.config.ttlSeconds,
      totals: { stations: stations.length, slots: sum('slots'), free: sum('free'), booked: sum('booked'), occupied: sum('occupied') },
      stations,
      bookings,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.sweepTimer);
    clearInterval(this.resyncTimer);
    await this.sweeping;
    try {
      await this.subscriber.unsubscribe();
      await this.subscriber.close();
    } catch {
      this.subscriber.destroy();
    }
  }

  /** Runs one sweep, then schedules the next; a full batch means more are due, so go again now. */
  private scheduleSweep(delayMs: number): void {
    if (this.closed) return;
    this.sweepTimer = setTimeout(() => {
      this.sweeping = this.sweepOnce().then(
        (handled) => this.scheduleSweep(handled >= SWEEP_BATCH ? 0 : this.config.sweepMs),
        (error: unknown) => {
          this.log.warn({ err: (error as Error).message }, 'booking expiry sweep failed; retrying');
          this.scheduleSweep(this.config.sweepMs);
        },
      );
    }, delayMs);
  }

  /** Expires what is due and delivers the claimed expiry notices: Kafka event, then the car's stream. */
  private async sweepOnce(): Promise<number> {
    const result = (await SCRIPTS.sweep.run(this.redis, [Date.now(), this.config.noticeLeaseMs, SWEEP_BATCH])) as Row;
    const released = Number(result.released ?? 0);
    if (released > 0) this.log.info({ released }, 'expired bookings released their slots');
    for (const b of list<Row>(result.broken)) {
      this.log.error({ booking_id: b.booking_id, err: b.error }, 'booking record unreadable (its key holds something else): dropped it alone and freed its slot');
    }
    const claimed = list<Row>(result.claimed);
    if (claimed.length === 0) return 0;

    const notices = claimed
      .filter((c) => str(c.car_id) !== undefined)
      .map((c) => {
        const carId = str(c.car_id) ?? '';
        const bookingId = String(c.booking_id);
        const stationId = str(c.station_id) ?? '';
        const priceRate = Number(str(c.price_rate) ?? 0);
        const timestamp = Number(str(c.expired_at) ?? Date.now());
        const message = expiredMessage(this.label(stationId), this.holdSecondsOf(c));
        return {
          event: bookingEvent('booking_expired', { car_id: carId, booking_id: bookingId, station_id: stationId, price_rate: priceRate, timestamp, message }),
          notice: { car_id: carId, response: response(BookingStatus.BOOKING_EXPIRED, { carId, bookingId, stationId, message, priceRate, timestamp }) },
        };
      });
    if (notices.length > 0) {
      // If Kafka fails here the notices stay claimed until their lease lapses; then any instance retries.
      await this.deps.publish(notices.map((n) => n.event));
      for (const n of notices) await this.redis.publish(KEYS.notifyChannel, JSON.stringify(n.notice));
    }
    await SCRIPTS.ackExpired.run(this.redis, claimed.map((c) => String(c.booking_id)));
    return claimed.length;
  }

  private deliverNotice(message: string): void {
    try {
      const notice = JSON.parse(message) as { car_id: string; response: BookingResponse };
      this.deps.notifyCar(notice.car_id, notice.response);
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'undeliverable booking notice');
    }
  }

  /**
   * Reloads the occupancy mirror; periodically also re-applies the registry, so stations come back
   * by themselves if Redis lost its data.
   */
  private async resync(withStations = false): Promise<void> {
    if (this.closed) return;
    try {
      if (withStations) await this.loadStations();
      this.mirror.replaceAll(await this.redis.hGetAll(KEYS.occupying));
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'could not reload occupied slots; keeping the mirror');
    }
  }

  /**
   * The grid's price now. Concurrent bookings share one call and its answer is reused for
   * BOOKING_PRICE_CACHE_MS (the grid's prices change every 15 min), so a burst of requests costs
   * the grid one call; a slow or failing grid books with price_rate 0 rather than holding the slot.
   */
  private priceNow(): Promise<number | undefined> {
    const now = Date.now();
    if (this.price !== undefined && now - this.price.at < this.config.priceCacheMs) return Promise.resolve(this.price.value);
    return (this.priceFlight ??= this.fetchPrice().finally(() => (this.priceFlight = undefined)));
  }

  private async fetchPrice(): Promise<number | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), PRICE_TIMEOUT_MS);
    });
    try {
      const price = await Promise.race([this.deps.currentPrice(), timeout]);
      if (price === 'timeout' || !Number.isFinite(price)) throw new Error(price === 'timeout' ? `no answer within ${PRICE_TIMEOUT_MS} ms` : `not a price: ${price}`);
      this.price = { value: price, at: Date.now() };
      return price;
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'grid price unavailable; booking with price_rate 0');
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  private label(stationId: string): StationLabel {
    const name = this.stations.get(stationId)?.name;
    return name ? { id: stationId, name } : { id: stationId };
  }

  private holdSecondsOf(row: Row): number {
    const created = Number(str(row.created_at));
    const expires = Number(str(row.expires_at));
    return Number.isFinite(created) && Number.isFinite(expires) ? (expires - created) / 1000 : this.config.ttlSeconds;
  }
}

function preferredState(value: unknown): 'full' | 'unknown' | undefined {
  return value === 'full' || value === 'unknown' ? value : undefined;
}

function response(
  status: BookingStatus,
  f: { carId: string; bookingId: string; stationId: string; message: string; priceRate: number; timestamp: number },
): BookingResponse {
  return { bookingId: f.bookingId, carId: f.carId, stationId: f.stationId, status, message: f.message, timestamp: f.timestamp, priceRate: f.priceRate, command: undefined };
}
