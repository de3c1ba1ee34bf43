/**
 * Stations: positions, names and slot counts from the station registry (the file the ingestion's
 * booking desk serves, STATIONS_FILE), free slots from Redis (`station:{id}:capacity`, CONTRACTS.md),
 * polled. The ingestion is the only writer of those keys; this service only reads.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Logger, RedisClient } from '@greenlane/common';
import type { StationView } from './protocol.js';

export type { StationView };

/** liveops-web/dist/src/stations.js -> ingestion/data/stations.json */
export const DEFAULT_STATIONS_FILE = fileURLToPath(new URL('../../../ingestion/data/stations.json', import.meta.url));

export async function readStations(file: string): Promise<StationView[]> {
  const data = JSON.parse(await readFile(file, 'utf8')) as unknown;
  const list = Array.isArray(data) ? data : (data as { stations?: unknown }).stations;
  if (!Array.isArray(list)) throw new Error(`${file}: expected a JSON array of stations`);
  return (list as Array<Record<string, unknown>>)
    .filter((s) => typeof s.id === 'string' && typeof s.lat === 'number' && typeof s.lon === 'number')
    .map((s) => ({
      id: s.id as string,
      name: typeof s.name === 'string' ? s.name : (s.id as string),
      lat: s.lat as number,
      lon: s.lon as number,
      slots: typeof s.slots === 'number' ? s.slots : 0,
    }));
}

export class StationBoard {
  version = 0;
  redisOk = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly stations: StationView[],
    private readonly redis: RedisClient | undefined,
    private readonly log: Logger,
  ) {}

  /** One poll of every station's free slots; bumps `version` when any changed. */
  async poll(): Promise<void> {
    if (!this.redis || this.stations.length === 0) return;
    try {
      const values = await this.redis.mGet(this.stations.map((s) => `station:${s.id}:capacity`));
      let changed = false;
      values.forEach((value, i) => {
        const station = this.stations[i]!;
        const free = value === null ? undefined : Number(value);
        const next = free !== undefined && Number.isFinite(free) ? free : undefined;
        if (next !== station.free) {
          if (next === undefined) delete station.free;
          else station.free = next;
          changed = true;
        }
      });
      if (changed) this.version += 1;
      this.redisOk = true;
    } catch (error) {
      if (this.redisOk) this.log.warn({ err: (error as Error).message }, 'cannot read station capacity from Redis');
      this.redisOk = false;
    }
  }

  start(intervalMs: number): void {
    const loop = () => {
      void this.poll().finally(() => {
        if (this.timer !== undefined) this.timer = setTimeout(loop, intervalMs);
      });
    };
    this.timer = setTimeout(loop, 0);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
