/** A VehicleCommand for tests: valid, for CAR-042, not expired at NOW. */
import { CommandType, type VehicleCommand } from '@greenlane/common/gen/fleet/fleet';

export const NOW = 1_700_000_000_000;

export function command(over: Partial<VehicleCommand> = {}): VehicleCommand {
  return {
    commandId: 'cmd-1',
    carId: 'CAR-042',
    type: CommandType.EMERGENCY_STOP,
    issuedAt: NOW - 100,
    expiresAt: NOW + 10_000,
    latitude: 0,
    longitude: 0,
    stationId: '',
    ...over,
  };
}

