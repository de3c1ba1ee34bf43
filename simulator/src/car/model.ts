/**
 * The car model as pure functions: a car is a plain state value, and each update returns the
 * next state from the previous one and a seeded random source. No I/O, no clock of its own.
 */
import type { CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { between, type Random } from './prng.js';

/** The Manhattan box of CONTRACTS.md "Simulator defaults". */
export const MANHATTAN = { minLat: 40.7, maxLat: 40.85, minLon: -74.02, maxLon: -73.93 } as const;
export const MAX_SPEED_KMH = 60;
/** Battery drain per update while driving, in percentage points. */
export const DRAIN_PER_UPDATE = { min: 0.1, max: 0.5 } as const;

const KM_PER_DEGREE_LAT = 111.32;

export interface Position {
  lat: number;
  lon: number;
}

export interface DrivingState extends Position {
  carId: string;
  /** percent, 0..100 */
  battery: number;
  /** km/h, 0..60 */
  velocity: number;
  /** radians, 0 = north, π/2 = east */
  heading: number;
}

export function carId(index: number, prefix = 'CAR-'): string {
  return `${prefix}${String(index + 1).padStart(3, '0')}`;
}

export function clamp(value: number, min: number, max: number): number {
  return value < min ? min : value > max ? max : value;
}

export function insideManhattan(p: Position): boolean {
  return p.lat >= MANHATTAN.minLat && p.lat <= MANHATTAN.maxLat && p.lon >= MANHATTAN.minLon && p.lon <= MANHATTAN.maxLon;
}

export function randomPosition(random: Random): Position {
  return {
    lat: between(random, MANHATTAN.minLat, MANHATTAN.maxLat),
    lon: between(random, MANHATTAN.minLon, MANHATTAN.maxLon),
  };
}

export function newCar(id: string, random: Random, battery = between(random, 40, 100)): DrivingState {
  return {
    carId: id,
    ...randomPosition(random),
    battery,
    velocity: between(random, 0, MAX_SPEED_KMH),
    heading: between(random, 0, 2 * Math.PI),
  };
}

/** Great-circle-free flat distance in km; plenty for a 17 km box. */
export function distanceKm(a: Position, b: Position): number {
  const dLat = (b.lat - a.lat) * KM_PER_DEGREE_LAT;
  const dLon = (b.lon - a.lon) * KM_PER_DEGREE_LAT * Math.cos((a.lat * Math.PI) / 180);
  return Math.hypot(dLat, dLon);
}

/** Moves `km` along `heading`, reflecting off the edges of the box so the car never leaves it. */
export function move(p: Position, heading: number, km: number): Position & { heading: number } {
  let lat = p.lat + (km * Math.cos(heading)) / KM_PER_DEGREE_LAT;
  let lon = p.lon + (km * Math.sin(heading)) / (KM_PER_DEGREE_LAT * Math.cos((p.lat * Math.PI) / 180));
  let north = Math.cos(heading);
  let east = Math.sin(heading);
  if (lat > MANHATTAN.maxLat || lat < MANHATTAN.minLat) {
    lat = clamp(lat > MANHATTAN.maxLat ? 2 * MANHATTAN.maxLat - lat : 2 * MANHATTAN.minLat - lat, MANHATTAN.minLat, MANHATTAN.maxLat);
    north = -north;
  }
  if (lon > MANHATTAN.maxLon || lon < MANHATTAN.minLon) {
    lon = clamp(lon > MANHATTAN.maxLon ? 2 * MANHATTAN.maxLon - lon : 2 * MANHATTAN.minLon - lon, MANHATTAN.minLon, MANHATTAN.maxLon);
    east = -east;
  }
  return { lat, lon, heading: Math.atan2(east, north) };
}

/**
 * One driving update: speed and heading wander, the car moves for `intervalMs` at its speed, and
 * the battery drains 0.1–0.5 points (never below 0).
 */
export function drive(car: DrivingState, random: Random, intervalMs: number): DrivingState {
  // An empty battery strands the car where it is.
  if (car.battery <= 0) return { ...car, battery: 0, velocity: 0 };
  const velocity = clamp(car.velocity + between(random, -12, 12), 0, MAX_SPEED_KMH);
  const turned = car.heading + between(random, -0.6, 0.6);
  const moved = move(car, turned, (velocity * intervalMs) / 3_600_000);
  return {
    ...car,
    lat: moved.lat,
    lon: moved.lon,
    heading: moved.heading,
    velocity,
    battery: Math.max(0, car.battery - between(random, DRAIN_PER_UPDATE.min, DRAIN_PER_UPDATE.max)),
  };
}

/**
 * Heads straight for `target` at a city speed, covering at least `minKm`; lands on the target (at
 * rest) once it is within reach. The box is convex, so the straight line stays inside it.
 */
export function driveToward(car: DrivingState, target: Position, random: Random, intervalMs: number, minKm = 0): DrivingState {
  const battery = Math.max(0, car.battery - between(random, DRAIN_PER_UPDATE.min, DRAIN_PER_UPDATE.max));
  const velocity = between(random, 25, MAX_SPEED_KMH);
  const km = Math.max((velocity * intervalMs) / 3_600_000, minKm);
  const remaining = distanceKm(car, target);
  if (remaining <= km) return { ...car, lat: target.lat, lon: target.lon, velocity: 0, battery };
  const f = km / remaining;
  const heading = Math.atan2((target.lon - car.lon) * Math.cos((car.lat * Math.PI) / 180), target.lat - car.lat);
  return { ...car, lat: car.lat + (target.lat - car.lat) * f, lon: car.lon + (target.lon - car.lon) * f, heading, velocity, battery };
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** The wire message for a driving car (not plugged in). */
export function drivingStatus(car: DrivingState, timestamp: number): CarStatus {
  return {
    carId: car.carId,
    latitude: round(car.lat, 6),
    longitude: round(car.lon, 6),
    batteryLevel: round(car.battery, 2),
    velocity: round(car.velocity, 2),
    timestamp,
    stationId: '',
    charging: false,
    chargeEnergyKwh: 0,
    pluggedInAt: 0,
    bookingRequest: undefined,
    commandResult: undefined,
  };
}
