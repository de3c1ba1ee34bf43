/**
 * The rules over one car's events, in order. Pure: state in, state and alert events out, so the
 * same events over the same state always give the same result (a replay changes nothing).
 *
 * Ordering and duplicates, per car (a car's events share a partition, key = car id):
 * - telemetry is applied in car-timestamp order: an event marked `late`, or not newer than the
 *   newest applied (a resend, a duplicate, a replay), changes no state and raises or clears nothing;
 * - presence events apply when not older than the newest presence applied, once per event id;
 * - booking expiries apply once per event id (the ingestion derives it from the booking).
 */
import type { RuleThresholds } from './config.js';
import { applyVerdict } from './lifecycle.js';
import { batteryVerdict } from './rules/battery.js';
import { chargingStalledVerdict } from './rules/charging-stalled.js';
import { noShowBookingVerdict, noShowTelemetryVerdict } from './rules/booking-no-show.js';
import { offlinePresenceVerdict, offlineTelemetryVerdict } from './rules/offline.js';
import { overspeedVerdict } from './rules/overspeed.js';
import { serviceAreaVerdict, type ServiceArea } from './rules/service-area.js';
import { newCarState, type AlertEvent, type CarState, type Input, type RuleName, type Verdict } from './types.js';

/** How many recent non-telemetry event ids a car keeps for dropping duplicates. */
export const RECENT_IDS = 32;

export type Skip = 'late' | 'stale' | 'duplicate';

export interface EngineSettings {
  rules: RuleThresholds;
  area: ServiceArea;
}

export interface Outcome {
  alerts: AlertEvent[];
  skipped?: Skip;
}

export function applyInput(car: CarState, input: Input, settings: EngineSettings): Outcome {
  const alerts: AlertEvent[] = [];
  const refreshMs = settings.rules.refreshSeconds * 1000;
  const apply = (rule: RuleName, verdict: Verdict | undefined) => {
    const out = applyVerdict(car, input.carId, rule, verdict, input.ts, input.eventId, refreshMs);
    if (out) alerts.push(out);
  };
  switch (input.kind) {
    case 'telemetry': {
      if (input.late) return { alerts, skipped: 'late' };
      if (input.ts <= car.ts) return { alerts, skipped: input.ts === car.ts ? 'duplicate' : 'stale' };
      car.ts = input.ts;
      car.plugged = input.stationId;
      const th = settings.rules;
      apply('battery_low', batteryVerdict(input, car.active.battery_low, th));
      apply('overspeed', overspeedVerdict(input, car.memory, th));
      apply('charging_stalled', chargingStalledVerdict(input, car.memory, th));
      apply('outside_service_area', serviceAreaVerdict(input, settings.area, th));
      apply('offline', offlineTelemetryVerdict(input, car));
      apply('booking_no_show', noShowTelemetryVerdict(input, car));
      return { alerts };
    }
    case 'presence': {
      if (car.ids.includes(input.eventId)) return { alerts, skipped: 'duplicate' };
      if (input.ts < car.presenceTs) return { alerts, skipped: 'stale' };
      remember(car, input.eventId);
      car.presenceTs = input.ts;
      apply('offline', offlinePresenceVerdict(input, car, settings.rules));
      return { alerts };
    }
    case 'booking_expired': {
      if (car.ids.includes(input.eventId)) return { alerts, skipped: 'duplicate' };
      remember(car, input.eventId);
      apply('booking_no_show', noShowBookingVerdict(input, car, settings.rules));
      return { alerts };
    }
  }
}

function remember(car: CarState, id: string): void {
  car.ids.push(id);
  if (car.ids.length > RECENT_IDS) car.ids.splice(0, car.ids.length - RECENT_IDS);
}

/** Runs a batch over the cars' states (created when missing); returns every alert event in order and the skips. */
export function applyBatch(states: Map<string, CarState>, inputs: Input[], settings: EngineSettings): { alerts: AlertEvent[]; skipped: Record<Skip, number>; touched: Set<string> } {
  const alerts: AlertEvent[] = [];
  const skipped: Record<Skip, number> = { late: 0, stale: 0, duplicate: 0 };
  const touched = new Set<string>();
  for (const input of inputs) {
    let car = states.get(input.carId);
    if (car === undefined) {
      car = newCarState();
      states.set(input.carId, car);
    }
    const outcome = applyInput(car, input, settings);
    if (outcome.skipped) skipped[outcome.skipped]++;
    else touched.add(input.carId);
    alerts.push(...outcome.alerts);
  }
  return { alerts, skipped, touched };
}
