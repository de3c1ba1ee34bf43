/**
 * Raw fleet-events values → engine inputs. Pure. Handled: `telemetry`, `booking_expired`,
 * `car_online` / `car_offline`; every other event type (bookings confirmed or failed,
 * connectivity, types added later) is ignored, never an error. A handled event that misses what
 * its rule needs is rejected with a reason (counted and logged, then skipped).
 */
import type { Input } from './types.js';

const MAX_ID = 128;
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_ID;
/** Car ids as the ingestion accepts them (ingestion/src/validate.ts): they name Redis keys and alert ids in URLs. */
export const CAR_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const optionalString = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v.slice(0, MAX_ID) : undefined);

export type Decoded = { ok: true; input: Input } | { ok: false; ignored: true; type: string } | { ok: false; ignored: false; reason: string };

export function decodeEvent(value: Buffer | string | null | undefined): Decoded {
  if (value === null || value === undefined) return { ok: false, ignored: false, reason: 'no value (null record)' };
  let e: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { ok: false, ignored: false, reason: 'not a JSON object' };
    e = parsed as Record<string, unknown>;
  } catch (error) {
    return { ok: false, ignored: false, reason: `not JSON: ${(error as Error).message}` };
  }
  const type = e.event_type;
  if (typeof type !== 'string') return { ok: false, ignored: false, reason: 'event_type missing or not a string' };
  if (type !== 'telemetry' && type !== 'booking_expired' && type !== 'car_online' && type !== 'car_offline') return { ok: false, ignored: true, type };
  if (typeof e.car_id !== 'string' || !CAR_ID.test(e.car_id)) return { ok: false, ignored: false, reason: `${type}: car_id=${JSON.stringify(e.car_id)?.slice(0, 80)} is not a car id (letters, digits, "-_.", at most 64)` };
  if (!isId(e.event_id)) return { ok: false, ignored: false, reason: `${type}: event_id=${JSON.stringify(e.event_id)} is not an id` };
  if (!isNum(e.timestamp)) return { ok: false, ignored: false, reason: `${type}: timestamp=${JSON.stringify(e.timestamp)} is not a number` };
  const base = { eventId: e.event_id, carId: e.car_id, ts: e.timestamp };
  if (type === 'telemetry') {
    for (const field of ['lat', 'lon', 'battery', 'velocity'] as const) {
      if (!isNum(e[field])) return { ok: false, ignored: false, reason: `telemetry: ${field}=${JSON.stringify(e[field])} is not a number` };
    }
    return {
      ok: true,
      input: {
        kind: 'telemetry', ...base,
        lat: e.lat as number, lon: e.lon as number, battery: e.battery as number, velocity: e.velocity as number,
        stationId: optionalString(e.station_id),
        charging: e.charging === true,
        energyKwh: isNum(e.charge_energy_kwh) ? e.charge_energy_kwh : undefined,
        pluggedInAt: isNum(e.plugged_in_at) ? e.plugged_in_at : undefined,
        late: e.late === true,
      },
    };
  }
  if (type === 'booking_expired') {
    return { ok: true, input: { kind: 'booking_expired', ...base, bookingId: optionalString(e.booking_id) ?? '', stationId: optionalString(e.station_id) ?? '' } };
  }
  return {
    ok: true,
    input: {
      kind: 'presence', ...base,
      online: type === 'car_online',
      instance: optionalString(e.instance),
      reason: optionalString(e.reason),
      lastSeen: isNum(e.last_seen) ? e.last_seen : undefined,
      ...(optionalString(e.held_by) !== undefined ? { heldBy: optionalString(e.held_by) } : {}),
    },
  };
}
