/**
 * An operator's command request, checked field by field: the first fault is the 400's message,
 * naming the field, the value and the rule.
 */
import { COMMAND_TYPES, type CommandTypeName } from '@greenlane/common';

/** How long a command may wait for its car by default: a safety stop is stale fast, a route is not. */
export const DEFAULT_TTL_MS: Record<CommandTypeName, number> = {
  EMERGENCY_STOP: 30_000,
  RESUME: 60_000,
  RETURN_TO_BASE: 600_000,
  REROUTE: 600_000,
  START_CHARGING: 300_000,
  STOP_CHARGING: 300_000,
};
export const MAX_TTL_MS = 24 * 3600 * 1000;

/** Ids the ingestion accepts (validate.ts): safe in Redis keys, Kafka keys and URLs. */
export const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export interface CommandRequest {
  type: CommandTypeName;
  ttlMs: number;
  timeoutMs: number;
  latitude?: number;
  longitude?: number;
  station_id?: string;
}

export class RequestError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

const NEEDS_POINT: ReadonlySet<CommandTypeName> = new Set(['RETURN_TO_BASE', 'REROUTE']);
const NEEDS_STATION: ReadonlySet<CommandTypeName> = new Set(['START_CHARGING', 'STOP_CHARGING']);
const KNOWN_FIELDS = new Set(['type', 'latitude', 'longitude', 'station_id', 'ttl_ms', 'timeout_ms']);

/** `emergency-stop`, `emergency_stop`, `EMERGENCY_STOP` all name EMERGENCY_STOP. */
export function commandTypeOf(name: string): CommandTypeName | undefined {
  const normal = name.trim().toUpperCase().replace(/-/g, '_');
  return (COMMAND_TYPES as readonly string[]).includes(normal) ? (normal as CommandTypeName) : undefined;
}

function integerIn(body: Record<string, unknown>, field: string, min: number, max: number): number | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RequestError(field, `invalid ${field}=${JSON.stringify(value)}: must be an integer from ${min} to ${max}`);
  }
  return value;
}

function numberIn(body: Record<string, unknown>, field: string, min: number, max: number): number | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new RequestError(field, `invalid ${field}=${JSON.stringify(value)}: must be a number from ${min} to ${max}`);
  }
  return value;
}

/** The request body (already JSON-parsed) as a command request, or a RequestError. */
export function parseCommandRequest(body: unknown, defaultTimeoutMs: number): CommandRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RequestError('body', 'the body must be a JSON object');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (!KNOWN_FIELDS.has(key)) throw new RequestError(key, `unknown field ${JSON.stringify(key)}: the fields are ${[...KNOWN_FIELDS].join(', ')}`);
  }
  if (typeof b.type !== 'string') throw new RequestError('type', `missing type: one of ${COMMAND_TYPES.join(', ')}`);
  const type = commandTypeOf(b.type);
  if (type === undefined) throw new RequestError('type', `unknown type ${JSON.stringify(b.type)}: one of ${COMMAND_TYPES.join(', ')}`);

  const request: CommandRequest = {
    type,
    ttlMs: integerIn(b, 'ttl_ms', 100, MAX_TTL_MS) ?? DEFAULT_TTL_MS[type],
    timeoutMs: integerIn(b, 'timeout_ms', 100, 3_600_000) ?? defaultTimeoutMs,
  };
  const latitude = numberIn(b, 'latitude', -85.05112878, 85.05112878);
  const longitude = numberIn(b, 'longitude', -180, 180);
  if (NEEDS_POINT.has(type)) {
    if (latitude === undefined) throw new RequestError('latitude', `missing latitude: ${type} drives to a point (latitude, longitude)`);
    if (longitude === undefined) throw new RequestError('longitude', `missing longitude: ${type} drives to a point (latitude, longitude)`);
    if (latitude === 0 && longitude === 0) throw new RequestError('latitude', 'invalid latitude,longitude=0,0: position not set');
    request.latitude = latitude;
    request.longitude = longitude;
  } else if (latitude !== undefined || longitude !== undefined) {
    throw new RequestError(latitude !== undefined ? 'latitude' : 'longitude', `${type} takes no point (only RETURN_TO_BASE and REROUTE do)`);
  }
  const station = b.station_id;
  if (NEEDS_STATION.has(type)) {
    if (typeof station !== 'string' || !ID_PATTERN.test(station)) {
      throw new RequestError('station_id', `${station === undefined ? 'missing' : `invalid ${JSON.stringify(station)}:`} station_id: ${type} needs the station the car is plugged in at (letters, digits, "-_.", at most 64)`);
    }
    request.station_id = station;
  } else if (station !== undefined) {
    throw new RequestError('station_id', `${type} takes no station_id (only START_CHARGING and STOP_CHARGING do)`);
  }
  return request;
}
