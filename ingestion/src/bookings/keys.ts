/**
 * Redis key names of the booking desk. The first three are the contract (CONTRACTS.md); the rest
 * are the desk's own bookkeeping, under `station:{id}:` (per station) and `bookings:` (global).
 * The Lua scripts are built from these same names, so they cannot drift apart.
 */
export const KEYS = {
  /** GEO, member = station id (contract). */
  stationsGeo: 'stations:locations',
  /** STRING int, free slots (contract). */
  capacity: (stationId: string) => `station:${stationId}:capacity`,
  /** STRING, car id holding the slot, TTL = booking TTL (contract). */
  booking: (bookingId: string) => `booking:${bookingId}`,

  /** HASH name, lat, lon, slots: the registry entry as last loaded. */
  stationInfo: (stationId: string) => `station:${stationId}:info`,
  /** SET of booking ids holding a slot there. */
  stationBooked: (stationId: string) => `station:${stationId}:booked`,
  /** SET of car ids plugged in there and counted as an occupied slot. */
  stationOccupied: (stationId: string) => `station:${stationId}:occupied`,

  /** HASH per booking: car_id, station_id, price_rate, created_at, expires_at, state (live|expired). */
  bookingMeta: (bookingId: string) => `bookings:meta:${bookingId}`,
  /** ZSET booking id -> deadline (ms): what the sweep expires. */
  deadlines: 'bookings:deadlines',
  /** ZSET booking id -> lease deadline (ms): expiries whose event/notice is not yet delivered. */
  outbox: 'bookings:outbox',
  /** HASH car id -> its live booking id. */
  byCar: 'bookings:by-car',
  /** HASH car id -> station id where it occupies a slot. */
  occupying: 'bookings:occupying',
  /** Pub/sub: BookingResponses for a car's stream, delivered by whichever instance holds it. */
  notifyChannel: 'bookings:notify',
  /** Pub/sub: occupy/release changes, keeping every instance's occupancy mirror current. */
  changesChannel: 'bookings:changes',
} as const;

/** The Lua side of KEYS: prefixes to concatenate with ids. */
export const LUA_KEY_PARTS = {
  station: 'station:',
  capacity: ':capacity',
  info: ':info',
  booked: ':booked',
  occupied: ':occupied',
  booking: 'booking:',
  meta: 'bookings:meta:',
} as const;
