/** What the driver reads in BookingResponse.message: short, plain, with the facts they act on. */

/** "5 km", "2.5 km", "350 m". */
export function formatDistance(km: number): string {
  const metres = Math.max(10, Math.round((km * 1000) / 10) * 10);
  if (metres < 1000) return `${metres} m`;
  const rounded = Math.round(km * 10) / 10;
  return `${Number.isInteger(rounded) ? rounded.toFixed(0) : rounded.toFixed(1)} km`;
}

/** "20 min", "45 s", "1 h 30 min". */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m === 0 ? `${h} h` : `${h} h ${m} min`;
}

export interface StationLabel {
  id: string;
  name?: string;
}

function label(station: StationLabel): string {
  return station.name ? `${station.name} (${station.id})` : station.id;
}

export function confirmedMessage(opts: {
  station: StationLabel;
  distanceKm?: number;
  holdSeconds: number;
  preferredId?: string;
  preferredState?: 'full' | 'unknown';
  priceKnown: boolean;
}): string {
  const where = opts.distanceKm === undefined ? '' : `, ${formatDistance(opts.distanceKm)} away`;
  let text = `slot reserved at ${label(opts.station)}${where}; held for ${formatDuration(opts.holdSeconds)}`;
  if (opts.preferredState === 'full') text = `${opts.preferredId} is full; ${text}`;
  if (opts.preferredState === 'unknown') text = `no station ${opts.preferredId}; ${text}`;
  if (!opts.priceKnown) text += '; current price unavailable';
  return text;
}

export function heldMessage(station: StationLabel, remainingSeconds: number): string {
  return `you already hold a slot at ${label(station)}; held for ${formatDuration(Math.max(0, remainingSeconds))} more`;
}

export function noSlotMessage(opts: { radiusKm: number; stationsInRange: number; preferredId?: string; preferredState?: 'full' | 'unknown' }): string {
  const base = `no free slot within ${formatDistance(opts.radiusKm)}`;
  const why =
    opts.stationsInRange === 0
      ? 'no charging station in range'
      : opts.stationsInRange === 1
        ? 'the one station in range is full'
        : `all ${opts.stationsInRange} stations in range are full`;
  const preferred =
    opts.preferredState === 'full' ? `; ${opts.preferredId} is full` : opts.preferredState === 'unknown' ? `; no station ${opts.preferredId}` : '';
  return `${base}: ${why}${preferred}`;
}

export function pluggedInMessage(station: StationLabel): string {
  return `you are plugged in at ${label(station)}; unplug before booking another slot`;
}

export function expiredMessage(station: StationLabel, holdSeconds: number): string {
  return `booking at ${label(station)} expired: not used within ${formatDuration(holdSeconds)}; the slot was released`;
}
