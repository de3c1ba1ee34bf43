import { isConnectivity, type EventView } from './event.js';
import { isCritical } from './render.js';

export interface EventFilter {
  /** Only these cars; empty = every car. */
  cars: ReadonlySet<string>;
  /** Only events with a battery level below this. */
  batteryBelow: number | undefined;
  /** Only alerts: every alert event (fleet-alerts), presence changes and critical batteries. */
  alertsOnly: boolean;
  /** Only booking events. */
  bookingsOnly: boolean;
  /** Show car_connected / car_disconnected too (noisy: every stream's start and end). */
  connections: boolean;
}

export const NO_FILTER: EventFilter = { cars: new Set(), batteryBelow: undefined, alertsOnly: false, bookingsOnly: false, connections: false };

/** What --alerts-only keeps: alert events, presence (and, with --connections, connectivity) events, critical batteries. */
export function isAlerting(event: EventView): boolean {
  return event.kind === 'alert' || event.kind === 'presence' || isCritical(event);
}

/** Every filter given must hold (they combine with AND). */
export function matches(event: EventView, f: EventFilter): boolean {
  if (f.cars.size > 0 && !f.cars.has(event.carId)) return false;
  if (!f.connections && isConnectivity(event)) return false;
  if (f.bookingsOnly && event.kind !== 'booking_confirmed' && event.kind !== 'booking_failed' && event.kind !== 'booking_expired') return false;
  if (f.alertsOnly && !isAlerting(event)) return false;
  if (f.batteryBelow !== undefined) {
    // Booking events carry a battery level only sometimes; commands, alerts and presence never: without one they do not match.
    const battery = event.kind === 'telemetry' || event.kind.startsWith('booking_') ? (event as { battery?: number }).battery : undefined;
    if (battery === undefined || !(battery < f.batteryBelow)) return false;
  }
  return true;
}
