/**
 * What the status line counts from alerts and presence, as seen since the tail started:
 * active alerts (raised and not yet cleared, per alert id; a replayed raise counts once) and cars
 * offline (whose last presence change was car_offline). Bounded: past `capacity` the oldest entry
 * is forgotten (an alert whose clear this tail never sees cannot grow it for ever).
 */
import type { AlertView, PresenceView } from './event.js';

export class AlertTracker {
  private readonly active = new Set<string>();
  private readonly offline = new Set<string>();
  /** Alert events seen, by action. */
  readonly seen = { raised: 0, refreshed: 0, cleared: 0, acknowledged: 0 };
  /** Presence changes seen (car_online / car_offline); connectivity events are not counted here. */
  presenceChanges = 0;
  readonly presence = { car_online: 0, car_offline: 0, car_connected: 0, car_disconnected: 0 };

  constructor(private readonly capacity = 100_000) {}

  seeAlert(e: AlertView): void {
    this.seen[e.action] += 1;
    if (e.action === 'raised') {
      this.active.add(e.alertId);
      if (this.active.size > this.capacity) this.active.delete(this.active.values().next().value as string);
    } else if (e.action === 'cleared') {
      this.active.delete(e.alertId);
    }
  }

  seePresence(e: PresenceView): void {
    this.presence[e.type] += 1;
    if (e.type === 'car_offline') {
      this.presenceChanges += 1;
      this.offline.add(e.carId);
      if (this.offline.size > this.capacity) this.offline.delete(this.offline.values().next().value as string);
    } else if (e.type === 'car_online') {
      this.presenceChanges += 1;
      this.offline.delete(e.carId);
    }
  }

  get alertEvents(): number {
    return this.seen.raised + this.seen.refreshed + this.seen.cleared + this.seen.acknowledged;
  }

  get activeAlerts(): number {
    return this.active.size;
  }

  get carsOffline(): number {
    return this.offline.size;
  }
}
