/**
 * battery_low: ONE alert type whose severity escalates (decided so that an operator sees one alert
 * per low car, not a warning and a critical side by side): warning below ALERT_BATTERY_LOW_PCT (20),
 * critical below ALERT_BATTERY_CRITICAL_PCT (15). Hysteresis: once raised it clears only at
 * low + ALERT_BATTERY_HYSTERESIS_PCT (21) or more, and a critical one falls back to warning only at
 * critical + hysteresis (16) or more, so a reading wobbling around a threshold does not flap.
 */
import type { RuleThresholds } from '../config.js';
import type { ActiveAlert, Telemetry, Verdict } from '../types.js';

export function batteryVerdict(t: Telemetry, active: ActiveAlert | undefined, th: RuleThresholds): Verdict {
  const b = t.battery;
  const values = { battery: b, low_pct: th.batteryLowPct, critical_pct: th.batteryCriticalPct };
  if (b < th.batteryCriticalPct) return { holds: true, severity: 'critical', values };
  if (active?.severity === 'critical' && b < th.batteryCriticalPct + th.batteryHysteresisPct) return { holds: true, severity: 'critical', values };
  if (b < th.batteryLowPct) return { holds: true, severity: 'warning', values };
  if (active !== undefined && b < th.batteryLowPct + th.batteryHysteresisPct) return { holds: true, severity: 'warning', values };
  return { holds: false, values };
}
