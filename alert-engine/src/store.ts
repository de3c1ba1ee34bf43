/**
 * The engine's state in Redis (keys.ts). A batch's outcome — the cars' new states, the alerts'
 * records and the alert events still to send — is written by ONE script together with the
 * partition's next offset, and only if that offset is still the one the batch was computed from:
 * state and position never disagree, a replayed batch (a crash before the Kafka commit) is
 * recognised by its offsets and applied once, and a consumer that lost the partition in a
 * rebalance cannot overwrite the new owner's state.
 */
import type { RedisClient } from '@greenlane/common';
import { RedisScript } from '@greenlane/common';
import { alertKeys, CAR_ALERTS_KEPT, type AlertKeys } from './keys.js';
import { newCarState, transitionOf, type AlertEvent, type CarState } from './types.js';

const COMMIT = new RedisScript(`
local cur = redis.call('GET', KEYS[1])
if (cur or '') ~= ARGV[1] then return 0 end
local P = ARGV[3]
local ttl = tonumber(ARGV[4])
local kept = tonumber(ARGV[5])
local cars = cjson.decode(ARGV[6])
for i = 1, #cars, 2 do redis.call('SET', P .. 'car:' .. cars[i], cars[i + 1]) end
local changes = cjson.decode(ARGV[7])
for _, c in ipairs(changes) do
  local key = P .. 'alert:' .. c.id
  if c.t == 'raised' then
    redis.call('HSET', key, unpack(c.f))
    redis.call('SADD', P .. 'open', c.id)
    local z = P .. 'car-alerts:' .. c.car
    redis.call('ZADD', z, c.score, c.id)
    redis.call('ZREMRANGEBYRANK', z, 0, -(kept + 1))
  elseif redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, unpack(c.f))
    if c.t == 'cleared' then
      if redis.call('HEXISTS', key, 'acked_at') == 1 then
        redis.call('SREM', P .. 'open', c.id)
        redis.call('EXPIRE', key, ttl)
      else
        redis.call('EXPIRE', key, tonumber(ARGV[8]))
      end
    end
  end
  redis.call('RPUSH', KEYS[2], c.e)
  redis.call('RPUSH', KEYS[3], c.e)
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`);

/**
 * Drops the first #ARGV entries of a queue if they are still the ones read (its head is still
 * ARGV[1]): entries are unique and queues only grow at the tail, so two senders that read the
 * same entries never drop ones nobody sent.
 */
const TRIM = new RedisScript(`
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[1] then return 0 end
redis.call('LTRIM', KEYS[1], tonumber(ARGV[2]), -1)
return 1
`);

const ACK = new RedisScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown' end
if redis.call('HEXISTS', KEYS[1], 'acked_at') == 1 then return 'already' end
redis.call('HSET', KEYS[1], 'acked_at', ARGV[1], 'acked_by', ARGV[2], 'ack_note', ARGV[3])
if redis.call('HGET', KEYS[1], 'status') == 'cleared' then
  redis.call('SREM', KEYS[2], ARGV[6])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
end
redis.call('RPUSH', KEYS[3], ARGV[4])
redis.call('RPUSH', KEYS[4], ARGV[4])
return 'ok'
`);

/** Entries read from a queue: their raw form (to confirm them) and the events. */
export interface Queued {
  key: string;
  raw: string[];
  events: AlertEvent[];
}

export interface AlertRecord {
  alert_id: string;
  car_id: string;
  rule: string;
  severity: string;
  status: 'active' | 'cleared';
  acknowledged: boolean;
  raised_at: number;
  updated_at: number;
  cleared_at?: number;
  acknowledged_at?: number;
  acknowledged_by?: string;
  note?: string;
  values: Record<string, unknown>;
}

function fieldsOf(e: AlertEvent): string[] {
  const t = transitionOf(e);
  const f = ['severity', e.severity, 'updated_at', String(e.at), 'values', JSON.stringify(e.values)];
  if (t === 'raised') f.push('alert_id', e.alert_id, 'car_id', e.car_id, 'rule', e.rule, 'status', 'active', 'raised_at', String(e.raised_at));
  if (t === 'cleared') f.push('status', 'cleared', 'cleared_at', String(e.at));
  return f;
}

export function recordOf(hash: Record<string, string>): AlertRecord | undefined {
  if (hash.alert_id === undefined) return undefined;
  let values: Record<string, unknown> = {};
  try {
    values = JSON.parse(hash.values ?? '{}') as Record<string, unknown>;
  } catch {
    values = {};
  }
  const record: AlertRecord = {
    alert_id: hash.alert_id,
    car_id: hash.car_id ?? '',
    rule: hash.rule ?? '',
    severity: hash.severity ?? '',
    status: hash.status === 'cleared' ? 'cleared' : 'active',
    acknowledged: hash.acked_at !== undefined,
    raised_at: Number(hash.raised_at),
    updated_at: Number(hash.updated_at),
    values,
  };
  if (hash.cleared_at !== undefined) record.cleared_at = Number(hash.cleared_at);
  if (hash.acked_at !== undefined) record.acknowledged_at = Number(hash.acked_at);
  if (hash.acked_by !== undefined && hash.acked_by !== '') record.acknowledged_by = hash.acked_by;
  if (hash.ack_note !== undefined && hash.ack_note !== '') record.note = hash.ack_note;
  return record;
}

export class AlertStore {
  readonly keys: AlertKeys;

  constructor(readonly redis: RedisClient, readonly prefix: string, readonly doneRetentionS: number, readonly clearedRetentionS: number) {
    this.keys = alertKeys(prefix);
  }

  /** The partition's stored next offset ('' when none) and its outbox (events decided, not yet confirmed sent). */
  async partition(topic: string, partition: number): Promise<{ offset: string; outbox: Queued }> {
    const [offset, outbox] = await Promise.all([this.redis.get(this.keys.offset(topic, partition)), this.read(this.keys.outbox(topic, partition), 10_000)]);
    return { offset: offset ?? '', outbox };
  }

  /** The first `max` entries of a queue (an outbox). */
  async read(key: string, max: number): Promise<Queued> {
    const raw = await this.redis.lRange(key, 0, max - 1);
    return { key, raw, events: raw.map((s) => JSON.parse(s) as AlertEvent) };
  }

  /** Drops what `read` returned from the queue, once sent (unless another sender already did). */
  async confirm(queued: Queued): Promise<void> {
    if (queued.raw.length > 0) await TRIM.run(this.redis, [queued.key], [queued.raw[0]!, String(queued.raw.length)]);
  }

  async backlog(key: string): Promise<number> {
    return this.redis.lLen(key);
  }

  async loadCars(carIds: string[]): Promise<Map<string, CarState>> {
    const states = new Map<string, CarState>();
    if (carIds.length === 0) return states;
    const values = await this.redis.mGet(carIds.map((id) => this.keys.car(id)));
    carIds.forEach((id, i) => {
      const raw = values[i];
      states.set(id, raw ? (JSON.parse(raw) as CarState) : newCarState());
    });
    return states;
  }

  /**
   * Writes the batch's outcome if the partition is still at `expected`; false when it is not
   * (another consumer moved it on: this one lost the partition). On success, the partition's
   * outbox as it now is (what is to send to fleet-alerts).
   */
  async commit(opts: { topic: string; partition: number; expected: string; next: string; cars: Map<string, CarState>; touched: Iterable<string>; alerts: AlertEvent[] }): Promise<Queued | undefined> {
    const cars: string[] = [];
    for (const id of opts.touched) cars.push(id, JSON.stringify(opts.cars.get(id)));
    const changes = opts.alerts.map((e) => ({ t: transitionOf(e), id: e.alert_id, car: e.car_id, score: String(e.raised_at), f: fieldsOf(e), e: JSON.stringify(e) }));
    const outbox = this.keys.outbox(opts.topic, opts.partition);
    const result = await COMMIT.run(
      this.redis,
      [this.keys.offset(opts.topic, opts.partition), outbox, this.keys.dbOutbox],
      [opts.expected, opts.next, this.prefix, String(this.doneRetentionS), String(CAR_ALERTS_KEPT), cars.length === 0 ? '[]' : JSON.stringify(cars), changes.length === 0 ? '[]' : JSON.stringify(changes), String(this.clearedRetentionS)],
    );
    if (Number(result) !== 1) return undefined;
    return { key: outbox, raw: changes.map((c) => c.e), events: opts.alerts };
  }

  async get(id: string): Promise<AlertRecord | undefined> {
    return recordOf(await this.redis.hGetAll(this.keys.alert(id)));
  }

  /** The alerts of these ids that still exist, in that order; `gone` lists the ids that do not (expired). */
  async many(ids: string[]): Promise<AlertRecord[] & { gone?: string[] }> {
    if (ids.length === 0) return [];
    const multi = this.redis.multi();
    for (const id of ids) multi.hGetAll(this.keys.alert(id));
    const hashes = (await multi.exec()) as unknown as Array<Record<string, string>>;
    const out: AlertRecord[] & { gone?: string[] } = [];
    const gone: string[] = [];
    hashes.forEach((h, i) => {
      const r = recordOf(h);
      if (r) out.push(r);
      else gone.push(ids[i]!);
    });
    out.gone = gone;
    return out;
  }

  /** Every alert not done (active, or cleared and not acknowledged); ids whose alert expired leave the set. */
  async open(): Promise<AlertRecord[]> {
    const alerts = await this.many(await this.redis.sMembers(this.keys.open));
    if (alerts.gone !== undefined && alerts.gone.length > 0) await this.redis.sRem(this.keys.open, alerts.gone);
    return alerts;
  }

  async ofCar(carId: string, limit: number): Promise<AlertRecord[]> {
    const ids = await this.redis.zRange(this.keys.carAlerts(carId), 0, limit - 1, { REV: true });
    return this.many(ids);
  }

  /** Acknowledges the alert and queues its event; 'unknown' or 'already' when there is nothing to do. */
  async acknowledge(record: AlertRecord, by: string, note: string, at: number): Promise<{ outcome: 'ok' | 'unknown' | 'already'; event: AlertEvent }> {
    const event: AlertEvent = {
      event_type: 'alert_acknowledged', event_id: `${record.alert_id}:acknowledged`, alert_id: record.alert_id, car_id: record.car_id,
      rule: record.rule as AlertEvent['rule'], severity: record.severity as AlertEvent['severity'], at, raised_at: record.raised_at, values: record.values,
    };
    if (by !== '') event.operator = by;
    if (note !== '') event.note = note;
    const outcome = (await ACK.run(
      this.redis,
      [this.keys.alert(record.alert_id), this.keys.open, this.keys.apiOutbox, this.keys.dbOutbox],
      [String(at), by, note, JSON.stringify(event), String(this.doneRetentionS), record.alert_id],
    )) as 'ok' | 'unknown' | 'already';
    return { outcome, event };
  }
}
