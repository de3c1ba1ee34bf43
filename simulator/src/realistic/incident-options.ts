/**
 * The incident flags of realistic mode (realistic/incidents.ts), each from its flag, else its
 * variable, else a default; a bad value throws ConfigError naming where it came from.
 *
 *   --incidents on|off           SIM_INCIDENTS        on in realistic mode, except a run with --acked-log
 *   --incident-mix speed=3,...   SIM_INCIDENT_MIX     cars per kind (speed, drop, vanish, stall)
 *   --stall-duration DUR         SIM_STALL_DURATION   how long a stalled charger holds the meter [6m]
 *   --incident-every DUR         SIM_INCIDENT_EVERY   a speeder's (dropper's) next episode after X to 2X [3m]
 *
 * Why not with --acked-log: a run that logs its acks is under a checker (the fault runs of chaos/),
 * whose expectations are about plain cars; `--incidents on` there asks for them anyway.
 */
import { ConfigError, type Flags } from '@greenlane/common';
import { defaultIncidentConfig, type IncidentConfig, type IncidentKind, type IncidentMix } from './incidents.js';

export const INCIDENT_FLAGS = {
  incidents: { type: 'string' },
  'incident-mix': { type: 'string' },
  'stall-duration': { type: 'string' },
  'incident-every': { type: 'string' },
} as const;

export const INCIDENT_USAGE: Array<[string, string]> = [
  ['--incidents on|off', 'realistic: a few cars speed (105–130 km/h for 15–30 s), drop their stream and come back (8–20 s), vanish for good, or stall at a charger (meter not rising) [SIM_INCIDENTS; on, off with --acked-log]'],
  ['--incident-mix LIST', 'cars per incident, e.g. speed=3,drop=2,vanish=1,stall=1 (kinds left out keep their default) [SIM_INCIDENT_MIX; speed 1 per 100 cars, drop 1 per 150, vanish 1, stall 1 per 300, each at least 1]'],
  ['--stall-duration DUR', 'how long a stalled charger holds the meter (the alert engine\'s default threshold is 5 min) [SIM_STALL_DURATION, 6m]'],
  ['--incident-every DUR', 'a speeding car (a dropping one) does it again after DUR to 2×DUR [SIM_INCIDENT_EVERY, 3m]'],
];

type Env = Record<string, string | undefined>;

function pick(flags: Flags, flag: string, env: Env, variable: string): { value: string | undefined; name: string } {
  const fromFlag = flags[flag];
  if (typeof fromFlag === 'string') return { value: fromFlag.trim(), name: `--${flag}` };
  const fromEnv = env[variable]?.trim();
  return { value: fromEnv === undefined || fromEnv === '' ? undefined : fromEnv, name: variable };
}

/** "90s", "6m", "500ms", or bare seconds (as options.ts reads durations; not imported from there, which imports this). */
function parseDurationMs(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

function durationMs(flags: Flags, flag: string, env: Env, variable: string, fallback: number, minMs: number): number {
  const { value, name } = pick(flags, flag, env, variable);
  if (value === undefined) return fallback;
  const ms = parseDurationMs(value);
  if (ms === undefined || ms < minMs) throw new ConfigError(name, value, `a duration like 90s or 6m, at least ${minMs / 1000} s`);
  return ms;
}

const KINDS: readonly IncidentKind[] = ['speed', 'drop', 'vanish', 'stall'];

/** "speed=3,drop=2": the kinds given replace the default's. */
export function parseMix(text: string, name: string, base: IncidentMix): IncidentMix {
  const mix = { ...base };
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const match = /^(\w+)\s*=\s*(\d+)$/.exec(part);
    const kind = match?.[1] as IncidentKind | undefined;
    if (!match || kind === undefined || !KINDS.includes(kind) || Number(match[2]) > 10_000) {
      throw new ConfigError(name, text, 'kind=count pairs, comma-separated, kinds speed, drop, vanish, stall (e.g. speed=3,vanish=0)');
    }
    mix[kind] = Number(match[2]);
  }
  return mix;
}

/** The incidents of this run, or undefined for none. */
export function parseIncidents(flags: Flags, env: Env, run: { load: boolean; cars: number; intervalMs: number; ackedLog: string | undefined }): IncidentConfig | undefined {
  const switch_ = pick(flags, 'incidents', env, 'SIM_INCIDENTS');
  const raw = switch_.value?.toLowerCase();
  let on: boolean;
  if (raw === undefined) on = !run.load && run.ackedLog === undefined;
  else if (['on', '1', 'true', 'yes'].includes(raw)) on = true;
  else if (['off', '0', 'false', 'no'].includes(raw)) on = false;
  else throw new ConfigError(switch_.name, switch_.value ?? '', 'on or off');
  if (on && run.load) throw new ConfigError(switch_.name, switch_.value ?? '', 'off in load mode (incidents are realistic mode\'s)');
  if (!on) return undefined;
  const config = defaultIncidentConfig(run.cars, run.intervalMs);
  const mix = pick(flags, 'incident-mix', env, 'SIM_INCIDENT_MIX');
  if (mix.value !== undefined) config.mix = parseMix(mix.value, mix.name, config.mix);
  config.stallMs = durationMs(flags, 'stall-duration', env, 'SIM_STALL_DURATION', config.stallMs, 1_000);
  const every = durationMs(flags, 'incident-every', env, 'SIM_INCIDENT_EVERY', config.repeatMs.min, 1_000);
  config.repeatMs = { min: every, max: 2 * every };
  return config;
}
