/**
 * A realistic car's life as pure functions: it drives; low on battery it asks for a charging slot;
 * with a confirmed booking it drives to the station, plugs in and charges (station_id, charging,
 * plugged_in_at, a rising energy meter and battery); near full it unplugs and drives on. A failed
 * or expired booking makes it try again later.
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
  };
}

export type Phase =
  | { kind: 'driving'; nextBookingAt: number }
  | { kind: 'awaiting-booking'; askedAt: number }
  | { kind: 'to-station'; bookingId: string; stationId: string; target: Position | undefined; stepKm: number; updatesLeft: number }
  | { kind: 'charging'; bookingId: string; stationId: string; pluggedInAt: number; energyKwh: number; unplugAt: number };

export interface SimCar {
  car: DrivingState;
  phase: Phase;
  /** Charging stays completed. */
  stays: number;
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
    charging: true,
    chargeEnergyKwh: round(phase.energyKwh, 4),
    pluggedInAt: phase.pluggedInAt,
  };
}

/** One update of a car: its next state and the CarStatus it sends for it. */
export function update(sim: SimCar, now: number, random: Random, cfg: BehaviorConfig): { sim: SimCar; status: CarStatus } {
  const phase = sim.phase;
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
      const gain = Math.min(100 - sim.car.battery, between(random, cfg.chargePerUpdate.min, cfg.chargePerUpdate.max));
      const car = { ...sim.car, velocity: 0, battery: sim.car.battery + gain };
      const charging = { ...phase, energyKwh: phase.energyKwh + (gain * cfg.batteryKwh) / 100 };
      const next = { ...sim, car, phase: charging };
      const status = chargingStatus(next, charging, now);
      // Full enough: this was the last sample of the stay; the next update drives off unplugged.
      if (car.battery >= charging.unplugAt) {
        return { sim: { car, phase: { kind: 'driving', nextBookingAt: 0 }, stays: sim.stays + 1 }, status };
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
