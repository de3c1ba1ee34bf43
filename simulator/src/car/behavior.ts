/**
 * A realistic car's life as pure functions: it drives; low on battery it asks for a charging slot;
 * with a confirmed booking it drives to the station, plugs in and charges (station_id, charging,
 * plugged_in_at, a rising energy meter and battery); near full it unplugs and drives on. A failed
 * or expired booking makes it try again later.
 *
 * Operators' commands (car/obey.ts) add two things on top: a hold (an emergency stop, or parked at
 * base) that keeps the car where it is at 0 km/h, and a trip (REROUTE, RETURN_TO_BASE) it drives
 * along the streets ahead of everything else; a stay can be paused (STOP_CHARGING): still plugged
 * in, no energy flowing, the meter holding its reading.
 */
import { BookingStatus, type BookingResponse, type CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { between, type Random } from './prng.js';
import { distanceKm, drivingStatus, round, type DrivingState, type Position } from './model.js';
// Cars drive on Manhattan's streets, not across the rivers (manhattan/streets.ts).
import { drive, driveToward, newCar } from '../manhattan/streets.js';

export interface BehaviorConfig {
  intervalMs: number;
  /** Below this battery percentage the car asks for a slot. */
  lowBatteryPct: number;
  /** Usable battery capacity: converts percentage points into kWh on the meter. */
  batteryKwh: number;
  /** Percentage points gained per update while charging. */
  chargePerUpdate: { min: number; max: number };
  /** The car unplugs at a battery level drawn from this range. */
  unplugAt: { min: number; max: number };
  /** After a failed or expired booking, wait this long before asking again. */
  retryAfterMs: number;
  /** No answer to a booking request within this long: ask again. */
  bookingTimeoutMs: number;
  /**
   * Updates the trip to the station takes at most. A real trip across Manhattan at 2 s updates
   * would outlast the battery; the simulation compresses it so every booking becomes a stay.
   */
  tripUpdates: number;
  /** Station positions by id (from the station registry); an unknown station is "reached" after the trip's updates. */
  stations: ReadonlyMap<string, Position>;
  /** A stay paused by STOP_CHARGING ends (the car unplugs and drives on) after this long without START_CHARGING. */
  pausedStayMs: number;
}

export function defaultBehavior(intervalMs: number, stations: ReadonlyMap<string, Position>): BehaviorConfig {
  return {
    intervalMs,
    lowBatteryPct: 20,
    batteryKwh: 60,
    chargePerUpdate: { min: 2, max: 4 },
    unplugAt: { min: 80, max: 95 },
    retryAfterMs: 10 * intervalMs,
    bookingTimeoutMs: Math.max(30_000, 10 * intervalMs),
    tripUpdates: 6,
    stations,
    pausedStayMs: 30 * intervalMs,
  };
}

export type Phase =
  | { kind: 'driving'; nextBookingAt: number }
  | { kind: 'awaiting-booking'; askedAt: number }
  | { kind: 'to-station'; bookingId: string; stationId: string; target: Position | undefined; stepKm: number; updatesLeft: number }
  | {
      kind: 'charging';
      bookingId: string;
      stationId: string;
      pluggedInAt: number;
      energyKwh: number;
      unplugAt: number;
      /** Since when STOP_CHARGING paused the stay (still plugged in, no energy flowing); absent while charging. */
      pausedAt?: number;
    };

/** An operator's trip: drive to `target` along the streets. */
export interface Trip {
  kind: 'reroute' | 'return-to-base';
  target: Position;
}

export interface SimCar {
  car: DrivingState;
  phase: Phase;
  /** Charging stays completed. */
  stays: number;
  /**
   * The car does not move: an emergency stop (until RESUME), or parked at base after RETURN_TO_BASE
   * (until RESUME or a new trip). A stay goes on under a hold; the car just does not drive off.
   */
  hold?: 'emergency-stop' | 'at-base';
  /** Where an operator sent it; driven to before anything but a stay (no booking on the way). */
  trip?: Trip;
}

export function newSimCar(id: string, random: Random): SimCar {
  // A fleet always has some cars low on battery: starting between 15 % and 100 %, about one car in
  // seventeen asks for a slot at once, so charging (and priced rows) begins within the first minute.
  return { car: newCar(id, random, between(random, 15, 100)), phase: { kind: 'driving', nextBookingAt: 0 }, stays: 0 };
}

function chargingStatus(sim: SimCar, phase: Extract<Phase, { kind: 'charging' }>, now: number): CarStatus {
  return {
    ...drivingStatus({ ...sim.car, velocity: 0 }, now),
    stationId: phase.stationId,
    charging: phase.pausedAt === undefined,
    chargeEnergyKwh: round(phase.energyKwh, 4),
    pluggedInAt: phase.pluggedInAt,
  };
}

/** The CarStatus of the car as it is now, without moving it (what a command's answer carries). */
export function currentStatus(sim: SimCar, now: number): CarStatus {
  if (sim.phase.kind === 'charging') return chargingStatus(sim, sim.phase, now);
  return drivingStatus(sim.hold !== undefined ? { ...sim.car, velocity: 0 } : sim.car, now);
}

/** The station the car is plugged in at, if it is. */
export function pluggedInAt(sim: SimCar): string | undefined {
  return sim.phase.kind === 'charging' ? sim.phase.stationId : undefined;
}

/** Held: where it is, at rest; only the booking wait still times out. */
function held(sim: SimCar, now: number, cfg: BehaviorConfig): { sim: SimCar; status: CarStatus } {
  const car = { ...sim.car, velocity: 0 };
  const phase = sim.phase;
  const next: Phase = phase.kind === 'awaiting-booking' && now - phase.askedAt > cfg.bookingTimeoutMs ? { kind: 'driving', nextBookingAt: now } : phase;
  return { sim: { ...sim, car, phase: next }, status: drivingStatus(car, now) };
}

/** On an operator's trip: along the streets to its point; RETURN_TO_BASE parks there. */
function onTrip(sim: SimCar, trip: Trip, now: number, random: Random, cfg: BehaviorConfig): { sim: SimCar; status: CarStatus } {
  // An empty battery strands the car where it is, trip or not.
  if (sim.car.battery <= 0) {
    const car = { ...sim.car, battery: 0, velocity: 0 };
    return { sim: { ...sim, car }, status: drivingStatus(car, now) };
  }
  const car = driveToward(sim.car, trip.target, random, cfg.intervalMs);
  if (car.lat !== trip.target.lat || car.lon !== trip.target.lon) return { sim: { ...sim, car }, status: drivingStatus(car, now) };
  const { trip: _done, ...rest } = sim;
  const arrived: SimCar = trip.kind === 'return-to-base' ? { ...rest, car, hold: 'at-base' } : { ...rest, car };
  return { sim: arrived, status: drivingStatus(car, now) };
}

/** One update of a car: its next state and the CarStatus it sends for it. */
export function update(sim: SimCar, now: number, random: Random, cfg: BehaviorConfig): { sim: SimCar; status: CarStatus } {
  const phase = sim.phase;
  if (phase.kind !== 'charging') {
    if (sim.hold !== undefined) return held(sim, now, cfg);
    if (sim.trip !== undefined) return onTrip(sim, sim.trip, now, random, cfg);
  }
  switch (phase.kind) {
    case 'driving': {
      const car = drive(sim.car, random, cfg.intervalMs);
      const status = drivingStatus(car, now);
      if (car.battery < cfg.lowBatteryPct && now >= phase.nextBookingAt) {
        status.bookingRequest = {
          carId: car.carId,
          stationId: '', // the nearest station with a free slot
          expectedArrival: now + cfg.tripUpdates * cfg.intervalMs,
          batteryLevel: status.batteryLevel,
        };
        return { sim: { ...sim, car, phase: { kind: 'awaiting-booking', askedAt: now } }, status };
      }
      return { sim: { ...sim, car }, status };
    }
    case 'awaiting-booking': {
      const car = drive(sim.car, random, cfg.intervalMs);
      const next: Phase = now - phase.askedAt > cfg.bookingTimeoutMs ? { kind: 'driving', nextBookingAt: now } : phase;
      return { sim: { ...sim, car, phase: next }, status: drivingStatus(car, now) };
    }
    case 'to-station': {
      let car: DrivingState;
      let arrived: boolean;
      if (phase.target) {
        // The last update of the trip lands on the station whatever the distance left.
        const minKm = phase.updatesLeft <= 1 ? Infinity : phase.stepKm;
        car = driveToward(sim.car, phase.target, random, cfg.intervalMs, minKm);
        arrived = car.lat === phase.target.lat && car.lon === phase.target.lon;
      } else {
        car = drive(sim.car, random, cfg.intervalMs);
        arrived = phase.updatesLeft <= 1;
      }
      if (!arrived) {
        return { sim: { ...sim, car, phase: { ...phase, updatesLeft: phase.updatesLeft - 1 } }, status: drivingStatus(car, now) };
      }
      const charging: Phase = {
        kind: 'charging',
        bookingId: phase.bookingId,
        stationId: phase.stationId,
        pluggedInAt: now,
        energyKwh: 0,
        unplugAt: between(random, cfg.unplugAt.min, cfg.unplugAt.max),
      };
      const plugged = { ...sim, car: { ...car, velocity: 0 }, phase: charging };
      return { sim: plugged, status: chargingStatus(plugged, charging, now) };
    }
    case 'charging': {
      if (phase.pausedAt !== undefined) {
        // Paused too long: the driver gives up, unplugs (the stay is over) and drives on.
        if (now - phase.pausedAt >= cfg.pausedStayMs) return update({ ...sim, phase: { kind: 'driving', nextBookingAt: 0 }, stays: sim.stays + 1 }, now, random, cfg);
        // Paused: plugged in, nothing flows; the meter and the battery hold.
        return { sim, status: chargingStatus(sim, phase, now) };
      }
      const gain = Math.min(100 - sim.car.battery, between(random, cfg.chargePerUpdate.min, cfg.chargePerUpdate.max));
      const car = { ...sim.car, velocity: 0, battery: sim.car.battery + gain };
      const charging = { ...phase, energyKwh: phase.energyKwh + (gain * cfg.batteryKwh) / 100 };
      const next = { ...sim, car, phase: charging };
      const status = chargingStatus(next, charging, now);
      // Full enough: this was the last sample of the stay; the next update drives off unplugged.
      if (car.battery >= charging.unplugAt) {
        return { sim: { ...next, phase: { kind: 'driving', nextBookingAt: 0 }, stays: sim.stays + 1 }, status };
      }
      return { sim: next, status };
    }
  }
}

/**
 * The server's answer to this car's booking request, or a booking notice it pushed (an expiry).
 * Answers that do not fit the car's phase (late, duplicated) change nothing.
 */
export function onBookingResponse(sim: SimCar, response: BookingResponse, now: number, cfg: BehaviorConfig): SimCar {
  const phase = sim.phase;
  if (response.status === BookingStatus.BOOKING_CONFIRMED && phase.kind === 'awaiting-booking' && response.bookingId !== '') {
    const target = cfg.stations.get(response.stationId);
    const trip = Math.max(1, cfg.tripUpdates);
    return {
      ...sim,
      phase: {
        kind: 'to-station',
        bookingId: response.bookingId,
        stationId: response.stationId,
        target,
        stepKm: target ? distanceKm(sim.car, target) / trip : 0,
        updatesLeft: trip,
      },
    };
  }
  if (response.status === BookingStatus.BOOKING_FAILED && phase.kind === 'awaiting-booking') {
    return { ...sim, phase: { kind: 'driving', nextBookingAt: now + cfg.retryAfterMs } };
  }
  if (response.status === BookingStatus.BOOKING_EXPIRED && phase.kind === 'to-station' && phase.bookingId === response.bookingId) {
    return { ...sim, phase: { kind: 'driving', nextBookingAt: now + cfg.retryAfterMs } };
  }
  return sim;
}
