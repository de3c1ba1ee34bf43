/**
 * The simulator's options: each from its flag, else its environment variable, else a default.
 * A bad value throws ConfigError naming the flag or variable it came from.
 */
import { availableParallelism } from 'node:os';
import { ConfigError, DEFAULTS, envHostPort, type Flags } from '@greenlane/common';
import { INCIDENT_FLAGS, INCIDENT_USAGE, parseIncidents } from './realistic/incident-options.js';
import type { IncidentConfig } from './realistic/incidents.js';
import { SECURITY_ENVIRONMENT, SECURITY_FLAGS, SECURITY_USAGE, parseSecurity, tokenGiven, type ClientTlsConfig, type JwtConfig } from './security-options.js';
import { carId } from './car/model.js';

export type Mode = 'realistic' | 'load';

export interface SimulatorOptions {
  mode: Mode;
  target: string;
  /**
   * The x-api-token every car sends; undefined = none (with a JWT and no --token/API_TOKEN given:
   * the default development token would only be noise beside it).
   */
  token: string | undefined;
  /** TLS (--tls-ca), with client certificates for mutual TLS; undefined = plaintext. */
  tls: ClientTlsConfig | undefined;
  /** Bearer tokens: one for all (--jwt) or minted per car (--jwt-key, --jwt-secret). */
  jwt: JwtConfig | undefined;
  cars: number;
  intervalMs: number;
  /** Total messages/s (load mode); undefined = as fast as acks allow. */
  rate: number | undefined;
  /** 0 = until Ctrl+C. */
  durationSec: number;
  /** Load mode: seconds run before the measured duration, their messages not counted. */
  warmupSec: number;
  inflight: number;
  channels: number;
  threads: number;
  seed: number;
  json: boolean;
  carPrefix: string;
  stationsFile: string | undefined;
  /** Realistic mode: file that gets one line per acknowledged CarStatus (for fault-injection checkers). */
  ackedLog: string | undefined;
  /** Load mode: declare the `commands` capability and answer commands (realistic cars always do). */
  commands: boolean;
  /** File that gets one JSON line per command carried out (for fault-injection checkers). */
  commandLog: string | undefined;
  /** Realistic mode: speeding, dropped streams, a vanished car, a stalled charger; undefined = none. */
  incidents: IncidentConfig | undefined;
}

export const FLAG_OPTIONS = {
  mode: { type: 'string' },
  target: { type: 'string' },
  token: { type: 'string' },
  cars: { type: 'string' },
  interval: { type: 'string' },
  rate: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  inflight: { type: 'string' },
  channels: { type: 'string' },
  threads: { type: 'string' },
  seed: { type: 'string' },
  'car-prefix': { type: 'string' },
  stations: { type: 'string' },
  'acked-log': { type: 'string' },
  commands: { type: 'boolean' },
  'command-log': { type: 'string' },
  json: { type: 'boolean' },
  ...INCIDENT_FLAGS,
  ...SECURITY_FLAGS,
} as const;

export const USAGE = {
  summary: 'Drives simulated cars through the ingestion service over gRPC: a realistic fleet (which obeys operators\' commands), or a load test.',
  usage: 'npm start -w simulator -- [--mode realistic|load] [flags]',
  options: [
    ['--mode realistic|load', 'realistic: cars drive, book, charge; load: as many messages as asked [SIM_MODE, realistic]'],
    ['--target HOST:PORT', 'ingestion gRPC address [INGESTION_TARGET, 127.0.0.1:50051]'],
    ['--token TOKEN', 'x-api-token sent by every car [API_TOKEN, greenlane-secret-token; with --jwt, --jwt-key or --jwt-secret: none unless given]'],
    ['--cars N', 'number of cars, one stream each [SIM_CARS, 10 realistic / 100 load]'],
    ['--interval DUR', 'time between a car\'s updates: 2s, 500ms, or bare milliseconds [SIM_INTERVAL, 2000]'],
    ['--duration DUR', 'how long to run: bare seconds, 30s, 5m; 0 = until Ctrl+C [SIM_DURATION, 0 realistic / 10 load]'],
    ['--warmup DUR', 'load: run this long before --duration starts; those messages are sent but not counted [SIM_WARMUP, 0]'],
    ['--rate R', 'load: total messages/s; unset = as fast as acks allow [SIM_RATE]'],
    ['--inflight K', 'load without --rate: unacknowledged messages per stream [SIM_INFLIGHT, 1]'],
    ['--channels C', 'load: gRPC connections the cars share [SIM_CHANNELS, 2 per thread]'],
    ['--threads T', 'load: worker threads generating [SIM_THREADS, CPU count up to 4]'],
    ['--seed N', 'seed of the random walk, for reproducible runs [SIM_SEED, random]'],
    ['--car-prefix P', 'car id prefix [SIM_CAR_PREFIX, CAR- realistic / LOAD- load]'],
    ['--stations FILE', 'realistic: JSON station registry for positions [SIM_STATIONS_FILE, ingestion/data/stations.json if present]'],
    ['--acked-log FILE', 'realistic: append "car_id timestamp acked_at_ms" per acknowledged CarStatus to FILE [SIM_ACKED_LOG]'],
    ['--commands', 'load: declare the commands capability and answer every valid operator command accepted (realistic cars always obey commands) [SIM_COMMANDS=1]'],
    ['--command-log FILE', 'append {"command_id","car_id","type","at"} per command carried out to FILE, one JSON line each [SIM_COMMAND_LOG]'],
    ...INCIDENT_USAGE,
    ...SECURITY_USAGE,
    ['--json', 'print one JSON summary line at the end (for scripts)'],
  ] as Array<[string, string]>,
  environment: [
    ['INGESTION_TARGET', 'ingestion gRPC address [127.0.0.1:50051]'],
    ['API_TOKEN', `token [${DEFAULTS.API_TOKEN}]`],
    ['SIM_MODE, SIM_CARS, SIM_INTERVAL, SIM_DURATION, SIM_WARMUP, SIM_RATE, SIM_INFLIGHT', 'as the flags'],
    ['SIM_CHANNELS, SIM_THREADS, SIM_SEED, SIM_CAR_PREFIX, SIM_STATIONS_FILE, SIM_ACKED_LOG', 'as the flags'],
    ['SIM_COMMANDS (1/true/0/false), SIM_COMMAND_LOG', 'as the flags'],
    ['SIM_INCIDENTS (on/off), SIM_INCIDENT_MIX, SIM_STALL_DURATION, SIM_INCIDENT_EVERY', 'as the flags'],
    ...SECURITY_ENVIRONMENT,
    ['LOG_LEVEL', 'log level (logs go to stderr) [info]'],
  ] as Array<[string, string]>,
};

type Env = Record<string, string | undefined>;

/** The raw value and the name to blame for it: the flag when given, else the variable. */
function pick(flags: Flags, flag: string, env: Env, variable: string): { value: string | undefined; name: string } {
  const fromFlag = flags[flag];
  if (typeof fromFlag === 'string') return { value: fromFlag.trim(), name: `--${flag}` };
  const fromEnv = env[variable];
  return { value: fromEnv === undefined || fromEnv.trim() === '' ? undefined : fromEnv.trim(), name: variable };
}

function integer(flags: Flags, flag: string, env: Env, variable: string, fallback: number, min: number, max: number): number {
  const { value, name } = pick(flags, flag, env, variable);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(name, value, `an integer from ${min} to ${max}`);
  return n;
}

/** A yes/no variable: 1/true/yes or 0/false/no (unset or empty = no). */
function flag01(env: Env, variable: string): boolean {
  const raw = env[variable]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return false;
  if (['1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  throw new ConfigError(variable, raw, '1 or 0 (true or false)');
}

type Unit = 'ms' | 's' | 'm' | 'h';

/** "2s", "500ms", "1.5m", or a bare number in `bareUnit`; returns milliseconds. */
export function parseDurationMs(text: string, bareUnit: Unit = 's'): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(text);
  if (!match) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? bareUnit) as Unit];
  return Number(match[1]) * unit;
}

function duration(flags: Flags, flag: string, env: Env, variable: string, fallbackMs: number, minMs: number, bareUnit: Unit): number {
  const { value, name } = pick(flags, flag, env, variable);
  if (value === undefined) return fallbackMs;
  const ms = parseDurationMs(value, bareUnit);
  if (ms === undefined || ms < minMs) throw new ConfigError(name, value, `a duration like 2s or 500ms, at least ${minMs} ms`);
  return ms;
}

export function parseOptions(flags: Flags, env: Env): SimulatorOptions {
  const modeRaw = pick(flags, 'mode', env, 'SIM_MODE');
  const mode = (modeRaw.value ?? 'realistic') as Mode;
  if (mode !== 'realistic' && mode !== 'load') throw new ConfigError(modeRaw.name, modeRaw.value ?? '', 'realistic or load');
  const load = mode === 'load';

  const target = pick(flags, 'target', env, 'INGESTION_TARGET');
  const token = pick(flags, 'token', env, 'API_TOKEN');
  const rate = pick(flags, 'rate', env, 'SIM_RATE');
  let rateValue: number | undefined;
  if (rate.value !== undefined) {
    rateValue = Number(rate.value);
    if (!Number.isFinite(rateValue) || rateValue <= 0) throw new ConfigError(rate.name, rate.value, 'a positive number of messages/s');
  }
  const threads = integer(flags, 'threads', env, 'SIM_THREADS', Math.min(4, availableParallelism()), 1, 64);
  const seedRaw = pick(flags, 'seed', env, 'SIM_SEED');
  const ackedLog = pick(flags, 'acked-log', env, 'SIM_ACKED_LOG');
  // Load mode generates in worker threads and keeps no per-message record; only realistic mode logs acks.
  if (ackedLog.value !== undefined && load) throw new ConfigError(ackedLog.name, ackedLog.value, 'a file, in realistic mode only');
  const commandLog = pick(flags, 'command-log', env, 'SIM_COMMAND_LOG');
  const commands = flags.commands === true || flag01(env, 'SIM_COMMANDS');
  // Load cars without --commands never declare the capability, so they never receive a command to log.
  if (commandLog.value !== undefined && load && !commands) throw new ConfigError(commandLog.name, commandLog.value, 'a file, with --commands in load mode');
  const seed = seedRaw.value === undefined ? Math.floor(Math.random() * 2 ** 31) : integer(flags, 'seed', env, 'SIM_SEED', 0, 0, 2 ** 32 - 1);

  const cars = integer(flags, 'cars', env, 'SIM_CARS', load ? 100 : 10, 1, 1_000_000);
  // A bare --interval is milliseconds (as DEMO_INTERVAL_MS passes it); a bare --duration is seconds.
  const intervalMs = duration(flags, 'interval', env, 'SIM_INTERVAL', 2_000, 1, 'ms');
  const carPrefix = pick(flags, 'car-prefix', env, 'SIM_CAR_PREFIX').value ?? (load ? 'LOAD-' : 'CAR-');
  // Car ids as both modes name them (a global index, whichever thread drives the car).
  const security = parseSecurity(flags, env, () => Array.from({ length: cars }, (_, i) => carId(i, carPrefix)));
  // With a JWT the development token is not sent by default: only an x-api-token asked for.
  const sendToken = security.jwt === undefined || tokenGiven(flags, env);

  return {
    mode,
    target: envHostPort({ [target.name]: target.value }, target.name, '127.0.0.1:50051'),
    token: sendToken ? (token.value ?? DEFAULTS.API_TOKEN) : undefined,
    tls: security.tls,
    jwt: security.jwt,
    cars,
    intervalMs,
    rate: rateValue,
    durationSec: duration(flags, 'duration', env, 'SIM_DURATION', load ? 10_000 : 0, 0, 's') / 1000,
    warmupSec: duration(flags, 'warmup', env, 'SIM_WARMUP', 0, 0, 's') / 1000,
    inflight: integer(flags, 'inflight', env, 'SIM_INFLIGHT', 1, 1, 100_000),
    channels: integer(flags, 'channels', env, 'SIM_CHANNELS', threads * 2, 1, 10_000),
    threads,
    seed,
    json: flags.json === true,
    carPrefix,
    stationsFile: pick(flags, 'stations', env, 'SIM_STATIONS_FILE').value,
    ackedLog: ackedLog.value,
    commands: load ? commands : true,
    commandLog: commandLog.value,
    incidents: parseIncidents(flags, env, { load, cars, intervalMs, ackedLog: ackedLog.value }),
  };
}
