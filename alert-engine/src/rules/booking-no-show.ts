/**
 * booking_no_show: `booking_expired` (the slot was held and not used) raises it unless the car's
 * newest telemetry has it plugged in at that very station. It clears when the car next plugs in
 * (any station), or by itself on the car's first telemetry ALERT_NO_SHOW_CLEAR_MINUTES (30) or
 * more after the expiry: nothing is left to do by then. A second expiry while active refreshes it.
 */
import type { RuleThresholds } from '../config.js';
import type { BookingExpired, CarState, Telemetry, Verdict } from '../types.js';

export function noShowBookingVerdict(e: BookingExpired, car: CarState, th: RuleThresholds): Verdict | undefined {
  if (e.stationId !== '' && car.plugged === e.stationId) return undefined;
  car.memory.booking_no_show = { until: e.ts + th.noShowClearMinutes * 60_000 };
  return { holds: true, severity: 'warning', values: { booking_id: e.bookingId, station_id: e.stationId, expired_at: e.ts } };
}

export function noShowTelemetryVerdict(t: Telemetry, car: CarState): Verdict | undefined {
  const state = car.memory.booking_no_show;
  if (state === undefined) return undefined;
  if (t.stationId !== undefined) {
    delete car.memory.booking_no_show;
    return { holds: false, values: { reason: 'plugged in', station_id: t.stationId } };
  }
  if (t.ts >= state.until) {
    delete car.memory.booking_no_show;
    return { holds: false, values: { reason: 'timed out', timestamp: t.ts } };
  }
  return undefined;
}
