import type { EventView } from './event.js';
import { isCritical } from './render.js';
import { CommandTracker } from './command-tracker.js';
import { AlertTracker } from './alert-tracker.js';

/** What the CLI has seen since it started: for the status line and the summary on exit. */
export class TailStats {
  readonly startedAt: number;
  events = 0;
  malformed = 0;
  /** Events of types this CLI does not know (skipped, never shown). */
  otherTypes = 0;
  /** Telemetry with a critical battery (CRITICAL BATTERY! lines). */
  criticalBatteries = 0;
  matched = 0;
  shown = 0;
  hidden = 0;
  readonly bookings = { booking_confirmed: 0, booking_failed: 0, booking_expired: 0 };
  readonly commands = new CommandTracker();
  readonly alerts = new AlertTracker();
  private readonly cars = new Set<string>();
  private windowStart: number;
  private windowEvents = 0;
  private windowShown = 0;
  private windowHidden = 0;
  private rate = { events: 0, shown: 0, hidden: 0 };

  constructor(now: number) {
    this.startedAt = now;
    this.windowStart = now;
  }

  see(event: EventView): void {
    this.events += 1;
    this.windowEvents += 1;
    this.cars.add(event.carId);
    if (isCritical(event)) this.criticalBatteries += 1;
    if (event.kind === 'command') this.commands.see(event);
    else if (event.kind === 'alert') this.alerts.seeAlert(event);
    else if (event.kind === 'presence') this.alerts.seePresence(event);
    else if (event.kind !== 'telemetry') this.bookings[event.kind] += 1;
  }

  /** A value that is not an event this CLI shows: of a type it does not know, or unreadable. */
  seeMalformed(otherType = false): void {
    this.events += 1;
    this.windowEvents += 1;
    if (otherType) this.otherTypes += 1;
    else this.malformed += 1;
  }

  shownLine(): void {
    this.shown += 1;
    this.windowShown += 1;
  }

  hiddenLine(): void {
    this.hidden += 1;
    this.windowHidden += 1;
  }

  get carsSeen(): number {
    return this.cars.size;
  }

  /** Closes a rate window (about a second) and returns its per-second figures. */
  tick(now: number): { events: number; shown: number; hidden: number } {
    const seconds = Math.max(0.001, (now - this.windowStart) / 1000);
    this.rate = { events: this.windowEvents / seconds, shown: this.windowShown / seconds, hidden: this.windowHidden / seconds };
    this.windowStart = now;
    this.windowEvents = 0;
    this.windowShown = 0;
    this.windowHidden = 0;
    return this.rate;
  }

  get perSecond(): { events: number; shown: number; hidden: number } {
    return this.rate;
  }
}

const n = (v: number) => Math.round(v).toLocaleString('en-US');

/** The summary printed on Ctrl+C. */
export function summaryText(s: TailStats, now: number, formatDuration: (ms: number) => string): string {
  const elapsed = now - s.startedAt;
  const b = s.bookings;
  return [
    `live-ops summary: ${n(s.events)} events in ${formatDuration(elapsed)} (${n(s.events / Math.max(0.001, elapsed / 1000))}/s on average)`,
    `  ${n(s.carsSeen)} cars seen, ${n(s.criticalBatteries)} critical battery alerts, bookings: ${n(b.booking_confirmed)} confirmed, ${n(b.booking_failed)} failed, ${n(b.booking_expired)} expired`,
    ...(s.alerts.alertEvents > 0
      ? [
          `  alerts: ${n(s.alerts.seen.raised)} raised, ${n(s.alerts.seen.refreshed)} refreshed, ${n(s.alerts.seen.cleared)} cleared, ` +
            `${n(s.alerts.seen.acknowledged)} acknowledged; ${n(s.alerts.activeAlerts)} active`,
        ]
      : []),
    ...(s.alerts.presenceChanges > 0
      ? [`  presence: ${n(s.alerts.presence.car_online)} online, ${n(s.alerts.presence.car_offline)} offline changes; ${n(s.alerts.carsOffline)} cars offline`]
      : []),
    ...(s.commands.changes > 0
      ? [
          `  commands: ${n(s.commands.changes)} status changes; ended ${n(s.commands.ended.SUCCEEDED ?? 0)} succeeded, ${n(s.commands.ended.FAILED ?? 0)} failed, ` +
            `${n(s.commands.ended.TIMED_OUT ?? 0)} timed out, ${n(s.commands.ended.EXPIRED ?? 0)} expired; ${n(s.commands.inFlight)} in flight`,
        ]
      : []),
    `  ${n(s.matched)} matched the filters: ${n(s.shown)} shown, ${n(s.hidden)} sampled out${s.malformed > 0 ? `; ${n(s.malformed)} unreadable events skipped` : ''}${s.otherTypes > 0 ? `; ${n(s.otherTypes)} events of other types skipped` : ''}`,
  ].join('\n');
}
