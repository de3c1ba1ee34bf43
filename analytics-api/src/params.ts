/**
 * Request parameters, validated before anything reaches the database: every value the SQL gets is
 * a bound parameter of a known type (a car id of a fixed alphabet, a Date, a number of seconds),
 * and every table or column name comes from the tables below, never from the request. A bad value
 * is a BadRequest naming the parameter and saying what it wants (answered 400).
 */

export class BadRequest extends Error {
  constructor(readonly parameter: string, message: string, readonly code = 'bad_request', readonly extra: Record<string, unknown> = {}) {
    super(message);
    this.name = 'BadRequest';
  }
}

export interface Limits {
  /** Longest range a request may cover. */
  maxRangeDays: number;
  /** Most points a series may have (range ÷ bucket). */
  maxPoints: number;
  /** Most rows a list (trips, stays, stations, hours) returns; more are cut, and `truncated` says so. */
  maxRows: number;
}

export interface Metric {
  /** SQL of the bucket's value over car_telemetry rows. */
  value: string;
  /** SQL of the row value whose min and max are shown, or null (sums). */
  gauge: string | null;
  unit: string;
  description: string;
  /**
   * The same over car_telemetry_hourly (plain PostgreSQL's rollup): `raw` is the per-row value
   * summed over car_telemetry rows, `sum`, `min`, `max` the rollup's columns of it; an average
   * is Σ sum ÷ Σ samples (weighted by samples, never an average of averages).
   */
  rollup: { raw: string; sum: string; min: string | null; max: string | null; average: boolean };
}

const gauge = (column: string) => ({ raw: column, sum: `${column}_sum`, min: `${column}_min`, max: `${column}_max`, average: true });

export const METRICS: Record<string, Metric> = {
  battery: { value: 'avg(battery)', gauge: 'battery', unit: '%', description: 'battery level, average over the bucket (min and max too)', rollup: gauge('battery') },
  velocity: { value: 'avg(velocity)', gauge: 'velocity', unit: 'km/h', description: 'speed, average over the bucket (min and max too)', rollup: gauge('velocity') },
  distance: { value: 'sum(distance_km)', gauge: null, unit: 'km', description: 'distance driven in the bucket', rollup: { raw: 'distance_km', sum: 'distance_km', min: null, max: null, average: false } },
  charging_time: {
    value: 'sum(CASE WHEN charging THEN interval_s ELSE 0 END)', gauge: null, unit: 's', description: 'time spent charging in the bucket',
    rollup: { raw: 'CASE WHEN charging THEN interval_s ELSE 0 END', sum: 'charging_s', min: null, max: null, average: false },
  },
  lat: { value: 'avg(lat)', gauge: 'lat', unit: '°', description: 'latitude, average over the bucket', rollup: gauge('lat') },
  lon: { value: 'avg(lon)', gauge: 'lon', unit: '°', description: 'longitude, average over the bucket', rollup: gauge('lon') },
};

const CAR_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:\d{2}))?$/;
const BUCKET = /^(\d{1,6})(s|m|h|d)$/;
const UNIT_S: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
/** Buckets `auto` picks from, smallest first. */
const AUTO_BUCKETS = ['1m', '5m', '15m', '30m', '1h', '3h', '6h', '12h', '1d'];

/** The query string, each parameter at most once and only those the endpoint knows. */
export function readQuery(search: URLSearchParams, known: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of search) {
    if (key === 'token') continue; // the operator token may come this way (common/src/operator-auth.ts)
    if (!known.includes(key)) throw new BadRequest(key, `unknown parameter ${JSON.stringify(key.slice(0, 64))}; this endpoint takes ${known.join(', ')}`);
    if (out.has(key)) throw new BadRequest(key, `parameter ${key} given more than once`);
    out.set(key, value);
  }
  return out;
}

export function parseCarId(raw: string, parameter = 'car_id'): string {
  if (!CAR_ID.test(raw)) throw new BadRequest(parameter, `${parameter}=${JSON.stringify(raw.slice(0, 64))} is not a car id: 1 to 128 letters, digits and . _ : -`);
  return raw;
}

export const parseStationId = (raw: string): string => parseCarId(raw, 'station_id').toString();

/** ISO 8601 with a zone (or a bare date, UTC), or epoch milliseconds. */
export function parseInstant(parameter: string, raw: string): Date {
  const wants = 'an ISO 8601 time with a zone (2026-12-01T10:00:00Z), a date (2026-12-01, UTC) or epoch milliseconds';
  let ms: number;
  if (/^\d{1,15}$/.test(raw)) {
    ms = Number(raw);
  } else {
    const m = ISO.exec(raw);
    if (!m) throw new BadRequest(parameter, `${parameter}=${JSON.stringify(raw.slice(0, 64))} is not a time: expected ${wants}`);
    const [, y, mo, d, h, mi] = m;
    // Date.parse accepts out-of-range fields (2026-02-31 becomes March 3): check them.
    if (Number(mo) < 1 || Number(mo) > 12 || Number(d) < 1 || Number(d) > 31 || Number(h ?? 0) > 23 || Number(mi ?? 0) > 59 || Number(m[6] ?? 0) > 59) {
      throw new BadRequest(parameter, `${parameter}=${JSON.stringify(raw)} is not a time: a field is out of range`);
    }
    ms = Date.parse(m[4] === undefined ? `${raw}T00:00:00Z` : raw);
    if (new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d))).getUTCDate() !== Number(d)) {
      throw new BadRequest(parameter, `${parameter}=${JSON.stringify(raw)} is not a time: there is no such day`);
    }
  }
  if (!Number.isFinite(ms) || ms < Date.UTC(2000, 0, 1) || ms >= Date.UTC(2100, 0, 1)) {
    throw new BadRequest(parameter, `${parameter}=${JSON.stringify(raw.slice(0, 64))} is outside 2000..2100`);
  }
  return new Date(ms);
}

export interface Range {
  from: Date;
  to: Date;
  seconds: number;
}

/** from/to (default: the last 24 hours up to now), from < to, at most maxRangeDays apart. */
export function parseRange(q: Map<string, string>, limits: Limits, now = Date.now()): Range {
  const to = q.has('to') ? parseInstant('to', q.get('to')!) : new Date(now);
  const from = q.has('from') ? parseInstant('from', q.get('from')!) : new Date(to.getTime() - 86_400_000);
  if (from.getTime() >= to.getTime()) throw new BadRequest('from', `from (${from.toISOString()}) must be before to (${to.toISOString()})`);
  const seconds = (to.getTime() - from.getTime()) / 1000;
  if (seconds > limits.maxRangeDays * 86_400) {
    throw new BadRequest('to', `the range from ${from.toISOString()} to ${to.toISOString()} is ${(seconds / 86_400).toFixed(1)} days; at most ${limits.maxRangeDays} days`, 'range_too_long');
  }
  return { from, to, seconds };
}

function bucketSeconds(raw: string): number {
  const m = BUCKET.exec(raw);
  if (!m) throw new BadRequest('bucket', `bucket=${JSON.stringify(raw.slice(0, 64))} is not a bucket: expected a count and a unit, s m h or d (30s, 5m, 1h, 1d), or auto`);
  return Number(m[1]) * UNIT_S[m[2]!]!;
}

/** A bucket size in seconds; refused when the range would need more than maxPoints of it. */
export function parseBucket(raw: string | undefined, range: Range, limits: Limits): { seconds: number; label: string } {
  if (raw === undefined || raw === 'auto') {
    const label = AUTO_BUCKETS.find((b) => Math.ceil(range.seconds / bucketSeconds(b)) <= limits.maxPoints) ?? '1d';
    return { seconds: bucketSeconds(label), label };
  }
  const seconds = bucketSeconds(raw);
  if (seconds < 1 || seconds > 31 * 86_400) throw new BadRequest('bucket', `bucket=${raw} is out of range: 1s to 31d`);
  const points = Math.ceil(range.seconds / seconds);
  if (points > limits.maxPoints) {
    const smallest = Math.ceil(range.seconds / limits.maxPoints);
    throw new BadRequest('bucket', `bucket=${raw} is too small for the range: ${points} points, at most ${limits.maxPoints}; use a bucket of at least ${smallest} s`, 'bucket_too_small', { points, maxPoints: limits.maxPoints, smallestBucketSeconds: smallest });
  }
  return { seconds, label: raw };
}

export function parseMetric(raw: string | undefined): [string, Metric] {
  if (raw === undefined) throw new BadRequest('metric', `metric is required: one of ${Object.keys(METRICS).join(', ')}`);
  const metric = Object.hasOwn(METRICS, raw) ? METRICS[raw] : undefined;
  if (!metric) throw new BadRequest('metric', `unknown metric ${JSON.stringify(raw.slice(0, 64))}: one of ${Object.keys(METRICS).join(', ')}`, 'unknown_metric');
  return [raw, metric];
}
