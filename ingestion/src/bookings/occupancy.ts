/**
 * Each instance's mirror of `bookings:occupying` (car -> station where it occupies a slot), kept
 * current by the Lua scripts' pub/sub changes and a periodic reload. It lets observe() decide
 * without a Redis round trip that a status needs no booking work: the common case of a car that is
 * driving and occupies nothing. Redis stays the truth; the mirror only saves trips, and a stale
 * entry heals itself (a wrong "occupying" costs one no-op script; a missed one is fixed by the
 * next reload, after which the car's next status releases the slot).
 */
export type ObserveAction = 'none' | 'plug_in' | 'unplug';

/** After a plug-in that could not be counted (station full or unknown), don't retry for this long. */
export const REFUSAL_MEMORY_MS = 5_000;

export class OccupancyMirror {
  private readonly stationOfCar = new Map<string, string>();
  private readonly refused = new Map<string, { stationId: string; until: number }>();

  get size(): number {
    return this.stationOfCar.size;
  }

  stationOf(carId: string): string | undefined {
    return this.stationOfCar.get(carId);
  }

  occupy(carId: string, stationId: string): void {
    this.stationOfCar.set(carId, stationId);
    this.refused.delete(carId);
  }

  release(carId: string): void {
    this.stationOfCar.delete(carId);
  }

  refuse(carId: string, stationId: string, now: number): void {
    this.refused.set(carId, { stationId, until: now + REFUSAL_MEMORY_MS });
  }

  replaceAll(entries: Record<string, string>): void {
    this.stationOfCar.clear();
    for (const [carId, stationId] of Object.entries(entries)) this.stationOfCar.set(carId, stationId);
  }

  /** A message of the changes channel: {op: 'occupy'|'release', car_id, station_id}. */
  applyChange(message: string): void {
    let change: { op?: unknown; car_id?: unknown; station_id?: unknown };
    try {
      change = JSON.parse(message) as typeof change;
    } catch {
      return;
    }
    if (typeof change.car_id !== 'string') return;
    if (change.op === 'occupy' && typeof change.station_id === 'string') this.occupy(change.car_id, change.station_id);
    // Only forget the car if it was released from the station we believe it occupies, so a late
    // release of an old stay does not hide a newer one.
    if (change.op === 'release' && this.stationOfCar.get(change.car_id) === change.station_id) this.release(change.car_id);
  }

  /** What a status needs: plugged in somewhere we don't count it yet, unplugged while counted, or nothing. */
  actionFor(status: { carId: string; stationId: string }, now: number): ObserveAction {
    const counted = this.stationOfCar.get(status.carId);
    if (status.stationId === '') {
      if (this.refused.size > 0) this.refused.delete(status.carId);
      return counted === undefined ? 'none' : 'unplug';
    }
    if (counted === status.stationId) return 'none';
    const refusal = this.refused.get(status.carId);
    if (refusal && refusal.stationId === status.stationId && refusal.until > now) return 'none';
    return 'plug_in';
  }
}
