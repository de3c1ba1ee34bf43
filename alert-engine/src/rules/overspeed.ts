/**
 * overspeed: velocity above ALERT_OVERSPEED_KMH (100) on every sample for at least
 * ALERT_OVERSPEED_SECONDS (10) by the car's own timestamps: the run starts at the first sample
 * above the limit, and the alert is raised by the first sample at least that long after it. One
 * noisy sample raises nothing; a sample at or below the limit ends the run and clears the alert.
 */
import type { RuleThresholds } from '../config.js';
import type { RuleMemory, Telemetry, Verdict } from '../types.js';

export function overspeedVerdict(t: Telemetry, memory: RuleMemory, th: RuleThresholds): Verdict | undefined {
  const limit = th.overspeedKmh;
  if (t.velocity <= limit) {
    const max = memory.overspeed?.max;
    delete memory.overspeed;
    return { holds: false, values: { velocity: t.velocity, limit_kmh: limit, ...(max !== undefined ? { max_kmh: max } : {}) } };
  }
  const run = memory.overspeed ?? { since: t.ts, max: t.velocity };
  run.max = Math.max(run.max, t.velocity);
  memory.overspeed = run;
  const heldMs = t.ts - run.since;
  if (heldMs < th.overspeedSeconds * 1000) return undefined;
  return { holds: true, severity: 'warning', values: { velocity: t.velocity, limit_kmh: limit, held_s: heldMs / 1000, since: run.since, max_kmh: run.max } };
}
