/**
 * Cars' presence as the ingestion keeps it (issue 16 §2): HASH `presence:{car_id}` with state
 * (online | offline), since, last_seen, instance, reason. Read only; absent keys (a fleet whose
 * ingestion does not keep presence yet) read as no cars, never as an error. Listing scans the
 * keyspace (SCAN, batches of 1000): fine at fleet sizes of tens of thousands of cars.
 */
import type { RedisClient } from '@greenlane/common';

export interface PresenceRecord {
  car_id: string;
  state: 'online' | 'offline' | string;
  since?: number;
  last_seen?: number;
  instance?: string;
  reason?: string;
}

const CAR_ID = /^[A-Za-z0-9_.-]{1,64}$/;

function recordOf(carId: string, h: Record<string, string>): PresenceRecord | undefined {
  if (h.state === undefined) return undefined;
  const r: PresenceRecord = { car_id: carId, state: h.state };
  const num = (v: string | undefined) => (v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined);
  const since = num(h.since);
  const lastSeen = num(h.last_seen);
  if (since !== undefined) r.since = since;
  if (lastSeen !== undefined) r.last_seen = lastSeen;
  if (h.instance !== undefined && h.instance !== '') r.instance = h.instance;
  if (h.reason !== undefined && h.reason !== '') r.reason = h.reason;
  return r;
}

export class PresenceReader {
  constructor(private readonly redis: RedisClient, private readonly prefix: string) {}

  async get(carId: string): Promise<PresenceRecord | undefined> {
    const hash = await this.redis.hGetAll(`${this.prefix}${carId}`).catch(() => ({}) as Record<string, string>);
    return recordOf(carId, hash);
  }

  /** Cars whose presence is `status` (every car with a presence when undefined), by car id, at most `limit`; `total` counts all that match. */
  async list(status: string | undefined, limit: number): Promise<{ cars: PresenceRecord[]; total: number }> {
    const found: PresenceRecord[] = [];
    for await (const keys of this.redis.scanIterator({ MATCH: `${this.prefix}*`, COUNT: 1000 })) {
      const ids = keys.map((k) => k.slice(this.prefix.length)).filter((id) => CAR_ID.test(id));
      // Other key types under the prefix (an instance lease, say) are skipped, not errors.
      const hashes = await Promise.all(ids.map((id) => this.redis.hGetAll(`${this.prefix}${id}`).catch(() => ({}) as Record<string, string>)));
      ids.forEach((id, i) => {
        const r = recordOf(id, hashes[i]!);
        if (r !== undefined && (status === undefined || r.state === status)) found.push(r);
      });
    }
    found.sort((a, b) => (a.car_id < b.car_id ? -1 : a.car_id > b.car_id ? 1 : 0));
    return { cars: found.slice(0, limit), total: found.length };
  }
}
