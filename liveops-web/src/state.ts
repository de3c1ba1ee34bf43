/**
 * The latest state of every car, in columns the frames are cut from (protocol.ts), plus what the
 * side panel shows of one car (its recent events, its booking) and the active alerts. Cars changed
 * since the last tick are listed once each however often they changed: that is the coalescing.
 */
import {
  CRITICAL_BELOW,
  FLAG_ALERT,
  FLAG_CHARGING,
  FLAG_OFFLINE,
  FLAG_PLUGGED,
  FLAG_STOPPED,
  type CarColumns,
} from './protocol.js';

export interface Booking {
  status: 'confirmed' | 'failed' | 'expired';
  bookingId: string;
  stationId: string;
  priceRate: number;
  timestamp: number;
  message?: string;
}

export interface Alert {
  carId: string;
  /** `critical_battery` (this service's own, from telemetry), or the alert engine's rule (fleet-alerts). */
  kind: string;
  severity: 'critical' | 'warning' | string;
  since: number;
  /** The alert engine's id; absent for critical_battery. */
  alertId?: string;
  acknowledged?: boolean;
  battery?: number;
  lat?: number;
  lon?: number;
  values?: Record<string, unknown>;
}

export interface CarDetail {
  carId: string;
  lat: number;
  lon: number;
  battery: number;
  velocity: number;
  timestamp: number;
  receivedAt: number;
  stationId?: string;
  charging: boolean;
  chargeEnergyKwh?: number;
  offline: boolean;
  alerts?: Alert[];
  booking?: Booking;
  /** Newest last: the raw event JSON as it was on the topic. */
  recentEvents: unknown[];
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

export interface StateOptions {
  /** A car silent this long is shown offline. */
  offlineAfterMs: number;
  /** Events kept per car for the side panel. */
  recentEvents: number;
}

export class FleetState {
  readonly ids: string[] = [];
  private readonly byId = new Map<string, number>();
  columns: CarColumns;
  private capacity = 0;
  private receivedAt = new Float64Array(0);
  private readonly extra: Array<{ stationId?: string; chargeEnergyKwh?: number; booking?: Booking; recent: string[] }> = [];
  /** Cars changed since the last takeDirty(), each once. */
  private dirty = new Uint32Array(0);
  private dirtyCount = 0;
  private isDirty = new Uint8Array(0);
  /** Active alerts: `battery:<car>` for critical battery, the alert engine's alert_id for its own. */
  readonly alerts = new Map<string, Alert>();
  /** Active alert-engine alerts per car. */
  private readonly engineAlerts = new Map<string, number>();
  /** Bumped when the alert list changes. */
  alertsVersion = 0;
  events = 0;
  malformed = 0;

  constructor(private readonly opts: StateOptions) {
    this.columns = this.allocate(1024);
  }

  get size(): number {
    return this.ids.length;
  }

  private allocate(capacity: number): CarColumns {
    const old = this.columns as CarColumns | undefined;
    const grow = <T extends { set(a: ArrayLike<number>): void }>(make: (n: number) => T, prev: ArrayLike<number> | undefined): T => {
      const next = make(capacity);
      if (prev) next.set(prev);
      return next;
    };
    const columns: CarColumns = {
      index: grow((n) => new Uint32Array(n), old?.index),
      lat: grow((n) => new Int32Array(n), old?.lat),
      lon: grow((n) => new Int32Array(n), old?.lon),
      timestamp: grow((n) => new Float64Array(n), old?.timestamp),
      battery: grow((n) => new Uint16Array(n), old?.battery),
      velocity: grow((n) => new Uint16Array(n), old?.velocity),
      flags: grow((n) => new Uint8Array(n), old?.flags),
    };
    this.receivedAt = grow((n) => new Float64Array(n), this.receivedAt);
    this.dirty = grow((n) => new Uint32Array(n), this.dirty);
    this.isDirty = grow((n) => new Uint8Array(n), this.isDirty);
    this.capacity = capacity;
    return columns;
  }

  private rowOf(carId: string): number {
    let row = this.byId.get(carId);
    if (row === undefined) {
      row = this.ids.length;
      if (row >= this.capacity) this.columns = this.allocate(this.capacity * 2);
      this.ids.push(carId);
      this.byId.set(carId, row);
      this.columns.index[row] = row;
      this.extra.push({ recent: [] });
    }
    return row;
  }

  private touch(row: number): void {
    if (this.isDirty[row] === 0) {
      this.isDirty[row] = 1;
      this.dirty[this.dirtyCount++] = row;
    }
  }

  /** One event from the topic, as text; false when it is not one this service reads. */
  apply(text: string, now: number): boolean {
    let e: Record<string, unknown>;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
      e = parsed as Record<string, unknown>;
    } catch {
      this.malformed += 1;
      return false;
    }
    const carId = str(e.car_id);
    const type = e.event_type ?? 'telemetry';
    // The alert engine's events carry `at`, not `timestamp`.
    if (carId !== undefined && typeof type === 'string' && type.startsWith('alert_')) return this.applyAlert(e, carId, type.slice('alert_'.length));
    const timestamp = num(e.timestamp);
    if (carId === undefined || timestamp === undefined) {
      this.malformed += 1;
      return false;
    }
    if (type === 'telemetry') {
      const lat = num(e.lat);
      const lon = num(e.lon);
      const battery = num(e.battery);
      const velocity = num(e.velocity);
      if (lat === undefined || lon === undefined || battery === undefined || velocity === undefined) {
        this.malformed += 1;
        return false;
      }
      this.events += 1;
      const row = this.rowOf(carId);
      const extra = this.extra[row]!;
      this.remember(extra, text);
      const c = this.columns;
      this.receivedAt[row] = now;
      // A late event (an older state the car had already superseded) is history, not position.
      if (e.late === true || (c.timestamp[row]! > timestamp && (c.flags[row]! & FLAG_OFFLINE) === 0)) return true;
      c.lat[row] = Math.round(lat * 1e6);
      c.lon[row] = Math.round(lon * 1e6);
      c.timestamp[row] = timestamp;
      c.battery[row] = Math.round(Math.min(100, Math.max(0, battery)) * 100);
      c.velocity[row] = Math.round(Math.min(6553, Math.max(0, velocity)) * 10);
      const stationId = str(e.station_id);
      const charging = e.charging === true;
      const critical = battery < CRITICAL_BELOW;
      c.flags[row] =
        (charging ? FLAG_CHARGING : 0) |
        (stationId ? FLAG_PLUGGED : 0) |
        (velocity === 0 ? FLAG_STOPPED : 0) |
        (critical || (this.engineAlerts.get(carId) ?? 0) > 0 ? FLAG_ALERT : 0);
      extra.stationId = stationId;
      extra.chargeEnergyKwh = num(e.charge_energy_kwh);
      this.setAlert(carId, critical, battery, timestamp, lat, lon);
      this.touch(row);
      return true;
    }
    if (type === 'booking_confirmed' || type === 'booking_failed' || type === 'booking_expired') {
      this.events += 1;
      const row = this.rowOf(carId);
      const extra = this.extra[row]!;
      this.remember(extra, text);
      const booking: Booking = {
        status: type === 'booking_confirmed' ? 'confirmed' : type === 'booking_failed' ? 'failed' : 'expired',
        bookingId: str(e.booking_id) ?? '',
        stationId: str(e.station_id) ?? '',
        priceRate: num(e.price_rate) ?? 0,
        timestamp,
      };
      const message = str(e.message);
      if (message) booking.message = message;
      extra.booking = booking;
      return true;
    }
    this.malformed += 1;
    return false;
  }

  private remember(extra: { recent: string[] }, text: string): void {
    extra.recent.push(text);
    if (extra.recent.length > this.opts.recentEvents) extra.recent.shift();
  }

  private setAlert(carId: string, active: boolean, battery: number, timestamp: number, lat: number, lon: number): void {
    const key = `battery:${carId}`;
    const existing = this.alerts.get(key);
    if (active) {
      if (existing) {
        existing.battery = battery;
        existing.lat = lat;
        existing.lon = lon;
      } else {
        this.alerts.set(key, { carId, kind: 'critical_battery', severity: 'critical', battery, since: timestamp, lat, lon });
        this.alertsVersion += 1;
      }
    } else if (existing) {
      this.alerts.delete(key);
      this.alertsVersion += 1;
    }
  }

  /** An event of the alert engine (fleet-alerts): raised, refreshed, acknowledged or cleared. */
  private applyAlert(e: Record<string, unknown>, carId: string, transition: string): boolean {
    const alertId = str(e.alert_id);
    if (alertId === undefined || !['raised', 'refreshed', 'acknowledged', 'cleared'].includes(transition)) {
      this.malformed += 1;
      return false;
    }
    this.events += 1;
    const existing = this.alerts.get(alertId);
    if (transition === 'cleared') {
      if (existing) {
        this.alerts.delete(alertId);
        this.engineAlerts.set(carId, Math.max(0, (this.engineAlerts.get(carId) ?? 1) - 1));
        this.alertsVersion += 1;
        this.refreshAlertFlag(carId);
      }
      return true;
    }
    const alert: Alert = {
      carId,
      kind: str(e.rule) ?? 'alert',
      severity: str(e.severity) ?? 'warning',
      since: num(e.raised_at) ?? num(e.at) ?? 0,
      alertId,
      acknowledged: transition === 'acknowledged' || existing?.acknowledged === true,
    };
    if (typeof e.values === 'object' && e.values !== null) alert.values = e.values as Record<string, unknown>;
    this.alerts.set(alertId, alert);
    if (!existing) {
      this.engineAlerts.set(carId, (this.engineAlerts.get(carId) ?? 0) + 1);
      this.refreshAlertFlag(carId);
    }
    this.alertsVersion += 1;
    return true;
  }

  private refreshAlertFlag(carId: string): void {
    const row = this.byId.get(carId);
    if (row === undefined) return;
    const c = this.columns;
    const active = (this.engineAlerts.get(carId) ?? 0) > 0 || this.alerts.has(`battery:${carId}`);
    const flags = active ? c.flags[row]! | FLAG_ALERT : c.flags[row]! & ~FLAG_ALERT;
    if (flags !== c.flags[row]) {
      c.flags[row] = flags;
      this.touch(row);
    }
  }

  /** Marks cars silent for offlineAfterMs offline (and back online is done by their next event). */
  sweepOffline(now: number): void {
    const c = this.columns;
    const cutoff = now - this.opts.offlineAfterMs;
    for (let row = 0; row < this.ids.length; row++) {
      if ((c.flags[row]! & FLAG_OFFLINE) === 0 && this.receivedAt[row]! < cutoff) {
        c.flags[row] = c.flags[row]! | FLAG_OFFLINE;
        this.touch(row);
      }
    }
  }

  /** The cars changed since the last call (row numbers; valid until the next apply). */
  takeDirty(): { rows: Uint32Array; count: number } {
    const count = this.dirtyCount;
    const rows = this.dirty.slice(0, count);
    for (let i = 0; i < count; i++) this.isDirty[rows[i]!] = 0;
    this.dirtyCount = 0;
    return { rows, count };
  }

  rowById(carId: string): number | undefined {
    return this.byId.get(carId);
  }

  detail(carId: string): CarDetail | undefined {
    const row = this.byId.get(carId);
    if (row === undefined) return undefined;
    const c = this.columns;
    const extra = this.extra[row]!;
    const flags = c.flags[row]!;
    const detail: CarDetail = {
      carId,
      lat: c.lat[row]! / 1e6,
      lon: c.lon[row]! / 1e6,
      battery: c.battery[row]! / 100,
      velocity: c.velocity[row]! / 10,
      timestamp: c.timestamp[row]!,
      receivedAt: this.receivedAt[row]!,
      charging: (flags & FLAG_CHARGING) !== 0,
      offline: (flags & FLAG_OFFLINE) !== 0,
      recentEvents: extra.recent.map((t) => JSON.parse(t) as unknown),
    };
    if (extra.stationId) detail.stationId = extra.stationId;
    if (extra.chargeEnergyKwh !== undefined) detail.chargeEnergyKwh = extra.chargeEnergyKwh;
    const alerts = [...this.alerts.values()].filter((a) => a.carId === carId);
    if (alerts.length > 0) detail.alerts = alerts;
    if (extra.booking) detail.booking = extra.booking;
    return detail;
  }

  /** Critical first, then the lowest battery, then the oldest. */
  alertList(): Alert[] {
    const rank = (a: Alert) => (a.severity === 'critical' ? 0 : 1);
    return [...this.alerts.values()].sort((a, b) => rank(a) - rank(b) || (a.battery ?? 101) - (b.battery ?? 101) || a.since - b.since);
  }

  /** UTF-8 bytes of the ids of rows from..size-1, '\n'-separated (the names block of a frame). */
  namesFrom(from: number): Uint8Array {
    if (from >= this.ids.length) return new Uint8Array(0);
    return new TextEncoder().encode(this.ids.slice(from).join('\n'));
  }
}
