/**
 * CarStatus → the telemetry event of CONTRACTS.md, serialized once. `event_id` is a hash of the
 * serialized fields, so the same CarStatus (a car resending what was not acknowledged, or two
 * instances receiving the same message) always gets the same id and consumers can drop duplicates.
 */
import * as crypto from 'node:crypto';
import type { TelemetryEvent } from '@greenlane/common';
import type { CarStatus } from '@greenlane/common/gen/fleet/fleet';

// One-shot hashing (Node ≥ 20.12) skips the Hash object per event; the result is the same digest.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;
const sha256Hex: (data: string) => string =
  oneShot !== undefined ? (data) => oneShot('sha256', data, 'hex') : (data) => crypto.createHash('sha256').update(data).digest('hex');

type TelemetryFields = Omit<TelemetryEvent, 'event_id' | 'late'>;

function telemetryFields(s: CarStatus): TelemetryFields {
  const event: TelemetryFields = {
    event_type: 'telemetry',
    car_id: s.carId,
    lat: s.latitude,
    lon: s.longitude,
    battery: s.batteryLevel,
    velocity: s.velocity,
    timestamp: s.timestamp,
  };
  if (s.stationId !== '') {
    event.station_id = s.stationId;
    event.charging = s.charging;
    event.charge_energy_kwh = s.chargeEnergyKwh;
    event.plugged_in_at = s.pluggedInAt;
  }
  return event;
}

/**
 * The JSON value for Kafka. The key order is fixed by telemetryFields, so the hash is stable; `late`
 * (the car had already reported a newer state) follows the hashed fields, so a CarStatus keeps its
 * id whether it arrives in order or not.
 */
export function serializeTelemetry(s: CarStatus, late = false): { eventId: string; value: string } {
  const body = JSON.stringify(telemetryFields(s));
  const eventId = sha256Hex(body).slice(0, 32);
  const fields = late ? `${body.slice(1, -1)},"late":true}` : body.slice(1);
  return { eventId, value: `{"event_id":"${eventId}",${fields}` };
}
