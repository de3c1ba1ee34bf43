/**
 * Presence: every car online or offline, across all ingestion instances, in Redis beside `car:{id}`:
 *
 *   presence:{car}           HASH  state (online|offline), since, last_seen, instance, reason, closed_at
 *   presence:due             ZSET  online car → when it goes offline unless it is seen again
 *   presence:instance:{id}   STRING, with a TTL: the instance's lease, renewed every second
 *
 * The stream thread notes each car it hears from (a set insertion per message), each stream that
 * opens or closes, and reports them once a tick (PRESENCE_FLUSH_MS) in a few scripts and one
 * produce, whatever the number of cars: the connected and heard cars in one script, which pushes each car's deadline to now + PRESENCE_TIMEOUT and brings an
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

export type DisconnectReason = 'car_closed' | 'error' | 'server_shutdown' | 'ack_timeout' | 'credential_expired';

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
  local p = redis.call('HMGET', key, 'state', 'closed_at')
  if p[1] ~= 'online' then
    local reason = p[1] and 'reconnected' or 'first_seen'
    redis.call('HSET', key, 'state', 'online', 'since', now, 'reason', reason, 'last_seen', now, 'instance', instance)
    came[#came + 1] = car
    came[#came + 1] = reason
  else
    redis.call('HSET', key, 'last_seen', now, 'instance', instance)
  end
  if p[2] then redis.call('HDEL', key, 'closed_at') end
  redis.call('ZADD', 'presence:due', now + timeout, car)
end
return came
`);

/**
 * Streams of these cars closed here. ARGV: now, grace_ms, instance, then car ids. Each car only if
 * this instance heard it last (else it speaks through another one now).
 */
const CLOSED = new RedisScript(`
local now, grace, instance = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
for i = 4, #ARGV do
  local key = 'presence:' .. ARGV[i]
  local p = redis.call('HMGET', key, 'instance', 'state')
  if p[1] == instance and p[2] == 'online' then
    redis.call('HSET', key, 'closed_at', now)
    redis.call('ZADD', 'presence:due', 'LT', now + grace, ARGV[i])
  end
end
return 0
`);

/** Cars reported in one script: a few milliseconds of Redis at most. */
const SEEN_SLICE = 250;

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
  /**
   * Connectivity events since the last report, produced together once a tick: one produce per
   * stream would cut the telemetry's storage batches short (a publish goes after what is queued),
   * and thousands of cars connect at once after a restart.
   */
  private connectivityEvents: PresenceEvent[] = [];
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();
  /** Cars whose stream here closed since the last tick. */
  private closedStreams = new Set<string>();

  constructor(private readonly deps: PresenceDeps) {
    this.timer = setInterval(() => this.tick(), deps.cfg.flushMs);
    this.timer.unref();
  }

  /** A CarStatus of `carId` arrived (the hot path: a set insertion). */
  seen(carId: string): void {
    this.heard.add(carId);
  }

  /** The car's stream here closed (it may be streaming elsewhere already); recorded at the next tick. */
  streamClosed(carId: string): void {
    this.closedStreams.add(carId);
  }

  /** After the report of what was heard, so a closing never finds an older instance's name. */
  private async recordClosed(): Promise<void> {
    if (this.closedStreams.size === 0) return;
    const cars = [...this.closedStreams];
    this.closedStreams = new Set();
    const { redis, cfg, instance } = this.deps;
    await CLOSED.run(redis, [], [String(Date.now()), String(cfg.graceMs), instance, ...cars]).catch((error: unknown) => {
      this.deps.log.warn({ err: (error as Error).message, cars: cars.length }, 'presence: could not record closed streams; those cars go offline at their timeout');
    });
  }

  /** Reports what was heard and sweeps what is due; one at a time. */
  private tick(): void {
    this.running = this.running.then(async () => {
      try {
        await this.publishConnectivity();
        await this.renewLease();
        await this.flush();
        await this.recordClosed();
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
    const came: string[] = [];
    // In slices: one script over 5,000 cars held Redis for 39 ms, and every index write behind it.
    for (let from = 0; from < cars.length; from += SEEN_SLICE) {
      const slice = cars.slice(from, from + SEEN_SLICE);
      try {
        const reply = (await SEEN.run(this.deps.redis, [], [String(now), String(this.deps.cfg.timeoutMs), this.deps.instance, ...slice])) as unknown[];
        for (const value of reply) came.push(String(value));
      } catch (error) {
        for (const car of cars.slice(from)) this.heard.add(car);
        throw error;
      }
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

  /**
   * The stream of `carId` here ended, and why: car_closed, error, server_shutdown, ack_timeout.
   * `lastStreamHere` false: another stream of the car here holds it, so its presence is untouched.
   */
  disconnected(carId: string, peer: string, reason: DisconnectReason, lastStreamHere = true): void {
    this.connectivity('car_disconnected', carId, { peer, reason });
    if (lastStreamHere) this.streamClosed(carId);
  }

  private connectivity(type: 'car_connected' | 'car_disconnected', carId: string, extra: Record<string, unknown>): void {
    this.connectivityEvents.push(this.event(type, carId, Date.now(), extra));
  }

  private async publishConnectivity(): Promise<void> {
    if (this.connectivityEvents.length === 0) return;
    const events = this.connectivityEvents;
    this.connectivityEvents = [];
    await this.deps.publish(events).catch((error: unknown) => this.deps.log.warn({ err: (error as Error).message, events: events.length }, 'presence: connectivity events could not be produced'));
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
    clearInterval(this.timer);
    await this.running;
    await this.publishConnectivity();
    await this.flush().catch(() => undefined);
    await this.recordClosed();
  }
}
