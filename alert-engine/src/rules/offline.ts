/**
 * offline: raised by `car_offline` (the ingestion's presence), cleared by `car_online` or by a
 * telemetry event newer (car's timestamp) than the offline event's `last_seen`. An offline event
 * about a car whose newest telemetry is newer than that `last_seen` by more than `offlineSlackMs`
 * (it reconnected elsewhere before the offline was published) raises nothing. The ingestion's
 * `last_seen` is its clock when it last reported hearing the car (once per PRESENCE_FLUSH_MS; null
 * when unknown: the event's own timestamp is used), so an instance killed between two reports had
 * acknowledged messages newer than it: within the slack they are that instance's, not a
 * reconnection (the fault run found every silenced car of a killed instance left without an
 * alert). Car clocks are taken to be close to the servers'.
 */
import type { RuleThresholds } from '../config.js';
import type { CarState, Presence, Telemetry, Verdict } from '../types.js';

export function offlinePresenceVerdict(p: Presence, car: CarState, th: Pick<RuleThresholds, 'offlineSlackMs'>): Verdict {
  const values = { instance: p.instance ?? null, reason: p.reason ?? null, ...(p.lastSeen !== undefined ? { last_seen: p.lastSeen } : {}), ...(p.heldBy !== undefined ? { held_by: p.heldBy } : {}) };
  if (p.online) {
    delete car.memory.offline;
    return { holds: false, values };
  }
  const lastSeen = p.lastSeen ?? p.ts;
  if (car.ts > lastSeen + th.offlineSlackMs) return { holds: false, values: { ...values, newer_telemetry: car.ts } };
  car.memory.offline = { lastSeen };
  return { holds: true, severity: 'warning', values };
}

export function offlineTelemetryVerdict(t: Telemetry, car: CarState): Verdict | undefined {
  const state = car.memory.offline;
  if (state === undefined || t.ts <= state.lastSeen) return undefined;
  delete car.memory.offline;
  return { holds: false, values: { reason: 'telemetry after offline', timestamp: t.ts } };
}
