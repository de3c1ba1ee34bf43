/**
 * Presence: every car online or offline, across all ingestion instances, in Redis beside `car:{id}`:
 *
 *   presence:{car}           HASH  state (online|offline), since, last_seen, instance, reason, closed_at
 *   presence:due             ZSET  online car → when it goes offline unless it is seen again
 *   presence:instance:{id}   STRING, with a TTL: the instance's lease, renewed every second
 *
 * The stream thread notes each car it hears from (a map write per message) and reports them once a
 * second in one script, which pushes each car's deadline to now + PRESENCE_TIMEOUT and brings an
 * offline car online. A stream that closes pulls its car's deadline in to now + PRESENCE_GRACE, so a
 * car that moves to another instance (and is heard there) never goes offline, and one that does not
 * come back goes offline after the grace. Every instance sweeps the deadlines due; each transition
 * is one script (a compare-and-set of the state), so each change happens, and its event is produced,
 * once across all instances. A car whose instance died without a word is no longer heard: it goes
 * offline at its deadline, with reason `instance_lost` when that instance's lease has lapsed.
 */
import type { Logger, RedisClient } from '@greenlane/common';
import { RedisScript } from '@greenlane/common';

/** An event for fleet-events (key = car id). */
export interface PresenceEvent {
  key: string;
  value: string;
}

export type DisconnectReason = 'car_closed' | 'error' | 'server_shutdown' | 'ack_timeout';

export interface PresenceConfig {
  timeoutMs: number;
  graceMs: number;
  flushMs: number;
}

export interface PresenceDeps {
  redis: RedisClient;
  instance: string;
  cfg: PresenceConfig;
  log: Logger;
  /** Produces events to fleet-events; resolves once Kafka has them. */
  publish: (events: PresenceEvent[]) => Promise<void>;
  /** Counts a presence change (car_online / car_offline, by reason). */
  changed: (state: 'online' | 'offline', reason: string) => void;
}

/**
 * Cars heard. ARGV: now, timeout_ms, instance, then car ids. Returns the cars that came online, each
 * followed by why: `first_seen` (never seen before) or `reconnected` (it was offline).
 */
const SEEN = new RedisScript(`
local now, timeout, instance = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local came = {}
for i = 4, #ARGV do
  local car = ARGV[i]
  local key = 'presence:' .. car
  local state = redis.call('HGET', key, 'state')
  if state ~= 'online' then
    local reason = state and 'reconnected' or 'first_seen'
    redis.call('HSET', key, 'state', 'online', 'since', now, 'reason', reason)
    came[#came + 1] = car
    came[#came + 1] = reason
  end
  redis.call('HSET', key, 'last_seen', now, 'instance', instance)
  redis.call('HDEL', key, 'closed_at')
  redis.call('ZADD', 'presence:due', now + timeout, car)
end
return came
`);

/** A stream of the car closed here. ARGV: car, now, grace_ms, instance. Only if this instance heard it last. */
const CLOSED = new RedisScript(`
local key = 'presence:' .. ARGV[1]
if redis.call('HGET', key, 'instance') ~= ARGV[4] or redis.call('HGET', key, 'state') ~= 'online' then return 0 end
redis.call('HSET', key, 'closed_at', ARGV[2])
redis.call('ZADD', 'presence:due', 'LT', tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
return 1
`);

/** Deadlines due. ARGV: now, limit. Returns {car, reason, last_seen, instance} for each car now offline. */
const SWEEP = new RedisScript(`
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', 'presence:due', '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, car in ipairs(due) do
  redis.call('ZREM', 'presence:due', car)
  local key = 'presence:' .. car
  local p = redis.call('HMGET', key, 'state', 'last_seen', 'instance', 'closed_at')
  if p[1] == 'online' then
    local reason = 'timeout'
    if p[4] then reason = 'stream_closed'
    elseif p[3] and redis.call('EXISTS', 'presence:instance:' .. p[3]) == 0 then reason = 'instance_lost' end
    redis.call('HSET', key, 'state', 'offline', 'since', now, 'reason', reason)
    out[#out + 1] = {car, reason, p[2] or '', p[3] or ''}
  end
end
return out
`);

export class PresenceTracker {
  /** Cars heard since the last report. */
  private heard = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();
  /** Writes in flight outside the tick (closed streams, connectivity events): close waits for them. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(private readonly deps: PresenceDeps) {
    this.timer = setInterval(() => this.tick(), deps.cfg.flushMs);
    this.timer.unref();
  }

  /** A CarStatus of `carId` arrived (the hot path: a set insertion). */
  seen(carId: string): void {
    this.heard.add(carId);
  }

  /** The car's stream here closed (it may be streaming elsewhere already). */
  streamClosed(carId: string): void {
    if (this.closed) return;
    const { redis, cfg, instance } = this.deps;
    // Heard but not yet reported: report first, so the closing does not find another instance's name.
    const pending = this.heard.has(carId);
    this.track(
      (pending ? this.flush() : Promise.resolve())
        .then(() => CLOSED.run(redis, [], [carId, String(Date.now()), String(cfg.graceMs), instance]))
        .catch((error: unknown) => this.deps.log.warn({ err: (error as Error).message, car_id: carId }, 'presence: could not record a closed stream; the car goes offline at its timeout')),
    );
  }

  private track(work: Promise<unknown>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  /** Reports what was heard and sweeps what is due; one at a time. */
  private tick(): void {
    this.running = this.running.then(async () => {
      try {
        await this.renewLease();
        await this.flush();
        await this.sweep();
      } catch (error) {
        this.deps.log.warn({ err: (error as Error).message }, 'presence: Redis unavailable; retrying');
      }
    });
  }

  private async renewLease(): Promise<void> {
    await this.deps.redis.set(`presence:instance:${this.deps.instance}`, String(Date.now()), { PX: this.deps.cfg.flushMs * 3 });
  }

  private async flush(): Promise<void> {
    if (this.heard.size === 0) return;
    const cars = [...this.heard];
    this.heard = new Set();
    const now = Date.now();
    let came: string[];
    try {
      came = ((await SEEN.run(this.deps.redis, [], [String(now), String(this.deps.cfg.timeoutMs), this.deps.instance, ...cars])) as unknown[]).map(String);
    } catch (error) {
      for (const car of cars) this.heard.add(car);
      throw error;
    }
    const events: PresenceEvent[] = [];
    for (let i = 0; i + 1 < came.length; i += 2) {
      this.deps.changed('online', came[i + 1]!);
      events.push(this.event('car_online', came[i]!, now, { reason: came[i + 1] }));
    }
    if (events.length > 0) await this.deps.publish(events);
  }

  /** The stream of `carId` began here (its first valid CarStatus). */
  connected(carId: string, peer: string): void {
    this.seen(carId);
    this.connectivity('car_connected', carId, { peer });
  }

  /** The stream of `carId` here ended, and why: car_closed, error, server_shutdown, ack_timeout. */
  disconnected(carId: string, peer: string, reason: DisconnectReason): void {
    this.connectivity('car_disconnected', carId, { peer, reason });
    this.streamClosed(carId);
  }

  private connectivity(type: 'car_connected' | 'car_disconnected', carId: string, extra: Record<string, unknown>): void {
    const event = this.event(type, carId, Date.now(), extra);
    this.track(this.deps.publish([event]).catch((error: unknown) => this.deps.log.warn({ err: (error as Error).message, car_id: carId, event_type: type }, 'presence: a connectivity event could not be produced')));
  }

  private async sweep(): Promise<void> {
    for (;;) {
      const now = Date.now();
      const gone = (await SWEEP.run(this.deps.redis, [], [String(now), '500'])) as unknown[][];
      if (gone.length === 0) return;
      const events = gone.map(([car, reason, lastSeen, instance]) => {
        this.deps.changed('offline', String(reason));
        return this.event('car_offline', String(car), now, { reason: String(reason), last_seen: Number(lastSeen) || null, held_by: String(instance) });
      });
      await this.deps.publish(events);
      if (gone.length < 500) return;
    }
  }

  private event(type: 'car_online' | 'car_offline' | 'car_connected' | 'car_disconnected', carId: string, at: number, extra: Record<string, unknown>): PresenceEvent {
    const value = { event_type: type, event_id: `${type}:${carId}:${at}`, car_id: carId, timestamp: at, instance: this.deps.instance, ...extra };
    return { key: carId, value: JSON.stringify(value) };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.running;
    await this.flush().catch(() => undefined);
    await Promise.allSettled([...this.inFlight]);
  }
}
