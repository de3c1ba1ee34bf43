import type { EventView } from './event.js';
import { isCritical } from './render.js';

export interface EventFilter {
  /** Only these cars; empty = every car. */
  cars: ReadonlySet<string>;
  /** Only events with a battery level below this. */
  batteryBelow: number | undefined;
  /** Only critical battery alerts. */
  alertsOnly: boolean;
  /** Only booking events. */
  bookingsOnly: boolean;
}

export const NO_FILTER: EventFilter = { cars: new Set(), batteryBelow: undefined, alertsOnly: false, bookingsOnly: false };

/** Every filter given must hold (they combine with AND). */
export function matches(event: EventView, f: EventFilter): boolean {
  if (f.cars.size > 0 && !f.cars.has(event.carId)) return false;
  if (f.bookingsOnly && (event.kind === 'telemetry' || event.kind === 'command')) return false;
  if (f.alertsOnly && !isCritical(event)) return false;
  if (f.batteryBelow !== undefined) {
    // Booking events carry a battery level only sometimes, command events never; without one they do not match.
    const battery = event.kind === 'command' ? undefined : event.battery;
    if (battery === undefined || !(battery < f.batteryBelow)) return false;
  }
  return true;
}
