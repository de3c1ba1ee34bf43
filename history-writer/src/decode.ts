/**
 * Raw fleet-events values → car_telemetry rows, as column arrays (one statement per batch). Pure.
 * A telemetry event is a row when it carries what the table needs (CONTRACTS.md: event_id, car_id,
 * lat, lon, battery, velocity, timestamp; the charging fields when present); any other event type
 * is not history. A telemetry event that cannot be a row (not JSON, missing or impossible values)
 * is rejected with its reason: counted, logged, skipped. (The pricing worker dead-letters the same
 * values from the same topic; a second copy of each letter would add nothing.)
 */

const MIN_MS = Date.UTC(2000, 0, 1);
const MAX_MS = Date.UTC(2100, 0, 1);
const MAX_ID_LENGTH = 128;

export interface TelemetryRows {
  count: number;
  eventId: string[];
  carId: string[];
  timeMs: number[];
  lat: number[];
  lon: number[];
  battery: number[];
  velocity: number[];
  /** null when not plugged in */
  stationId: Array<string | null>;
  charging: boolean[];
  energyKwh: Array<number | null>;
  pluggedInMs: Array<number | null>;
  late: boolean[];
}

export interface Rejected {
  /** Index of the message within the batch. */
  index: number;
  reason: string;
}

export interface DecodedTelemetry {
  rows: TelemetryRows;
  rejected: Rejected[];
  /** Valid events that are not telemetry (bookings, types added later). */
  ignored: number;
}

export function emptyRows(): TelemetryRows {
  return { count: 0, eventId: [], carId: [], timeMs: [], lat: [], lon: [], battery: [], velocity: [], stationId: [], charging: [], energyKwh: [], pluggedInMs: [], late: [] };
}

function isId(value: unknown): value is string {
  // PostgreSQL text cannot hold NUL.
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH && !value.includes('\u0000');
}

function isInstant(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= MIN_MS && value < MAX_MS;
}

function inRange(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;
}

/** A reason when `e` (a telemetry event) cannot be a row; undefined when it can. */
export function invalidTelemetry(e: Record<string, unknown>): string | undefined {
  if (!isId(e.event_id)) return `event_id=${JSON.stringify(e.event_id)} is not a non-empty id`;
  if (!isId(e.car_id)) return `car_id=${JSON.stringify(e.car_id)} is not a non-empty id`;
  if (!isInstant(e.timestamp)) return `timestamp=${JSON.stringify(e.timestamp)} is not an epoch-ms instant in 2000..2100`;
  if (!inRange(e.lat, -90, 90)) return `lat=${JSON.stringify(e.lat)} is not a latitude`;
  if (!inRange(e.lon, -180, 180)) return `lon=${JSON.stringify(e.lon)} is not a longitude`;
  if (!inRange(e.battery, -1e9, 1e9)) return `battery=${JSON.stringify(e.battery)} is not a number`;
  if (!inRange(e.velocity, -1e9, 1e9)) return `velocity=${JSON.stringify(e.velocity)} is not a number`;
  if (e.station_id !== undefined && e.station_id !== '' && !isId(e.station_id)) return `station_id=${JSON.stringify(e.station_id)} is not an id`;
  if (e.charging !== undefined && typeof e.charging !== 'boolean') return `charging=${JSON.stringify(e.charging)} is not a boolean`;
  if (e.charge_energy_kwh !== undefined && !inRange(e.charge_energy_kwh, -1e9, 1e9)) return `charge_energy_kwh=${JSON.stringify(e.charge_energy_kwh)} is not a number`;
  if (e.plugged_in_at !== undefined && !isInstant(e.plugged_in_at)) return `plugged_in_at=${JSON.stringify(e.plugged_in_at)} is not an epoch-ms instant in 2000..2100`;
  return undefined;
}

function push(rows: TelemetryRows, e: Record<string, unknown>): void {
  rows.eventId.push(e.event_id as string);
  rows.carId.push(e.car_id as string);
  rows.timeMs.push(e.timestamp as number);
  rows.lat.push(e.lat as number);
  rows.lon.push(e.lon as number);
  rows.battery.push(e.battery as number);
  rows.velocity.push(e.velocity as number);
  rows.stationId.push(typeof e.station_id === 'string' && e.station_id !== '' ? e.station_id : null);
  rows.charging.push(e.charging === true);
  rows.energyKwh.push(typeof e.charge_energy_kwh === 'number' ? e.charge_energy_kwh : null);
  rows.pluggedInMs.push(typeof e.plugged_in_at === 'number' ? e.plugged_in_at : null);
  rows.late.push(e.late === true);
  rows.count++;
}

export function decodeTelemetry(values: Array<Buffer | null>): DecodedTelemetry {
  const rows = emptyRows();
  const rejected: Rejected[] = [];
  let ignored = 0;
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    if (value === null || value === undefined) {
      rejected.push({ index, reason: 'no value (null record)' });
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(value.toString('utf8'));
    } catch (error) {
      rejected.push({ index, reason: `not JSON: ${(error as Error).message}` });
      continue;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      rejected.push({ index, reason: 'not a JSON object' });
      continue;
    }
    const e = parsed as Record<string, unknown>;
    if (e.event_type !== 'telemetry') {
      if (typeof e.event_type === 'string') ignored++;
      else rejected.push({ index, reason: 'event_type missing or not a string' });
      continue;
    }
    const reason = invalidTelemetry(e);
    if (reason === undefined) push(rows, e);
    else rejected.push({ index, reason });
  }
  return { rows, rejected, ignored };
}

/** Rows [from, to), for writing part of a batch on its own. */
export function sliceRows(rows: TelemetryRows, from: number, to: number): TelemetryRows {
  const out = emptyRows();
  for (const key of Object.keys(out) as Array<keyof TelemetryRows>) {
    if (key === 'count') continue;
    (out[key] as unknown[]) = (rows[key] as unknown[]).slice(from, to);
  }
  out.count = Math.max(0, Math.min(to, rows.count) - from);
  return out;
}
