/**
 * The time-of-use price curve of CONTRACTS.md ("Mock grid"), as a pure function of the instant.
 *
 * Price period: the price is constant within each 15-minute period aligned to the epoch (UTC
 * :00, :15, :30, :45). Every period is priced at the local time of its start in the grid's time
 * zone, so a consumer may cache one price per `floor(at / 900000)` and be exact, whatever the zone
 * (all current zone offsets are whole quarter hours, so these are also local quarter hours).
 *
 * Tariff, by the local fractional hour h of the period start (h = 18.25 for 18:15):
 *   rising  02:00 → 18:00   0.25 − 0.15·cos(π·(h − 2) / 16)        (0.10 → 0.40, half a cosine)
 *   falling 18:00 → 02:00   0.10 + 0.30·(1 − u)²,  u = (h − 18) / 8  (0.40 → 0.10, wrapping midnight)
 * so it moves around a base of $0.25 with a $0.15 swing, highest at 18:00 and lowest at 02:00,
 * smooth at the trough. The evening fall is quadratic, steep at first, so that the published price
 * (below) is also highest at 18:00: a half cosine over the 8 falling hours would still be $0.389
 * at 19:00, above the Solar-discounted $0.36 of 18:00, and the peak would move to 19:00.
 *
 * Published price: the tariff, reduced by 10% while the source is Solar (08:00–18:59), rounded
 * to 4 decimals. Published extremes: $0.36 at 18:00 (Solar) and $0.10 at 02:00 (Grid).
 * Load band: from the published price (after the discount), so every answer is self-consistent:
 * `High` above $0.35, `Medium` above $0.25, else `Low`.
 */
export const PERIOD_MS = 15 * 60 * 1000;
export const BASE = 0.25;
export const SWING = 0.15;
export const SOLAR_DISCOUNT = 0.1;

export type EnergySource = 'Solar' | 'Wind' | 'Grid';
export type GridLoad = 'High' | 'Medium' | 'Low';

export interface PricePoint {
  timestamp: number;
  price_per_kwh: number;
  grid_load: GridLoad;
  energy_source: EnergySource;
  hour: number;
  /** GreenLane addition: the 15-minute period the price holds for, [period_start, period_end). */
  period_start: number;
  period_end: number;
  time_zone: string;
}

/** The tariff before the source adjustment, by local fractional hour [0, 24). */
export function tariff(h: number): number {
  if (h >= 2 && h <= 18) return BASE - SWING * Math.cos((Math.PI * (h - 2)) / 16);
  const u = (((h - 18) % 24) + 24) % 24 / 8;
  return BASE - SWING + 2 * SWING * (1 - u) ** 2;
}

export function energySource(hour: number): EnergySource {
  if (hour >= 8 && hour <= 18) return 'Solar';
  if (hour >= 19 && hour <= 22) return 'Wind';
  return 'Grid';
}

export function gridLoad(price: number): GridLoad {
  if (price > 0.35) return 'High';
  if (price > 0.25) return 'Medium';
  return 'Low';
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Throws RangeError for a zone Intl does not know. */
export function localClock(ms: number, timeZone: string): { hour: number; minute: number } {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', hour: 'numeric', minute: 'numeric' });
    formatters.set(timeZone, format);
  }
  let hour = 0;
  let minute = 0;
  for (const part of format.formatToParts(ms)) {
    if (part.type === 'hour') hour = Number(part.value) % 24;
    else if (part.type === 'minute') minute = Number(part.value);
  }
  return { hour, minute };
}

export function periodStart(ms: number): number {
  return Math.floor(ms / PERIOD_MS) * PERIOD_MS;
}

export function priceAt(ms: number, timeZone = 'UTC'): PricePoint {
  const start = periodStart(ms);
  const { hour, minute } = localClock(start, timeZone);
  const source = energySource(hour);
  const raw = tariff(hour + minute / 60) * (source === 'Solar' ? 1 - SOLAR_DISCOUNT : 1);
  const price = Math.round(raw * 10_000) / 10_000;
  return {
    timestamp: ms,
    price_per_kwh: price,
    grid_load: gridLoad(price),
    energy_source: source,
    hour,
    period_start: start,
    period_end: start + PERIOD_MS,
    time_zone: timeZone,
  };
}
