/** The CLI's options: flags, else environment, else defaults; a bad value names its source. */
import { ConfigError, DEFAULTS, TOPICS, envHostPortList, envString, type Flags } from '@greenlane/common';
import type { EventFilter } from './filter.js';

export interface CliOptions {
  brokers: string[];
  topic: string;
  /** Operators' commands and every change of their status. */
  commandsTopic: string;
  /** Alert events from the alert engine. */
  alertsTopic: string;
  fromBeginning: boolean;
  filter: EventFilter;
  json: boolean;
  maxLinesPerSec: number;
  utc: boolean;
}

/** Where the command API writes every change of a command's status (key = car id). */
export const FLEET_COMMANDS_TOPIC = 'fleet-commands';

/** Where the alert engine writes every alert's raise, refresh, clear and acknowledgement (key = car id). */
export const FLEET_ALERTS_TOPIC = 'fleet-alerts';

export const FLAG_OPTIONS = {
  'from-beginning': { type: 'boolean' },
  car: { type: 'string' },
  'battery-below': { type: 'string' },
  'alerts-only': { type: 'boolean' },
  'bookings-only': { type: 'boolean' },
  connections: { type: 'boolean' },
  json: { type: 'boolean' },
  'max-lines': { type: 'string' },
  utc: { type: 'boolean' },
} as const;

export const USAGE = {
  summary:
    'Live tail of the fleet events, alerts and operators\' commands: one line per event; alerts, presence changes and command statuses always shown. ' +
    'The `command` subcommand sends a command to a car and waits for its outcome.',
  usage: 'npm start -w liveops-cli -- [flags]   |   npm start -w liveops-cli -- command CAR-ID TYPE [flags] (command --help)',
  options: [
    ['--from-beginning', 'replay the topic from its start (default: from now)'],
    ['--car IDS', 'only these cars, comma-separated (CAR-001,CAR-002)'],
    ['--battery-below N', 'only events with a battery level below N %'],
    ['--alerts-only', 'only alerts: every alert event (raised, refreshed, cleared, acknowledged), presence changes (online, offline) and critical batteries (below 15 %)'],
    ['--bookings-only', 'only booking events (no telemetry, commands, alerts or presence)'],
    ['--connections', 'show car_connected / car_disconnected too (every stream start and end; noisy)'],
    ['--json', 'one raw JSON event per line, every matching event (for piping)'],
    ['--max-lines N', 'ordinary lines shown per second at most; the rest is sampled [LIVEOPS_MAX_LINES, 25]'],
    ['--utc', 'times in UTC (default: local time)'],
    ['command CAR-ID TYPE ...', 'send a command (emergency-stop, resume, reroute, ...) to a car and wait for its outcome: `command --help`'],
  ] as Array<[string, string]>,
  environment: [
    ['KAFKA_BROKERS', `bootstrap brokers [${DEFAULTS.KAFKA_BROKERS}]`],
    ['FLEET_EVENTS_TOPIC', `topic to tail [${TOPICS.FLEET_EVENTS}]`],
    ['FLEET_COMMANDS_TOPIC', `commands topic, tailed too once it exists [${FLEET_COMMANDS_TOPIC}]`],
    ['FLEET_ALERTS_TOPIC', `alerts topic, tailed too once it exists [${FLEET_ALERTS_TOPIC}]`],
    ['LIVEOPS_MAX_LINES', 'as --max-lines [25]'],
    ['COMMAND_API_URL, OPERATOR_TOKEN', 'the command subcommand: the command API [http://127.0.0.1:8091] and the operator token [the development token]'],
    ['NO_COLOR', 'set (any value) for no colors; colors are also off when output is not a terminal'],
  ] as Array<[string, string]>,
};

type Env = Record<string, string | undefined>;

function positiveNumber(raw: string | undefined, name: string, fallback: number | undefined): number | undefined {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(name, raw, 'a positive number');
  return value;
}

export function parseOptions(flags: Flags, env: Env): CliOptions {
  const carFlag = typeof flags.car === 'string' ? flags.car : '';
  const cars = new Set(carFlag.split(',').map((s) => s.trim()).filter((s) => s !== ''));
  if (typeof flags.car === 'string' && cars.size === 0) throw new ConfigError('--car', carFlag, 'car ids, comma-separated');
  const batteryFlag = typeof flags['battery-below'] === 'string' ? flags['battery-below'] : undefined;
  const maxLinesFlag = typeof flags['max-lines'] === 'string' ? flags['max-lines'] : undefined;
  return {
    brokers: envHostPortList(env, 'KAFKA_BROKERS', DEFAULTS.KAFKA_BROKERS),
    topic: envString(env, 'FLEET_EVENTS_TOPIC', TOPICS.FLEET_EVENTS),
    commandsTopic: envString(env, 'FLEET_COMMANDS_TOPIC', FLEET_COMMANDS_TOPIC),
    alertsTopic: envString(env, 'FLEET_ALERTS_TOPIC', FLEET_ALERTS_TOPIC),
    fromBeginning: flags['from-beginning'] === true,
    filter: {
      cars,
      batteryBelow: positiveNumber(batteryFlag, '--battery-below', undefined),
      alertsOnly: flags['alerts-only'] === true,
      bookingsOnly: flags['bookings-only'] === true,
      connections: flags.connections === true,
    },
    json: flags.json === true,
    maxLinesPerSec:
      maxLinesFlag !== undefined
        ? positiveNumber(maxLinesFlag, '--max-lines', 25)!
        : positiveNumber(env.LIVEOPS_MAX_LINES, 'LIVEOPS_MAX_LINES', 25)!,
    utc: flags.utc === true,
  };
}
