/**
 * Commands to vehicles: their state in Redis, shared by the command API (which issues them, sweeps
 * their deadlines and relays their history to Kafka) and every ingestion instance (which delivers
 * them on the car's stream and records the car's answer).
 *
 * Every change of a command's status is one Lua script, so the command's hash, its car's queue, the
 * deadlines and the log entry change together or not at all:
 *
 *   command:{id}                 HASH   the command and its status (kept 24 h once final)
 *   car:{id}:commands            ZSET   the car's unfinished commands, by issue time (its queue)
 *   car:{id}:commands:recent     ZSET   its latest 50 commands, by issue time
 *   car:{id}:stream              STRING the ingestion instance holding the car's commands-capable stream
 *   commands:deadlines           ZSET   unfinished command → when it expires (QUEUED) or times out (SENT)
 *   commands:log                 STREAM every status change, in order (the outbox relayed to Kafka)
 *   commands:instance:{instance} channel where the API sends a command for a car that instance holds
 *
 * Routing without broadcast: issuing reads `car:{id}:stream` and publishes to that one instance in
 * the same script that queues the command; an instance claims a car (sets the key) and reads its
 * queue in one script. Whichever runs first, the other sees it: a command is either in the queue
 * the claim reads, or published to the instance that claimed. A car whose instance died without a
 * word gets its queue when it reconnects elsewhere, until each command expires.
 */
import type { RedisClient } from './redis.js';
import { RedisScript } from './redis-script.js';

export const COMMAND_TYPES = ['EMERGENCY_STOP', 'RESUME', 'RETURN_TO_BASE', 'REROUTE', 'START_CHARGING', 'STOP_CHARGING'] as const;
export type CommandTypeName = (typeof COMMAND_TYPES)[number];

export const COMMAND_STATUSES = ['QUEUED', 'SENT', 'DELIVERED', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'EXPIRED'] as const;
export type CommandStatusName = (typeof COMMAND_STATUSES)[number];
export const FINAL_STATUSES: ReadonlySet<string> = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'EXPIRED']);

/** Metadata a car's StreamTelemetry call carries to receive commands (comma-separated capabilities). */
export const CAPABILITIES_HEADER = 'x-greenlane-capabilities';
export const COMMANDS_CAPABILITY = 'commands';

export const COMMAND_KEYS = {
  command: (id: string) => `command:${id}`,
  queue: (carId: string) => `car:${carId}:commands`,
  recent: (carId: string) => `car:${carId}:commands:recent`,
  stream: (carId: string) => `car:${carId}:stream`,
  deadlines: 'commands:deadlines',
  log: 'commands:log',
  instanceChannel: (instance: string) => `commands:instance:${instance}`,
} as const;

/** A command as stored and as the API shows it. */
export interface CommandRecord {
  command_id: string;
  car_id: string;
  type: CommandTypeName;
  status: CommandStatusName;
  final: boolean;
  issued_at: number;
  expires_at: number;
  timeout_ms: number;
  sent_at?: number;
  delivered_at?: number;
  finished_at?: number;
  reason?: string;
  instance?: string;
  deliveries: number;
  latitude?: number;
  longitude?: number;
  station_id?: string;
}

/** The parts of a command the car needs (what is published to the instance holding its stream). */
export interface CommandToDeliver {
  command_id: string;
  car_id: string;
  type: CommandTypeName;
  issued_at: number;
  expires_at: number;
  latitude?: number;
  longitude?: number;
  station_id?: string;
}

/** One entry of commands:log, and the value of a `fleet-commands` event (with event_type). */
export interface CommandStatusChange {
  command_id: string;
  car_id: string;
  command: CommandTypeName;
  status: CommandStatusName;
  at: number;
  issued_at: number;
  instance: string;
  reason: string;
  deliveries: number;
}

// Shared Lua: append a status change to the log. Called with the command's key already read.
const LOG_CHANGE = `
local function log_change(key, status, at, reason)
  local c = redis.call('HMGET', key, 'car_id', 'type', 'issued_at', 'instance', 'deliveries')
  redis.call('XADD', '${COMMAND_KEYS.log}', 'MAXLEN', '~', ARGV_LOG_MAX, '*',
    'command_id', string.sub(key, 9), 'car_id', c[1], 'command', c[2], 'status', status, 'at', at,
    'issued_at', c[3], 'instance', c[4] or '', 'reason', reason or '', 'deliveries', c[5] or '0')
end
local function finish(key, car, status, at, reason)
  redis.call('HSET', key, 'status', status, 'finished_at', at, 'reason', reason or '')
  redis.call('ZREM', 'car:' .. car .. ':commands', string.sub(key, 9))
  redis.call('ZREM', '${COMMAND_KEYS.deadlines}', string.sub(key, 9))
  redis.call('PEXPIRE', key, 86400000)
  log_change(key, status, at, reason)
end
`;
const LOG_MAX = 100000;
const withLog = (body: string) => `local ARGV_LOG_MAX = '${LOG_MAX}'\n${LOG_CHANGE}\n${body}`;

/**
 * Issue. ARGV: id, car, type, issued_at, expires_at, timeout_ms, lat, lon, station, max_pending.
 * Returns {'ok', instance} (instance '' when no stream holds the car now), {'unknown_car'} or
 * {'too_many', n}.
 */
const ISSUE = new RedisScript(withLog(`
local id, car = ARGV[1], ARGV[2]
if redis.call('EXISTS', 'car:' .. car) == 0 then return {'unknown_car'} end
local queue = 'car:' .. car .. ':commands'
local pending = redis.call('ZCARD', queue)
if pending >= tonumber(ARGV[10]) then return {'too_many', pending} end
local key = 'command:' .. id
redis.call('HSET', key, 'car_id', car, 'type', ARGV[3], 'status', 'QUEUED', 'issued_at', ARGV[4], 'expires_at', ARGV[5],
  'timeout_ms', ARGV[6], 'latitude', ARGV[7], 'longitude', ARGV[8], 'station_id', ARGV[9], 'deliveries', 0, 'instance', '')
redis.call('ZADD', queue, ARGV[4], id)
local recent = 'car:' .. car .. ':commands:recent'
redis.call('ZADD', recent, ARGV[4], id)
redis.call('ZREMRANGEBYRANK', recent, 0, -51)
redis.call('ZADD', '${COMMAND_KEYS.deadlines}', ARGV[5], id)
log_change(key, 'QUEUED', ARGV[4], '')
local instance = redis.call('GET', 'car:' .. car .. ':stream')
if instance then
  redis.call('PUBLISH', 'commands:instance:' .. instance, id .. '\t' .. car)
  return {'ok', instance}
end
return {'ok', ''}
`));

/**
 * Mark sent, just before the instance writes it on the car's stream. ARGV: id, car, instance, now.
 * Returns the command's hash as a flat list when it is to be written now; {'skip', why} when it is
 * final, for another car, or expired (then it becomes EXPIRED here). A command already SENT is sent
 * again (a reconnect): the car drops the repeat by id; its deadline stays that of the first sending.
 */
const MARK_SENT = new RedisScript(withLog(`
local key = 'command:' .. ARGV[1]
local c = redis.call('HMGET', key, 'status', 'car_id', 'expires_at', 'timeout_ms')
if not c[1] then return {'skip', 'unknown'} end
if c[2] ~= ARGV[2] then return {'skip', 'other_car'} end
if c[1] ~= 'QUEUED' and c[1] ~= 'SENT' then return {'skip', 'final'} end
local now = tonumber(ARGV[4])
if c[1] == 'QUEUED' and now >= tonumber(c[3]) then
  finish(key, ARGV[2], 'EXPIRED', now, 'expired before the car was reachable')
  return {'skip', 'expired'}
end
redis.call('HSET', key, 'status', 'SENT', 'sent_at', now, 'instance', ARGV[3])
redis.call('HINCRBY', key, 'deliveries', 1)
-- The car's time to answer runs from the first sending: a car reconnecting again and again
-- gets the command again each time, but never keeps it SENT past that.
if c[1] == 'QUEUED' then redis.call('ZADD', '${COMMAND_KEYS.deadlines}', now + tonumber(c[4]), ARGV[1]) end
log_change(key, 'SENT', now, '')
return redis.call('HGETALL', key)
`));

/**
 * The car's answer. ARGV: id, car, outcome ('accepted' | 'rejected'), reason, now.
 * Returns {'ok', status} or {'ignored', why}: unknown id, another car's command, already final.
 */
const RECORD_RESULT = new RedisScript(withLog(`
local key = 'command:' .. ARGV[1]
local c = redis.call('HMGET', key, 'status', 'car_id')
if not c[1] then return {'ignored', 'unknown_command'} end
if c[2] ~= ARGV[2] then return {'ignored', 'other_car'} end
if c[1] ~= 'QUEUED' and c[1] ~= 'SENT' then return {'ignored', 'final'} end
redis.call('HSET', key, 'delivered_at', ARGV[5])
log_change(key, 'DELIVERED', ARGV[5], '')
local status = ARGV[3] == 'accepted' and 'SUCCEEDED' or 'FAILED'
finish(key, ARGV[2], status, ARGV[5], ARGV[4])
return {'ok', status}
`));

/**
 * Deadlines due. ARGV: now, limit. QUEUED past its expiry → EXPIRED; SENT past its timeout →
 * TIMED_OUT. Returns how many ended.
 */
const SWEEP = new RedisScript(withLog(`
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', '${COMMAND_KEYS.deadlines}', '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local ended = 0
for _, id in ipairs(due) do
  local key = 'command:' .. id
  local c = redis.call('HMGET', key, 'status', 'car_id', 'expires_at', 'sent_at', 'timeout_ms')
  if not c[1] or (c[1] ~= 'QUEUED' and c[1] ~= 'SENT') then
    redis.call('ZREM', '${COMMAND_KEYS.deadlines}', id)
  elseif c[1] == 'QUEUED' then
    finish(key, c[2], 'EXPIRED', now, 'expired before the car was reachable')
    ended = ended + 1
  else
    finish(key, c[2], 'TIMED_OUT', now, 'the car did not answer within ' .. c[5] .. ' ms')
    ended = ended + 1
  end
end
return ended
`));

/** An instance takes a car's commands. ARGV: car, instance. Returns the ids in its queue, oldest first. */
const CLAIM = new RedisScript(`
redis.call('SET', 'car:' .. ARGV[1] .. ':stream', ARGV[2])
return redis.call('ZRANGE', 'car:' .. ARGV[1] .. ':commands', 0, -1)
`);

/** The car's stream closed on this instance. ARGV: car, instance. Only the holder lets go. */
const RELEASE = new RedisScript(`
if redis.call('GET', 'car:' .. ARGV[1] .. ':stream') == ARGV[2] then redis.call('DEL', 'car:' .. ARGV[1] .. ':stream') end
return 0
`);

function pairs(flat: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

const num = (v: string | undefined): number | undefined => (v === undefined || v === '' ? undefined : Number(v));

/** A command hash as a record; undefined when it is empty (no such command). */
export function commandFromHash(id: string, h: Record<string, string>): CommandRecord | undefined {
  if (h.status === undefined) return undefined;
  const record: CommandRecord = {
    command_id: id,
    car_id: h.car_id ?? '',
    type: h.type as CommandTypeName,
    status: h.status as CommandStatusName,
    final: FINAL_STATUSES.has(h.status),
    issued_at: Number(h.issued_at),
    expires_at: Number(h.expires_at),
    timeout_ms: Number(h.timeout_ms),
    deliveries: Number(h.deliveries ?? 0),
  };
  const sent = num(h.sent_at);
  const delivered = num(h.delivered_at);
  const finished = num(h.finished_at);
  if (sent !== undefined) record.sent_at = sent;
  if (delivered !== undefined) record.delivered_at = delivered;
  if (finished !== undefined) record.finished_at = finished;
  if (h.reason) record.reason = h.reason;
  if (h.instance) record.instance = h.instance;
  if (h.latitude) record.latitude = Number(h.latitude);
  if (h.longitude) record.longitude = Number(h.longitude);
  if (h.station_id) record.station_id = h.station_id;
  return record;
}

export type IssueOutcome = { ok: true; instance: string } | { ok: false; reason: 'unknown_car' } | { ok: false; reason: 'too_many'; pending: number };

export interface IssueInput {
  command_id: string;
  car_id: string;
  type: CommandTypeName;
  issued_at: number;
  expires_at: number;
  timeout_ms: number;
  latitude?: number | undefined;
  longitude?: number | undefined;
  station_id?: string | undefined;
}

/** The command state in Redis: each method one script or one read. */
export class CommandStore {
  constructor(private readonly redis: RedisClient) {}

  async issue(c: IssueInput, maxPending: number): Promise<IssueOutcome> {
    const r = (await ISSUE.run(this.redis, [], [
      c.command_id, c.car_id, c.type, String(c.issued_at), String(c.expires_at), String(c.timeout_ms),
      c.latitude === undefined ? '' : String(c.latitude), c.longitude === undefined ? '' : String(c.longitude), c.station_id ?? '', String(maxPending),
    ])) as unknown[];
    if (r[0] === 'ok') return { ok: true, instance: String(r[1] ?? '') };
    if (r[0] === 'too_many') return { ok: false, reason: 'too_many', pending: Number(r[1]) };
    return { ok: false, reason: 'unknown_car' };
  }

  /** Marks it SENT; the command to write, or undefined when it must not be written (and why). */
  async markSent(id: string, carId: string, instance: string, now = Date.now()): Promise<{ deliver?: CommandToDeliver; skipped?: string }> {
    const r = (await MARK_SENT.run(this.redis, [], [id, carId, instance, String(now)])) as unknown[];
    if (r[0] === 'skip') return { skipped: String(r[1]) };
    const c = commandFromHash(id, pairs(r))!;
    const deliver: CommandToDeliver = { command_id: id, car_id: c.car_id, type: c.type, issued_at: c.issued_at, expires_at: c.expires_at };
    if (c.latitude !== undefined) deliver.latitude = c.latitude;
    if (c.longitude !== undefined) deliver.longitude = c.longitude;
    if (c.station_id !== undefined) deliver.station_id = c.station_id;
    return { deliver };
  }

  async recordResult(id: string, carId: string, accepted: boolean, reason: string, now = Date.now()): Promise<{ status?: string; ignored?: string }> {
    const r = (await RECORD_RESULT.run(this.redis, [], [id, carId, accepted ? 'accepted' : 'rejected', reason, String(now)])) as unknown[];
    return r[0] === 'ok' ? { status: String(r[1]) } : { ignored: String(r[1]) };
  }

  async sweep(now = Date.now(), limit = 500): Promise<number> {
    return Number(await SWEEP.run(this.redis, [], [String(now), String(limit)]));
  }

  async claim(carId: string, instance: string): Promise<string[]> {
    return ((await CLAIM.run(this.redis, [], [carId, instance])) as unknown[]).map(String);
  }

  async release(carId: string, instance: string): Promise<void> {
    await RELEASE.run(this.redis, [], [carId, instance]);
  }

  async get(id: string): Promise<CommandRecord | undefined> {
    return commandFromHash(id, await this.redis.hGetAll(COMMAND_KEYS.command(id)));
  }

  /** The car's latest commands, newest first (at most `limit`, ≤ 50). */
  async recent(carId: string, limit: number): Promise<CommandRecord[]> {
    const ids = await this.redis.zRange(COMMAND_KEYS.recent(carId), 0, limit - 1, { REV: true });
    const records = await Promise.all(ids.map((id) => this.get(id)));
    return records.filter((r): r is CommandRecord => r !== undefined);
  }

  async pending(carId: string): Promise<number> {
    return this.redis.zCard(COMMAND_KEYS.queue(carId));
  }
}

/** A commands:log entry's fields as a status change. */
export function statusChangeOf(fields: Record<string, string>): CommandStatusChange {
  return {
    command_id: fields.command_id ?? '',
    car_id: fields.car_id ?? '',
    command: (fields.command ?? '') as CommandTypeName,
    status: (fields.status ?? '') as CommandStatusName,
    at: Number(fields.at),
    issued_at: Number(fields.issued_at),
    instance: fields.instance ?? '',
    reason: fields.reason ?? '',
    deliveries: Number(fields.deliveries ?? 0),
  };
}
