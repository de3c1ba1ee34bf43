/**
 * CarStatus → the telemetry event of CONTRACTS.md, serialized once. `event_id` is a hash of the
 * serialized fields, so the same CarStatus (a car resending what was not acknowledged, or two
 * instances receiving the same message) always gets the same id and consumers can drop duplicates.
 */
import * as crypto from 'node:crypto';
import type { CarStatus } from '@greenlane/common/gen/fleet/fleet';

// One-shot hashing (Node ≥ 20.12) skips the Hash object per event; the result is the same digest.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;
const sha256Hex: (data: string) => string =
  oneShot !== undefined ? (data) => oneShot('sha256', data, 'hex') : (data) => crypto.createHash('sha256').update(data).digest('hex');

/**
 * The event's fields as JSON, in the fixed order of CONTRACTS.md, written directly rather than
 * through JSON.stringify of an object made for it (a third of the cost, on the storage thread's hot
 * path). Byte for byte what JSON.stringify gives for a validated CarStatus: its ids hold only
 * letters, digits and `-_.` (nothing to escape) and its numbers are finite, whose JSON is String(n).
 */
function telemetryJson(s: CarStatus): string {
  const head = `{"event_type":"telemetry","car_id":"${s.carId}","lat":${s.latitude},"lon":${s.longitude},"battery":${s.batteryLevel},"velocity":${s.velocity},"timestamp":${s.timestamp}`;
  if (s.stationId === '') return `${head}}`;
  return `${head},"station_id":"${s.stationId}","charging":${s.charging},"charge_energy_kwh":${s.chargeEnergyKwh},"plugged_in_at":${s.pluggedInAt}}`;
}

/**
 * The JSON value for Kafka (of a validated CarStatus). The key order is fixed, so the hash is stable; `late`
 * (the car had already reported a newer state) follows the hashed fields, so a CarStatus keeps its
 * id whether it arrives in order or not.
 */
export function serializeTelemetry(s: CarStatus, late = false): { eventId: string; value: string } {
  const body = telemetryJson(s);
  const eventId = sha256Hex(body).slice(0, 32);
  const fields = late ? `${body.slice(1, -1)},"late":true}` : body.slice(1);
  return { eventId, value: `{"event_id":"${eventId}",${fields}` };
}
