/** Builders of fleet events for the tests (the shapes of CONTRACTS.md and issue 16's presence events). */
import type { Input, Telemetry } from '../src/types.js';

export const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
export const INSIDE = { lat: 40.758, lon: -73.9855 };
/** Jersey City, about 3 km west of the Hudson's Manhattan shore. */
export const OUTSIDE = { lat: 40.7178, lon: -74.0431 };

let n = 0;

export function telemetry(car: string, sec: number, fields: Partial<Omit<Telemetry, 'kind' | 'carId' | 'ts'>> = {}): Telemetry {
  return {
    kind: 'telemetry', eventId: `${car}-t${sec}-${n++}`, carId: car, ts: T0 + sec * 1000,
    lat: INSIDE.lat, lon: INSIDE.lon, battery: 80, velocity: 30, stationId: undefined, charging: false, energyKwh: undefined, pluggedInAt: undefined, late: false,
    ...fields,
  };
}

export function offline(car: string, sec: number, lastSeenSec: number, id = `${car}-off-${sec}`): Input {
  return { kind: 'presence', eventId: id, carId: car, ts: T0 + sec * 1000, online: false, instance: 'ing-1', reason: 'timeout', lastSeen: T0 + lastSeenSec * 1000 };
}

export function online(car: string, sec: number, id = `${car}-on-${sec}`): Input {
  return { kind: 'presence', eventId: id, carId: car, ts: T0 + sec * 1000, online: true, instance: 'ing-2', reason: 'telemetry', lastSeen: undefined };
}

export function expired(car: string, sec: number, booking: string, station = 'ST-1'): Input {
  return { kind: 'booking_expired', eventId: `booking_expired:${booking}`, carId: car, ts: T0 + sec * 1000, bookingId: booking, stationId: station };
}

/** The same events as JSON values on fleet-events. */
export function wire(input: Input): string {
  switch (input.kind) {
    case 'telemetry': {
      const e: Record<string, unknown> = { event_type: 'telemetry', event_id: input.eventId, car_id: input.carId, lat: input.lat, lon: input.lon, battery: input.battery, velocity: input.velocity, timestamp: input.ts };
      if (input.stationId !== undefined) e.station_id = input.stationId;
      if (input.charging) e.charging = true;
      if (input.energyKwh !== undefined) e.charge_energy_kwh = input.energyKwh;
      if (input.pluggedInAt !== undefined) e.plugged_in_at = input.pluggedInAt;
      if (input.late) e.late = true;
      return JSON.stringify(e);
    }
    case 'presence':
      return JSON.stringify({ event_type: input.online ? 'car_online' : 'car_offline', event_id: input.eventId, car_id: input.carId, timestamp: input.ts, instance: input.instance, reason: input.reason, ...(input.lastSeen !== undefined ? { last_seen: input.lastSeen } : {}) });
    case 'booking_expired':
      return JSON.stringify({ event_type: 'booking_expired', event_id: input.eventId, car_id: input.carId, booking_id: input.bookingId, station_id: input.stationId, price_rate: 0.3, timestamp: input.ts, message: 'expired' });
  }
}
