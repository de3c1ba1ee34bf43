/**
 * The booking desk's Redis Lua scripts. Every change to slots runs inside one script, so for every
 * station free + booked + occupied = slots holds between any two Redis commands, whichever
 * instance runs them. Scripts return one JSON string (cjson) that the TypeScript side parses.
 *
 * The scripts name keys they build from ids (as Redis 7 standalone allows); they are therefore not
 * Redis Cluster scripts.
 */
import { RedisScript, type RedisClient } from '@greenlane/common';
import { KEYS, LUA_KEY_PARTS as P } from './keys.js';

const PROLOGUE = `
local function capacity(id) return '${P.station}' .. id .. '${P.capacity}' end
local function info(id) return '${P.station}' .. id .. '${P.info}' end
local function booked(id) return '${P.station}' .. id .. '${P.booked}' end
local function occupied(id) return '${P.station}' .. id .. '${P.occupied}' end
local function booking(id) return '${P.booking}' .. id end
local function meta(id) return '${P.meta}' .. id end
local GEO, DEADLINES, OUTBOX = '${KEYS.stationsGeo}', '${KEYS.deadlines}', '${KEYS.outbox}'
local BY_CAR, OCCUPYING, CHANGES = '${KEYS.byCar}', '${KEYS.occupying}', '${KEYS.changesChannel}'
-- free is never adjusted by itself: it is recomputed from the station's slots and the sets of
-- bookings and occupants, so free + booked + occupied = slots holds by construction (and a registry
-- that shrank below what is held gives 0 free until enough is released).
local function recount(id)
  local free = tonumber(redis.call('HGET', info(id), 'slots') or '0')
    - redis.call('SCARD', booked(id)) - redis.call('SCARD', occupied(id))
  if free < 0 then free = 0 end
  redis.call('SET', capacity(id), free)
  return free
end
-- Frees the slot a car occupies, if any; returns the station id or false.
local function release(car)
  local station = redis.call('HGET', OCCUPYING, car)
  if not station then return false end
  redis.call('SREM', occupied(station), car)
  recount(station)
  redis.call('HDEL', OCCUPYING, car)
  redis.call('PUBLISH', CHANGES, cjson.encode({op = 'release', car_id = car, station_id = station}))
  return station
end
`;

/**
 * ARGV[1] = JSON array of {id, name, lat, lon, slots}, lat/lon as strings (Lua's tostring would
 * round them to 14 digits). Idempotent: free is recomputed as
 * slots - booked - occupied, so a restart never hands out a slot that is booked or occupied.
 */
const LOAD_STATIONS = `
local stations = cjson.decode(ARGV[1])
for _, s in ipairs(stations) do
  redis.call('GEOADD', GEO, s.lon, s.lat, s.id)
  redis.call('HSET', info(s.id), 'name', s.name, 'lat', s.lat, 'lon', s.lon, 'slots', s.slots)
  recount(s.id)
end
return cjson.encode({loaded = #stations})
`;

/**
 * Check-and-reserve. ARGV: car, lon, lat, preferred station ('' = none), radius km, ttl ms, now ms,
 * new booking id, price rate. Outcomes: held (the car's live booking), plugged_in, none, confirmed.
 */
const RESERVE = `
local car, lon, lat, preferred, radius = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ttl, now, new_id, price = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8], ARGV[9]
local held = redis.call('HGET', BY_CAR, car)
if held then
  local m = redis.call('HMGET', meta(held), 'station_id', 'price_rate', 'created_at', 'expires_at', 'state')
  if m[1] and m[5] == 'live' then
    return cjson.encode({outcome = 'held', booking_id = held, station_id = m[1], price_rate = m[2],
      created_at = m[3], expires_at = m[4]})
  end
  redis.call('HDEL', BY_CAR, car)
end
local plugged = redis.call('HGET', OCCUPYING, car)
if plugged then return cjson.encode({outcome = 'plugged_in', station_id = plugged}) end

local chosen, preferred_state, in_range = false, false, 0
if preferred ~= '' then
  local free = redis.call('GET', capacity(preferred))
  if not free or redis.call('EXISTS', info(preferred)) == 0 then preferred_state = 'unknown'
  elseif tonumber(free) > 0 then chosen = preferred
  else preferred_state = 'full' end
end
if not chosen then
  local near = redis.call('GEOSEARCH', GEO, 'FROMLONLAT', lon, lat, 'BYRADIUS', radius, 'km', 'ASC')
  in_range = #near
  for _, id in ipairs(near) do
    if tonumber(redis.call('GET', capacity(id)) or '0') > 0 then chosen = id; break end
  end
end
if not chosen then
  return cjson.encode({outcome = 'none', in_range = in_range, preferred = preferred_state})
end
local expires = now + ttl
redis.call('SADD', booked(chosen), new_id)
recount(chosen)
redis.call('SET', booking(new_id), car, 'PX', ttl)
redis.call('HSET', meta(new_id), 'car_id', car, 'station_id', chosen, 'price_rate', price,
  'created_at', ARGV[7], 'expires_at', string.format('%d', expires), 'state', 'live')
redis.call('ZADD', DEADLINES, expires, new_id)
redis.call('HSET', BY_CAR, car, new_id)
return cjson.encode({outcome = 'confirmed', booking_id = new_id, station_id = chosen, price_rate = price,
  created_at = ARGV[7], expires_at = string.format('%d', expires), preferred = preferred_state})
`;

/**
 * The car reports itself plugged in at ARGV[2]. Its live booking there becomes an occupied slot
 * (free unchanged); without one it takes a free slot if there is one (walk-in). A car still
 * counted at another station is released there first. Outcomes: already, consumed, walk_in, full,
 * unknown_station.
 */
const PLUG_IN = `
local car, station = ARGV[1], ARGV[2]
local current = redis.call('HGET', OCCUPYING, car)
if current == station then return cjson.encode({outcome = 'already'}) end
local released = release(car)
if redis.call('EXISTS', info(station)) == 0 then
  return cjson.encode({outcome = 'unknown_station', released = released})
end
local outcome, booking_id = false, redis.call('HGET', BY_CAR, car)
if booking_id then
  local m = redis.call('HMGET', meta(booking_id), 'station_id', 'state')
  if m[1] == station and m[2] == 'live' and redis.call('SREM', booked(station), booking_id) == 1 then
    redis.call('ZREM', DEADLINES, booking_id)
    redis.call('DEL', booking(booking_id), meta(booking_id))
    redis.call('HDEL', BY_CAR, car)
    outcome = 'consumed'
  end
end
if not outcome then
  if tonumber(redis.call('GET', capacity(station)) or '0') <= 0 then
    return cjson.encode({outcome = 'full', released = released})
  end
  outcome = 'walk_in'
  booking_id = false
end
redis.call('SADD', occupied(station), car)
recount(station)
redis.call('HSET', OCCUPYING, car, station)
redis.call('PUBLISH', CHANGES, cjson.encode({op = 'occupy', car_id = car, station_id = station}))
return cjson.encode({outcome = outcome, booking_id = booking_id, released = released})
`;

/** The car reports itself not plugged in: the slot it occupied (if any) is free again. */
const UNPLUG = `
return cjson.encode({released = release(ARGV[1])})
`;

/**
 * Run by every instance on a timer. ARGV: now ms, lease ms, limit. Expires due bookings (the slot
 * comes back exactly once: ZREM is the claim) and queues each in the outbox; then claims outbox
 * entries that are due (new ones, or ones whose previous claimer died before acknowledging) for
 * lease ms, and returns them for delivery.
 */
const SWEEP = `
local now, lease, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local released = 0
local broken = {}
local function expire(id)
  local m = redis.call('HMGET', meta(id), 'car_id', 'station_id')
  if m[2] and redis.call('SREM', booked(m[2]), id) == 1 then
    recount(m[2])
    released = released + 1
  end
  redis.call('DEL', booking(id))
  if m[1] then
    if redis.call('HGET', BY_CAR, m[1]) == id then redis.call('HDEL', BY_CAR, m[1]) end
    redis.call('HSET', meta(id), 'state', 'expired', 'expired_at', ARGV[1])
    redis.call('ZADD', OUTBOX, now, id)
  end
end
-- A booking whose own record Redis refuses (something else wrote that key) would fail every sweep
-- and hold up every other expiry: it is dropped alone, its slot found and freed, and reported.
local function drop(id, err)
  redis.call('ZREM', DEADLINES, id)
  redis.call('ZREM', OUTBOX, id)
  for _, st in ipairs(redis.call('ZRANGE', GEO, 0, -1)) do
    if redis.call('SREM', booked(st), id) == 1 then
      recount(st)
      released = released + 1
    end
  end
  local cars = redis.call('HGETALL', BY_CAR)
  for i = 1, #cars, 2 do
    if cars[i + 1] == id then redis.call('HDEL', BY_CAR, cars[i]) end
  end
  redis.call('DEL', booking(id))
  table.insert(broken, {booking_id = id, error = type(err) == 'table' and err.err or tostring(err)})
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', DEADLINES, '-inf', ARGV[1], 'LIMIT', 0, limit)) do
  if redis.call('ZREM', DEADLINES, id) == 1 then
    local ok, err = pcall(expire, id)
    if not ok then drop(id, err) end
  end
end
local claimed = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', OUTBOX, '-inf', ARGV[1], 'LIMIT', 0, limit)) do
  local ok, m = pcall(redis.call, 'HMGET', meta(id), 'car_id', 'station_id', 'price_rate', 'created_at', 'expires_at', 'expired_at')
  if ok then
    redis.call('ZADD', OUTBOX, now + lease, id)
    table.insert(claimed, {booking_id = id, car_id = m[1], station_id = m[2], price_rate = m[3],
      created_at = m[4], expires_at = m[5], expired_at = m[6]})
  else
    drop(id, m)
  end
end
return cjson.encode({released = released, claimed = claimed, broken = broken})
`;

/** ARGV = booking ids whose expiry was delivered: drop them from the outbox for good. */
const ACK_EXPIRED = `
for _, id in ipairs(ARGV) do
  if redis.call('ZREM', OUTBOX, id) == 1 then redis.call('DEL', meta(id)) end
end
return cjson.encode({acked = #ARGV})
`;

/** One consistent snapshot of every station and every live booking. */
const REPORT = `
local stations = {}
for _, id in ipairs(redis.call('ZRANGE', GEO, 0, -1)) do
  local i = redis.call('HMGET', info(id), 'name', 'lat', 'lon', 'slots')
  table.insert(stations, {id = id, name = i[1], lat = i[2], lon = i[3], slots = i[4],
    free = redis.call('GET', capacity(id)), booked = redis.call('SCARD', booked(id)),
    occupied = redis.call('SCARD', occupied(id))})
end
local bookings = {}
for _, id in ipairs(redis.call('ZRANGE', DEADLINES, 0, -1)) do
  local m = redis.call('HMGET', meta(id), 'car_id', 'station_id', 'price_rate', 'created_at', 'expires_at')
  table.insert(bookings, {booking_id = id, car_id = m[1], station_id = m[2], price_rate = m[3],
    created_at = m[4], expires_at = m[5]})
end
return cjson.encode({stations = stations, bookings = bookings, occupying = redis.call('HLEN', OCCUPYING)})
`;

/** A booking script: the shared prologue, then its body; it answers one JSON string. */
class Script {
  private readonly script: RedisScript;
  constructor(body: string) {
    this.script = new RedisScript(PROLOGUE + body);
  }

  async run(redis: RedisClient, args: Array<string | number>): Promise<unknown> {
    return JSON.parse(String(await this.script.run(redis, [], args.map(String))));
  }
}

export const SCRIPTS = {
  loadStations: new Script(LOAD_STATIONS),
  reserve: new Script(RESERVE),
  plugIn: new Script(PLUG_IN),
  unplug: new Script(UNPLUG),
  sweep: new Script(SWEEP),
  ackExpired: new Script(ACK_EXPIRED),
  report: new Script(REPORT),
} as const;

/** cjson encodes Lua's false (a missing field) as false and an empty table as {}: normalise. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

export function list<T>(value: unknown): T[] {
  return Array.isArray(value) ? (value as T[]) : [];
}
