/**
 * The live index of the fleet in Redis: `GEOADD fleet:locations` and `HSET car:{id}` (CONTRACTS.md).
 * The updates of a batch (every stream's messages of one event-loop turn) go in one pipeline, so
 * the hot path never pays a network round trip per command. Within a batch the newest update of a
 * car wins.
 */
import type { RedisClient } from '@greenlane/common';
import type { CarStatus } from '@greenlane/common/gen/fleet/fleet';

export const LOCATIONS_KEY = 'fleet:locations';
export const carKey = (carId: string): string => `car:${carId}`;

function carFields(s: CarStatus): string[] {
  return [
    'battery', String(s.batteryLevel),
    'velocity', String(s.velocity),
    'timestamp', String(s.timestamp),
    'latitude', String(s.latitude),
    'longitude', String(s.longitude),
    // Always written, empty when not plugged in, so the hash never shows a stay that has ended.
    'station_id', s.stationId,
    'charging', s.charging ? '1' : '0',
    'charge_energy_kwh', String(s.chargeEnergyKwh),
    'plugged_in_at', String(s.pluggedInAt),
  ];
}

/**
 * Writes one batch of updates as a single pipeline: one GEOADD with every car of the batch and
 * one HSET per car. Resolves when Redis has applied all of it.
 */
export function writeFleetIndex(redis: RedisClient, statuses: readonly CarStatus[]): Promise<void> {
  const latest = new Map<string, CarStatus>();
  for (const status of statuses) latest.set(status.carId, status);
  const multi = redis.multi();
  const geo: string[] = ['GEOADD', LOCATIONS_KEY];
  for (const [carId, s] of latest) {
    geo.push(String(s.longitude), String(s.latitude), carId);
    multi.addCommand(['HSET', carKey(carId), ...carFields(s)]);
  }
  multi.addCommand(geo);
  return multi.execAsPipeline().then(() => undefined);
}
