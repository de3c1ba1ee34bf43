/**
 * The rules a CarStatus must meet before anything is written for it. The answer to a bad one names
 * the field, the value and the rule, so the car's developer can fix it from the message alone.
 */
import { CommandOutcome, type CarStatus } from '@greenlane/common/gen/fleet/fleet';

export const LIMITS = {
  idMaxLength: 64,
  /** Letters, digits and `-_.`: safe in Redis keys, Kafka keys and log lines. */
  idPattern: /^[A-Za-z0-9_.-]+$/,
  maxVelocityKmh: 300,
  /** 2000-01-01T00:00:00Z: anything earlier is a clock or unit error (seconds instead of ms). */
  minTimestampMs: 946_684_800_000,
  /** How far ahead of this server's clock a car's clock may run. */
  maxFutureSkewMs: 24 * 3600 * 1000,
  maxChargeEnergyKwh: 1000,
  /**
   * Redis GEO (Web Mercator) holds no position nearer the poles than this, and refuses one. Such a
   * car is answered BOOKING_FAILED rather than stored without a position: an acknowledged car that
   * the booking search and every live view cannot see would be a silent partial loss, and no road
   * fleet drives beyond 85° anyway.
   */
  maxGeoLatitude: 85.05112878,
  /** A car's reason for rejecting a command: for an operator to read, not an essay. */
  reasonMaxLength: 500,
} as const;

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value) : String(value);
}

function invalid(field: string, value: unknown, rule: string): string {
  return `invalid ${field}=${show(value)}: ${rule}`;
}

function checkId(field: string, value: string, required: boolean): string | undefined {
  if (value === '') return required ? invalid(field, value, 'must not be empty') : undefined;
  if (value.length > LIMITS.idMaxLength) return invalid(field, value, `must be at most ${LIMITS.idMaxLength} characters`);
  if (!LIMITS.idPattern.test(value)) return invalid(field, value, 'may contain only letters, digits, "-", "_" and "."');
  return undefined;
}

function checkRange(field: string, value: number, min: number, max: number, unit = ''): string | undefined {
  if (!Number.isFinite(value) || value < min || value > max) {
    return invalid(field, value, `must be a number from ${min} to ${max}${unit}`);
  }
  return undefined;
}

function checkTimestamp(field: string, value: number, nowMs: number): string | undefined {
  if (!Number.isInteger(value) || value < LIMITS.minTimestampMs) {
    return invalid(field, value, 'must be unix epoch milliseconds after 2000-01-01');
  }
  if (value > nowMs + LIMITS.maxFutureSkewMs) {
    return invalid(field, value, `must not be more than ${LIMITS.maxFutureSkewMs / 3_600_000} h ahead of the server clock`);
  }
  return undefined;
}

/** Undefined when the status is valid, else the message for the BOOKING_FAILED answer. */
export function validateCarStatus(s: CarStatus, nowMs: number = Date.now()): string | undefined {
  const fault =
    checkId('car_id', s.carId, true) ??
    checkRange('latitude', s.latitude, -90, 90) ??
    checkRange('longitude', s.longitude, -180, 180) ??
    (Math.abs(s.latitude) > LIMITS.maxGeoLatitude
      ? invalid('latitude', s.latitude, `must be within ±${LIMITS.maxGeoLatitude}° (the live index, Redis GEO, holds no position nearer the poles)`)
      : undefined) ??
    (s.latitude === 0 && s.longitude === 0
      ? invalid('latitude,longitude', '0,0', 'position not set (both are 0)')
      : undefined) ??
    checkRange('battery_level', s.batteryLevel, 0, 100, ' percent') ??
    checkRange('velocity', s.velocity, 0, LIMITS.maxVelocityKmh, ' km/h') ??
    checkTimestamp('timestamp', s.timestamp, nowMs) ??
    checkId('station_id', s.stationId, false) ??
    checkRange('charge_energy_kwh', s.chargeEnergyKwh, 0, LIMITS.maxChargeEnergyKwh, ' kWh');
  if (fault !== undefined) return fault;

  // The GreenLane additions describe one charging stay, so they only make sense together.
  if (s.stationId === '') {
    if (s.charging) return invalid('charging', true, 'requires station_id (a car charges at a station)');
    if (s.chargeEnergyKwh !== 0) return invalid('charge_energy_kwh', s.chargeEnergyKwh, 'requires station_id');
    if (s.pluggedInAt !== 0) return invalid('plugged_in_at', s.pluggedInAt, 'requires station_id');
  } else {
    const stay = checkTimestamp('plugged_in_at', s.pluggedInAt, nowMs);
    if (stay !== undefined) return `${stay} (required when station_id is set)`;
    if (s.pluggedInAt > s.timestamp) return invalid('plugged_in_at', s.pluggedInAt, `must not be after timestamp ${s.timestamp}`);
  }

  const request = s.bookingRequest;
  if (request !== undefined) {
    if (request.carId !== '' && request.carId !== s.carId) {
      return invalid('booking_request.car_id', request.carId, `must be empty or equal car_id ${show(s.carId)}`);
    }
    const bad =
      checkId('booking_request.station_id', request.stationId, false) ??
      checkRange('booking_request.battery_level', request.batteryLevel, 0, 100, ' percent') ??
      (request.expectedArrival === 0 ? undefined : checkTimestamp('booking_request.expected_arrival', request.expectedArrival, nowMs));
    if (bad !== undefined) return bad;
  }

  const result = s.commandResult;
  if (result !== undefined) {
    const bad =
      checkId('command_result.command_id', result.commandId, true) ??
      (result.outcome !== CommandOutcome.COMMAND_ACCEPTED && result.outcome !== CommandOutcome.COMMAND_REJECTED
        ? invalid('command_result.outcome', result.outcome, 'must be COMMAND_ACCEPTED (1) or COMMAND_REJECTED (2)')
        : undefined) ??
      (result.reason.length > LIMITS.reasonMaxLength ? invalid('command_result.reason', result.reason, `must be at most ${LIMITS.reasonMaxLength} characters`) : undefined);
    if (bad !== undefined) return bad;
  }
  return undefined;
}
