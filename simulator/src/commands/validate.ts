/**
 * The checks every car makes before it carries out an operator's command, the same in both modes:
 * for this car, not expired, a type it knows, and the parameters that type needs. Pure: the car's
 * id, where it is plugged in and the clock come in as arguments.
 */
import { CommandType, type VehicleCommand } from '@greenlane/common/gen/fleet/fleet';

const NAMES: Readonly<Record<number, string>> = {
  [CommandType.EMERGENCY_STOP]: 'EMERGENCY_STOP',
  [CommandType.RESUME]: 'RESUME',
  [CommandType.RETURN_TO_BASE]: 'RETURN_TO_BASE',
  [CommandType.REROUTE]: 'REROUTE',
  [CommandType.START_CHARGING]: 'START_CHARGING',
  [CommandType.STOP_CHARGING]: 'STOP_CHARGING',
};

/** A type this simulator carries out (COMMAND_TYPE_UNKNOWN and numbers from a newer server are not). */
export function knownType(type: number): boolean {
  return NAMES[type] !== undefined;
}

/** The type's name as the API and the logs spell it; `UNKNOWN_<n>` for a type this car does not know. */
export function commandTypeName(type: number): string {
  return NAMES[type] ?? `UNKNOWN_${type}`;
}

/** What a car knows of itself when it judges a command. */
export interface CarContext {
  carId: string;
  /** The station it is plugged in at; undefined when it is not plugged in. */
  pluggedInAt: string | undefined;
}

/** Where REROUTE and RETURN_TO_BASE may send a car: what the live index (Redis GEO) can hold. */
export const MAX_COMMAND_LATITUDE = 85;

export function validCoordinates(latitude: number, longitude: number): boolean {
  return (
    Number.isFinite(latitude) &&
    Number.isFinite(longitude) &&
    Math.abs(latitude) <= MAX_COMMAND_LATITUDE &&
    Math.abs(longitude) <= 180 &&
    !(latitude === 0 && longitude === 0)
  );
}

/** Undefined when the car may carry the command out, else the reason it answers rejected. */
export function checkCommand(command: VehicleCommand, car: CarContext, now: number): string | undefined {
  if (command.carId !== car.carId) return `not for this car (for ${command.carId === '' ? 'no car' : command.carId}, this is ${car.carId})`;
  if (!(command.expiresAt > 0)) return 'expired (no expires_at)';
  if (now > command.expiresAt) return `expired ${now - command.expiresAt} ms ago`;
  if (!knownType(command.type)) return `unknown command type ${command.type}`;
  switch (command.type) {
    case CommandType.RETURN_TO_BASE:
    case CommandType.REROUTE:
      if (!validCoordinates(command.latitude, command.longitude)) {
        return `invalid coordinates (${command.latitude}, ${command.longitude}): latitude within ±${MAX_COMMAND_LATITUDE}, longitude within ±180, not both 0`;
      }
      return undefined;
    case CommandType.START_CHARGING:
    case CommandType.STOP_CHARGING:
      if (command.stationId === '') return 'station_id missing';
      if (car.pluggedInAt === undefined) return `not plugged in (at ${command.stationId} or anywhere)`;
      if (car.pluggedInAt !== command.stationId) return `not plugged in at ${command.stationId} (plugged in at ${car.pluggedInAt})`;
      return undefined;
    default:
      return undefined;
  }
}
