/**
 * One rule's verdict against the car's active alert of that rule → the transition, if any:
 *
 *   holds, none active        → alert_raised (a new alert id)
 *   holds, active             → alert_refreshed when the severity changed (at once) or when
 *                               ALERT_REFRESH_SECONDS (30) of event time have passed since the
 *                               last raised/refreshed event of that alert; otherwise nothing
 *   does not hold, active     → alert_cleared
 *   does not hold, none       → nothing
 *
 * Alert ids and event ids are derived from the car, the rule and the triggering instant, so a
 * replay computes the same ones (the table and consumers drop repeats by event id).
 */
import type { ActiveAlert, AlertEvent, CarState, RuleName, Verdict } from './types.js';

export function alertId(carId: string, rule: RuleName, at: number): string {
  return `${carId}.${rule}.${at}`;
}

export function applyVerdict(
  car: CarState,
  carId: string,
  rule: RuleName,
  verdict: Verdict | undefined,
  at: number,
  triggerEventId: string,
  refreshMs: number,
): AlertEvent | undefined {
  if (verdict === undefined) return undefined;
  const active = car.active[rule];
  if (verdict.holds) {
    if (active === undefined) {
      const id = alertId(carId, rule, at);
      car.active[rule] = { id, severity: verdict.severity, raisedAt: at, sentAt: at };
      return event('raised', id, carId, rule, verdict.severity, at, at, verdict.values, triggerEventId, `${id}:raised`);
    }
    const escalated = active.severity !== verdict.severity;
    if (!escalated && at - active.sentAt < refreshMs) return undefined;
    active.severity = verdict.severity;
    active.sentAt = at;
    return event('refreshed', active.id, carId, rule, verdict.severity, at, active.raisedAt, verdict.values, triggerEventId, `${active.id}:refreshed:${at}`);
  }
  if (active === undefined) return undefined;
  delete car.active[rule];
  return event('cleared', active.id, carId, rule, active.severity, at, active.raisedAt, verdict.values, triggerEventId, `${active.id}:cleared`);
}

function event(
  transition: 'raised' | 'refreshed' | 'cleared',
  id: string, carId: string, rule: RuleName, severity: ActiveAlert['severity'], at: number, raisedAt: number,
  values: Record<string, unknown>, trigger: string, eventId: string,
): AlertEvent {
  return { event_type: `alert_${transition}`, event_id: eventId, alert_id: id, car_id: carId, rule, severity, at, raised_at: raisedAt, values, trigger_event_id: trigger };
}
