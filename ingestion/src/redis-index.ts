/**
 * The live index of the fleet in Redis: `GEOADD fleet:locations` and `HSET car:{id}` (CONTRACTS.md).
 * Updates arriving in the same event-loop turn, from any stream, are written together: one GEOADD
 * carrying every car of the batch and one HSET per car, sent as one pipeline, so the hot path never
 * pays a network round trip per command. Within a batch the newest update of a car wins.
 */
import type { RedisClient } from '@greenlane/common';
import type { CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { deferred, type Deferred } from './deferred.js';

export const LOCATIONS_KEY = 'fleet:locations';
export const carKey = (carId: string): string => `car:${carId}`;

interface Batch extends Deferred {
  latest: Map<string, CarStatus>;
}

function newBatch(): Batch {
  return { latest: new Map(), ...deferred() };
}

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

export class RedisIndex {
  private batch: Batch | undefined;
  /** Pipelines written and their sizes, for the metrics and the benchmark. */
  pipelines = 0;

  constructor(private readonly redis: RedisClient) {}

  /** Resolves when Redis has applied this update (with the rest of its batch). */
  index(status: CarStatus): Promise<void> {
    let batch = this.batch;
    if (batch === undefined) {
      batch = this.batch = newBatch();
      setImmediate(() => this.flush());
    }
    batch.latest.set(status.carId, status);
    return batch.promise;
  }

  private flush(): void {
    const batch = this.batch;
    this.batch = undefined;
    if (batch === undefined) return;
    const multi = this.redis.multi();
    const geo: string[] = ['GEOADD', LOCATIONS_KEY];
    for (const [carId, s] of batch.latest) {
      geo.push(String(s.longitude), String(s.latitude), carId);
      multi.addCommand(['HSET', carKey(carId), ...carFields(s)]);
    }
    multi.addCommand(geo);
    this.pipelines++;
    multi.execAsPipeline().then(() => batch.resolve(), (error: unknown) => batch.reject(error));
  }
}
