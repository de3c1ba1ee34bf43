/** A stored command as the VehicleCommand the car receives. */
import type { CommandToDeliver } from '@greenlane/common';
import { CommandType, type VehicleCommand } from '@greenlane/common/gen/fleet/fleet';

export function toWire(c: CommandToDeliver): VehicleCommand {
  return {
    commandId: c.command_id,
    carId: c.car_id,
    type: CommandType[c.type],
    issuedAt: c.issued_at,
    expiresAt: c.expires_at,
    latitude: c.latitude ?? 0,
    longitude: c.longitude ?? 0,
    stationId: c.station_id ?? '',
  };
}
