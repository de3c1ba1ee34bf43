/**
 * charging_stalled: plugged in (station_id set) and charging, and the meter (charge_energy_kwh)
 * has not risen for ALERT_STALL_MINUTES (5) by the car's timestamps. A stay is named by station and
 * plugged_in_at: a new stay starts the count again. Cleared by the meter rising, by charging
 * stopping (a full battery) or by unplugging.
 */
import type { RuleThresholds } from '../config.js';
import type { RuleMemory, Telemetry, Verdict } from '../types.js';

export function chargingStalledVerdict(t: Telemetry, memory: RuleMemory, th: RuleThresholds): Verdict | undefined {
  if (t.stationId === undefined || !t.charging || t.energyKwh === undefined) {
    delete memory.charging_stalled;
    return { holds: false, values: { station_id: t.stationId ?? null, charging: t.charging } };
  }
  const stay = `${t.stationId}|${t.pluggedInAt ?? ''}`;
  const state = memory.charging_stalled;
  if (state === undefined || state.stay !== stay) {
    memory.charging_stalled = { stay, meter: t.energyKwh, since: t.ts };
    return { holds: false, values: { station_id: t.stationId, meter_kwh: t.energyKwh, new_stay: true } };
  }
  if (t.energyKwh > state.meter) {
    state.meter = t.energyKwh;
    state.since = t.ts;
    return { holds: false, values: { station_id: t.stationId, meter_kwh: t.energyKwh } };
  }
  const stalledMs = t.ts - state.since;
  if (stalledMs < th.stallMinutes * 60_000) return undefined;
  return { holds: true, severity: 'warning', values: { station_id: t.stationId, meter_kwh: state.meter, stalled_s: stalledMs / 1000, since: state.since } };
}
