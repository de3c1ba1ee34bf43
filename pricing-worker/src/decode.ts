/**
 * Decoding and validation of raw `fleet-events` values into charging samples: the CPU work of the
 * worker, run on the piscina pool one whole batch at a time (see decode-task.ts). Pure functions.
 *
 * A charging sample is a telemetry event with `charging: true`; it must name its stay
 * (`station_id`, `plugged_in_at`) and carry the meter (`charge_energy_kwh`). Every other event
 * (driving or parked telemetry, bookings, event types added later) produces no row. A value that
 * can never be processed (not JSON, not an object, no event_type, a charging sample with missing
 * or impossible values) is poison, with the reason, for the dead-letter topic.
 */
import { createHash } from 'node:crypto';

/** Timestamps outside [2000-01-01, 2100-01-01) are impossible; fixed so a replay decides the same. */
const MIN_MS = Date.UTC(2000, 0, 1);
const MAX_MS = Date.UTC(2100, 0, 1);
/** No vehicle battery takes this much in one stay. */
const MAX_METER_KWH = 1000;
const MAX_ID_LENGTH = 128;

export interface ChargingSamples {
  count: number;
  /** Per sample, the index of its message in the batch (for a dead letter, should the database refuse it). */
  source: Int32Array;
  time: Float64Array;
  meter: Float64Array;
  sessionId: string[];
  stationId: string[];
  carId: string[];
}

export interface Poison {
  /** Index of the message within the batch. */
  index: number;
  reason: string;
}

export interface DecodedBatch {
  samples: ChargingSamples;
  poison: Poison[];
  /** Valid events that produce no row (not charging, bookings, other types). */
  ignored: number;
}

/** Fixed namespace for stay ids (a random v4 UUID chosen once for GreenLane). */
const NAMESPACE = Buffer.from('5f0c1f8e6a2b4c3d9e7f10a2b3c4d5e6', 'hex');

/**
 * The stay's id, the same in every process: a UUIDv5 (SHA-1, RFC 4122) of car, station and
 * plug-in instant, which together name the stay (CONTRACTS.md).
 */
export function sessionIdOf(carId: string, stationId: string, pluggedInAt: number): string {
  const hash = createHash('sha1').update(NAMESPACE).update(`${carId}\n${stationId}\n${pluggedInAt}`).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function isId(value: unknown): value is string {
  // PostgreSQL text cannot hold NUL: such an id would be refused by the database, not written.
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH && !value.includes('\u0000');
}

function isInstant(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= MIN_MS && value < MAX_MS;
}

type Verdict = { kind: 'ignore' } | { kind: 'poison'; reason: string } | { kind: 'sample'; car: string; station: string; plugged: number; time: number; meter: number };

export function classify(value: unknown): Verdict {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { kind: 'poison', reason: 'not a JSON object' };
  const e = value as Record<string, unknown>;
  if (typeof e.event_type !== 'string') return { kind: 'poison', reason: 'event_type missing or not a string' };
  if (e.event_type !== 'telemetry') return { kind: 'ignore' };
  if (e.charging !== undefined && e.charging !== null && typeof e.charging !== 'boolean') {
    return { kind: 'poison', reason: `charging=${JSON.stringify(e.charging)} is not a boolean` };
  }
  if (e.charging !== true) return { kind: 'ignore' };
  if (!isId(e.car_id)) return { kind: 'poison', reason: `car_id=${JSON.stringify(e.car_id)} is not a non-empty id` };
  if (!isInstant(e.timestamp)) return { kind: 'poison', reason: `timestamp=${JSON.stringify(e.timestamp)} is not an epoch-ms instant in 2000..2100` };
  if (!isId(e.station_id)) return { kind: 'poison', reason: `charging without a station: station_id=${JSON.stringify(e.station_id)}` };
  if (!isInstant(e.plugged_in_at)) return { kind: 'poison', reason: `plugged_in_at=${JSON.stringify(e.plugged_in_at)} is not an epoch-ms instant in 2000..2100` };
  if (e.plugged_in_at > e.timestamp) return { kind: 'poison', reason: `plugged_in_at=${e.plugged_in_at} is after timestamp=${e.timestamp}` };
  const meter = e.charge_energy_kwh;
  if (typeof meter !== 'number' || !Number.isFinite(meter) || meter < 0 || meter > MAX_METER_KWH) {
    return { kind: 'poison', reason: `charge_energy_kwh=${JSON.stringify(meter)} is not a meter reading in 0..${MAX_METER_KWH} kWh` };
  }
  return { kind: 'sample', car: e.car_id, station: e.station_id, plugged: e.plugged_in_at, time: e.timestamp, meter };
}

/**
 * Decodes a batch given as one buffer of concatenated values and their lengths (-1 = null value,
 * a tombstone), so a batch crosses to a worker thread as one transferable buffer.
 */
export function decodeBatch(buf: Uint8Array, lengths: Int32Array): DecodedBatch {
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = lengths.length;
  const time = new Float64Array(n);
  const meter = new Float64Array(n);
  const source = new Int32Array(n);
  const sessionId: string[] = [];
  const stationId: string[] = [];
  const carId: string[] = [];
  const poison: Poison[] = [];
  // Samples of one stay share their id: hash each stay once per batch.
  const stays = new Map<string, string>();
  let ignored = 0;
  let count = 0;
  let start = 0;
  for (let index = 0; index < n; index++) {
    const length = lengths[index]!;
    if (length < 0) {
      poison.push({ index, reason: 'no value (null record)' });
      continue;
    }
    const text = bytes.toString('utf8', start, start + length);
    start += length;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      poison.push({ index, reason: `not JSON: ${(error as Error).message}` });
      continue;
    }
    const verdict = classify(parsed);
    if (verdict.kind === 'ignore') {
      ignored++;
    } else if (verdict.kind === 'poison') {
      poison.push({ index, reason: verdict.reason });
    } else {
      const stayKey = `${verdict.car}\n${verdict.station}\n${verdict.plugged}`;
      let id = stays.get(stayKey);
      if (id === undefined) {
        id = sessionIdOf(verdict.car, verdict.station, verdict.plugged);
        stays.set(stayKey, id);
      }
      time[count] = verdict.time;
      meter[count] = verdict.meter;
      source[count] = index;
      sessionId.push(id);
      stationId.push(verdict.station);
      carId.push(verdict.car);
      count++;
    }
  }
  return {
    samples: { count, source: source.slice(0, count), time: time.slice(0, count), meter: meter.slice(0, count), sessionId, stationId, carId },
    poison,
    ignored,
  };
}

/** Packs message values for decodeBatch: one exclusively owned buffer, so it can be transferred. */
export function packValues(values: Array<Buffer | null>): { buf: Uint8Array; lengths: Int32Array } {
  const lengths = new Int32Array(values.length);
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    lengths[i] = v === null || v === undefined ? -1 : v.length;
    total += v?.length ?? 0;
  }
  const buf = new Uint8Array(total);
  let at = 0;
  for (const v of values) {
    if (v) {
      buf.set(v, at);
      at += v.length;
    }
  }
  return { buf, lengths };
}
