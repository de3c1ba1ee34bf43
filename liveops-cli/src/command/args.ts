/**
 * `command CAR-042 emergency-stop [--lat N --lon N] [--station ID] [--ttl-ms N] [--timeout-ms N]
 * [--api URL] [--token T]`: the words into a request for the command API. A usage error (exit 2)
 * is a UsageError naming what is wrong; nothing is sent then.
 */
import { parseArgs } from 'node:util';
import { COMMAND_TYPES, type CommandTypeName } from '@greenlane/common/commands';
import { DEVELOPMENT_OPERATOR_TOKEN } from '@greenlane/common/operator-auth';

export const DEFAULT_COMMAND_API_URL = 'http://127.0.0.1:8091';

export class UsageError extends Error {}

export interface CommandRequest {
  carId: string;
  type: CommandTypeName;
  latitude?: number;
  longitude?: number;
  stationId?: string;
  ttlMs?: number;
  timeoutMs?: number;
  /** The API's base URL, without a trailing slash. */
  apiUrl: string;
  token: string;
  /** Print JSON lines (the command records) instead of text. */
  json: boolean;
  utc: boolean;
}

export const COMMAND_USAGE = `Sends an operator's command to one car through the command API and waits for its outcome.

Usage: npm start -w liveops-cli -- command CAR-ID TYPE [flags]

TYPE (kebab, snake or upper case: emergency-stop, emergency_stop, EMERGENCY_STOP):
  emergency-stop                 velocity 0 at once, and stay stopped until resume
  resume
  return-to-base --lat N --lon N drive to the point
  reroute --lat N --lon N        drive to the point
  start-charging --station ID    at the station the car is plugged in at
  stop-charging --station ID

Options:
  --lat N, --lon N   where to drive (return-to-base, reroute)
  --station ID       the station the car is plugged in at (start-charging, stop-charging)
  --ttl-ms N         the command expires if not delivered within N ms [the API's default for the type]
  --timeout-ms N     the car must answer within N ms of delivery [the API's default]
  --api URL          the command API [COMMAND_API_URL, ${DEFAULT_COMMAND_API_URL}]
  --token T          operator token [OPERATOR_TOKEN, the development operator token]
  --json             print each command record the API returns as one JSON line
  --utc              times in UTC (default: local time)

Prints one line per status change it learns (QUEUED, SENT, DELIVERED, ...) and a final outcome line.
Exit status: 0 SUCCEEDED; 1 FAILED, TIMED_OUT or EXPIRED; 2 a usage error; 3 the API refused the
command (its error is printed) or could not be reached.
`;

/** emergency-stop, emergency_stop, Emergency-Stop → EMERGENCY_STOP; undefined when it is no command type. */
export function normalizeType(word: string): CommandTypeName | undefined {
  const upper = word.trim().replace(/[-\s]+/g, '_').toUpperCase();
  return (COMMAND_TYPES as readonly string[]).includes(upper) ? (upper as CommandTypeName) : undefined;
}

function number(raw: string | undefined, flag: string, integer: boolean): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || (integer && (!Number.isInteger(value) || value <= 0))) {
    throw new UsageError(`${flag} ${JSON.stringify(raw)}: expected ${integer ? 'a positive whole number of milliseconds' : 'a number'}`);
  }
  return value;
}

type Env = Record<string, string | undefined>;

const NUMERIC_FLAGS = new Set(['--lat', '--lon', '--ttl-ms', '--timeout-ms']);

/** `--lon -73.98` → `--lon=-73.98`: a negative number after a numeric flag is its value, not a flag. */
export function joinNegativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    const next = argv[i + 1];
    if (NUMERIC_FLAGS.has(word) && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${word}=${next}`);
      i += 1;
    } else {
      out.push(word);
    }
  }
  return out;
}

/** The subcommand's words (after `command`) into a request; `help` when --help was asked. */
export function parseCommandArgs(argv: string[], env: Env): CommandRequest | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv),
      options: {
        lat: { type: 'string' },
        lon: { type: 'string' },
        station: { type: 'string' },
        'ttl-ms': { type: 'string' },
        'timeout-ms': { type: 'string' },
        api: { type: 'string' },
        token: { type: 'string' },
        json: { type: 'boolean' },
        utc: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const v = parsed.values;
  if (v.help === true) return 'help';
  const [carId, typeWord, ...extra] = parsed.positionals;
  if (carId === undefined || typeWord === undefined) throw new UsageError('expected a car id and a command type: command CAR-042 emergency-stop');
  if (extra.length > 0) throw new UsageError(`unexpected ${JSON.stringify(extra.join(' '))} after the command type`);
  const type = normalizeType(typeWord);
  if (type === undefined) {
    throw new UsageError(`unknown command type ${JSON.stringify(typeWord)}: one of ${COMMAND_TYPES.map((t) => t.toLowerCase().replace(/_/g, '-')).join(', ')}`);
  }
  const request: CommandRequest = {
    carId: carId.trim(),
    type,
    apiUrl: (v.api ?? env.COMMAND_API_URL ?? DEFAULT_COMMAND_API_URL).trim().replace(/\/+$/, ''),
    token: v.token ?? (env.OPERATOR_TOKEN?.trim() || DEVELOPMENT_OPERATOR_TOKEN),
    json: v.json === true,
    utc: v.utc === true,
  };
  if (request.carId === '') throw new UsageError('the car id is empty');
  try {
    new URL(request.apiUrl);
  } catch {
    throw new UsageError(`--api / COMMAND_API_URL ${JSON.stringify(request.apiUrl)}: expected a URL like ${DEFAULT_COMMAND_API_URL}`);
  }
  const latitude = number(v.lat, '--lat', false);
  const longitude = number(v.lon, '--lon', false);
  const ttlMs = number(v['ttl-ms'], '--ttl-ms', true);
  const timeoutMs = number(v['timeout-ms'], '--timeout-ms', true);
  if (type === 'REROUTE' || type === 'RETURN_TO_BASE') {
    if (latitude === undefined || longitude === undefined) throw new UsageError(`${typeWord} needs the point to drive to: --lat N --lon N`);
    request.latitude = latitude;
    request.longitude = longitude;
  } else if (latitude !== undefined || longitude !== undefined) {
    throw new UsageError(`--lat and --lon are for reroute and return-to-base, not ${typeWord}`);
  }
  if (type === 'START_CHARGING' || type === 'STOP_CHARGING') {
    if (v.station === undefined || v.station.trim() === '') throw new UsageError(`${typeWord} needs the station the car is plugged in at: --station ID`);
    request.stationId = v.station.trim();
  } else if (v.station !== undefined) {
    throw new UsageError(`--station is for start-charging and stop-charging, not ${typeWord}`);
  }
  if (ttlMs !== undefined) request.ttlMs = ttlMs;
  if (timeoutMs !== undefined) request.timeoutMs = timeoutMs;
  return request;
}

/** The POST body the API documents. */
export function requestBody(r: CommandRequest): Record<string, unknown> {
  const body: Record<string, unknown> = { type: r.type };
  if (r.latitude !== undefined) body.latitude = r.latitude;
  if (r.longitude !== undefined) body.longitude = r.longitude;
  if (r.stationId !== undefined) body.station_id = r.stationId;
  if (r.ttlMs !== undefined) body.ttl_ms = r.ttlMs;
  if (r.timeoutMs !== undefined) body.timeout_ms = r.timeoutMs;
  return body;
}
