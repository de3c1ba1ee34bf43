/**
 * Incidents of a realistic fleet, so the alerts and presence an operator watches for happen at a
 * believable rate (and a demo shows them within its first minute):
 *
 * - **speeding**: a few cars drive above 100 km/h (105–130, on the streets) for 15–30 s, again
 *   every few minutes;
 * - **drop**: a car drops its stream (the call is cancelled) and opens a new one 8–20 s later,
 *   uploading what it recorded meanwhile; again every few minutes;
 * - **vanish**: a car stops sending for good (its stream stays open and silent, it answers no
 *   command): the ingestion marks it offline by its timeout;
 * - **stall**: a car's charger stalls: plugged in and charging, the meter (and the battery) not
 *   rising for `stallMs`, then charging goes on. The meter never decreases within a stay.
 *
 * Which cars, and when, follows from the seed alone (planIncidents); what each car does at a tick
 * is a pure function of its state and the time since the run started (CarIncidents).
 */
import type { CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { between, createRandom, deriveSeed, type Random } from '../car/prng.js';
import { round } from '../car/model.js';
import type { BehaviorConfig, SimCar } from '../car/behavior.js';
import { moveOnStreets } from '../manhattan/streets.js';

export interface Range {
  min: number;
  max: number;
}

export interface IncidentMix {
  speed: number;
  drop: number;
  vanish: number;
  stall: number;
}

export interface IncidentConfig {
  /** Cars given each kind of incident (one kind per car). */
  mix: IncidentMix;
  /** Velocity while speeding, km/h (every sample above 100). */
  speedKmh: Range;
  /** How long one speeding episode lasts, ms (at least 6 updates). */
  speedingMs: Range;
  /** How long a dropped stream stays closed, ms. */
  dropMs: Range;
  /** How long a stalled charger holds the meter, ms. */
  stallMs: number;
  /** Time between a car's speeding episodes (or drops), ms. */
  repeatMs: Range;
  /** When each kind first happens, ms after the start. */
  firstAt: { speed: Range; drop: Range; vanish: Range };
  /** Updates a stay charges normally before its charger stalls. */
  stallAfterUpdates: number;
}

export type IncidentKind = keyof IncidentMix;

/** Cars of a fleet this size given each incident by default: a few speeding, one or two dropping, one vanishing, one stalled charger. */
export function defaultMix(cars: number): IncidentMix {
  const scaled = (per: number, max: number) => Math.max(1, Math.min(max, Math.round(cars / per)));
  return { speed: scaled(100, 10), drop: scaled(150, 10), vanish: 1, stall: scaled(300, 5) };
}

export function defaultIncidentConfig(cars: number, intervalMs: number): IncidentConfig {
  return {
    mix: defaultMix(cars),
    speedKmh: { min: 105, max: 130 },
    // Over 10 s above the limit by the car's timestamps, whatever the interval: at least 6 updates.
    speedingMs: { min: Math.max(15_000, 6 * intervalMs), max: Math.max(30_000, 9 * intervalMs) },
    // Longer than the ingestion's grace (5 s), so the car goes offline and comes back "reconnected".
    dropMs: { min: 8_000, max: 20_000 },
    // Longer than the alert engine's ALERT_STALL_MINUTES (5).
    stallMs: 6 * 60_000,
    repeatMs: { min: 3 * 60_000, max: 6 * 60_000 },
    firstAt: { speed: { min: 10_000, max: 40_000 }, drop: { min: 10_000, max: 40_000 }, vanish: { min: 5_000, max: 25_000 } },
    stallAfterUpdates: 2,
  };
}

/** A car's incident role in a run: which kind, and when its first episode begins (ms after the start). */
export interface Role {
  index: number;
  kind: IncidentKind;
  firstAt: number;
}

/** Battery at least this high at the start: the car will not be off charging in the first minutes, so a speeding or drop episode shows. */
const BUSY_FREE_BATTERY = 40;

/**
 * Which cars get which incident, from the seed: speeders, droppers and vanishers among the cars
 * that start well charged (then any), stalled chargers among the emptiest (they book at once).
 * One kind per car; a fleet too small for the mix gets what fits, in the order stall, speed,
 * drop, vanish.
 */
export function planIncidents(seed: number, batteries: readonly number[], config: IncidentConfig): Role[] {
  const random = createRandom(deriveSeed(seed ^ 0x1c1de7, batteries.length));
  const order = batteries.map((_, i) => i);
  // Fisher–Yates, seeded.
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const taken = new Set<number>();
  const roles: Role[] = [];
  const take = (kind: IncidentKind, count: number, candidates: number[]) => {
    for (const index of candidates) {
      if (roles.filter((r) => r.kind === kind).length >= count) return;
      if (taken.has(index)) continue;
      taken.add(index);
      const first = kind === 'stall' ? 0 : Math.round(between(random, config.firstAt[kind].min, config.firstAt[kind].max));
      roles.push({ index, kind, firstAt: first });
    }
  };
  const emptiest = [...order].sort((a, b) => batteries[a]! - batteries[b]! || a - b);
  take('stall', config.mix.stall, emptiest);
  const charged = order.filter((i) => batteries[i]! >= BUSY_FREE_BATTERY);
  const rest = order.filter((i) => batteries[i]! < BUSY_FREE_BATTERY);
  for (const kind of ['speed', 'drop', 'vanish'] as const) take(kind, config.mix[kind], [...charged, ...rest]);
  return roles.sort((a, b) => a.index - b.index);
}

/** What a car's stream should do at this tick. */
export type StreamAction = { kind: 'none' } | { kind: 'silent' } | { kind: 'drop'; forMs: number };

export interface IncidentCounts {
  speeding: number;
  drops: number;
  vanished: number;
  stalls: number;
}

export const emptyIncidentCounts = (): IncidentCounts => ({ speeding: 0, drops: 0, vanished: 0, stalls: 0 });

/** Said when an episode begins (for the log). */
export type IncidentNote = (text: string, details: Record<string, unknown>) => void;

type Update = (sim: SimCar, now: number, random: Random, cfg: BehaviorConfig) => { sim: SimCar; status: CarStatus };

/** Free to speed: driving on its own (no booking trip, no stay, no operator's hold or trip), battery left. */
function freeDriving(sim: SimCar): boolean {
  return (sim.phase.kind === 'driving' || sim.phase.kind === 'awaiting-booking') && sim.hold === undefined && sim.trip === undefined && sim.car.battery > 0;
}

/**
 * One car's incidents over a run. `elapsed` is ms since the run started; the car's own generator
 * (from the seed and its index) draws durations and speeds, so a run is the same for the same seed.
 */
export class CarIncidents {
  private readonly random: Random;
  /** speed / drop: the current or next episode [start, end). */
  private episode: { start: number; end: number; peak: number } | undefined;
  private stall: { state: 'armed' } | { state: 'stalled'; stay: number; until: number } | { state: 'done' } = { state: 'armed' };
  private silent = false;
  /** Start of the last episode said in the log (each is said and counted once). */
  private announced = -1;
  /** The stay being counted (its plugged_in_at) and the charging updates it has had. */
  private stay = { pluggedInAt: -1, updates: 0 };

  constructor(
    readonly role: Role,
    private readonly config: IncidentConfig,
    seed: number,
    private readonly counts: IncidentCounts = emptyIncidentCounts(),
    private readonly note: IncidentNote = () => {},
    readonly carId = '',
  ) {
    this.random = createRandom(deriveSeed(seed ^ 0x5eed1c, role.index));
    if (role.kind === 'speed' || role.kind === 'drop') this.episode = this.draw(role.firstAt);
  }

  private draw(start: number): { start: number; end: number; peak: number } {
    const range = this.role.kind === 'speed' ? this.config.speedingMs : this.config.dropMs;
    const length = Math.round(between(this.random, range.min, range.max));
    const peak = between(this.random, this.config.speedKmh.min, this.config.speedKmh.max);
    return { start, end: start + length, peak };
  }

  /** The episode in force at `elapsed`, moving on to the next one once it is over. */
  private current(elapsed: number): { start: number; end: number; peak: number } | undefined {
    while (this.episode !== undefined && elapsed >= this.episode.end) {
      this.episode = this.draw(this.episode.end + Math.round(between(this.random, this.config.repeatMs.min, this.config.repeatMs.max)));
    }
    return this.episode !== undefined && elapsed >= this.episode.start ? this.episode : undefined;
  }

  /** The car has vanished: it sends nothing more and answers no command. */
  get vanished(): boolean {
    return this.silent;
  }

  /** What the stream does before this tick: go silent for good, drop for a while, or nothing. */
  streamAction(elapsed: number): StreamAction {
    if (this.silent) return { kind: 'silent' };
    if (this.role.kind === 'vanish' && elapsed >= this.role.firstAt) {
      this.silent = true;
      this.counts.vanished += 1;
      this.note(`${this.carId} vanished: it sends nothing more (incident)`, { car: this.carId, incident: 'vanish' });
      return { kind: 'silent' };
    }
    if (this.role.kind !== 'drop') return { kind: 'none' };
    const episode = this.current(elapsed);
    if (episode === undefined || episode.start === this.announced) return { kind: 'none' };
    this.announced = episode.start;
    this.counts.drops += 1;
    const forMs = episode.end - elapsed;
    this.note(`${this.carId} dropped its stream for ${Math.round(forMs / 1000)} s (incident)`, { car: this.carId, incident: 'drop', forMs });
    return { kind: 'drop', forMs };
  }

  /** The car's update at this tick, with the incident in force applied (speeding, a stalled charger). */
  update(sim: SimCar, now: number, elapsed: number, random: Random, cfg: BehaviorConfig, update: Update): { sim: SimCar; status: CarStatus } {
    if (this.role.kind === 'stall') return this.stalled(sim, now, elapsed, random, cfg, update);
    const next = update(sim, now, random, cfg);
    if (this.role.kind !== 'speed') return next;
    const episode = this.current(elapsed);
    if (episode === undefined || !freeDriving(sim) || !freeDriving(next.sim)) return next;
    if (episode.start !== this.announced) {
      this.announced = episode.start;
      this.counts.speeding += 1;
      this.note(`${this.carId} speeding at about ${Math.round(episode.peak)} km/h for ${Math.round((episode.end - episode.start) / 1000)} s (incident)`, {
        car: this.carId, incident: 'speed', kmh: Math.round(episode.peak),
      });
    }
    // Above the limit on every sample: the peak with a little noise, never at or below 101 km/h.
    const velocity = Math.max(101, episode.peak + between(this.random, -4, 4));
    const extraKm = (Math.max(0, velocity - next.sim.car.velocity) * cfg.intervalMs) / 3_600_000;
    const moved = moveOnStreets(next.sim.car, next.sim.car.heading, extraKm, this.random);
    const car = { ...next.sim.car, lat: moved.lat, lon: moved.lon, heading: moved.heading, velocity };
    return {
      sim: { ...next.sim, car },
      status: { ...next.status, latitude: round(car.lat, 6), longitude: round(car.lon, 6), velocity: round(velocity, 2) },
    };
  }

  /** A stalled charger: still plugged in and charging, no energy flowing; the meter and the battery hold. */
  private stalled(sim: SimCar, now: number, elapsed: number, random: Random, cfg: BehaviorConfig, update: Update): { sim: SimCar; status: CarStatus } {
    const phase = sim.phase;
    const charging = phase.kind === 'charging' && phase.pausedAt === undefined;
    if (this.stall.state === 'stalled' && (!charging || phase.pluggedInAt !== this.stall.stay || elapsed >= this.stall.until)) {
      // Over (or the stay ended under it: unplugged by an operator): charging goes on as before.
      this.stall = { state: 'done' };
    }
    if (charging) {
      if (this.stay.pluggedInAt !== phase.pluggedInAt) this.stay = { pluggedInAt: phase.pluggedInAt, updates: 0 };
      this.stay.updates += 1;
    }
    // After a few updates of charging normally (the meter has risen), the charger stalls.
    if (this.stall.state === 'armed' && charging && phase.energyKwh > 0 && this.stay.updates > this.config.stallAfterUpdates) {
      this.stall = { state: 'stalled', stay: phase.pluggedInAt, until: elapsed + this.config.stallMs };
      this.counts.stalls += 1;
      this.note(`${this.carId}'s charger at ${phase.stationId} stalled for ${Math.round(this.config.stallMs / 1000)} s (incident)`, {
        car: this.carId, incident: 'stall', station: phase.stationId,
      });
    }
    if (this.stall.state !== 'stalled') return update(sim, now, random, cfg);
    // Nothing flows: a gain of 0 leaves meter and battery where they are, and the stay cannot end full.
    return update(sim, now, random, { ...cfg, chargePerUpdate: { min: 0, max: 0 } });
  }

  /** Lowers a stalled charger's car below the booking threshold at the start, so its first stay (and stall) comes within the first minute. */
  static prepare(role: Role, sim: SimCar, cfg: BehaviorConfig): SimCar {
    if (role.kind !== 'stall' || sim.car.battery < cfg.lowBatteryPct) return sim;
    return { ...sim, car: { ...sim.car, battery: Math.max(1, cfg.lowBatteryPct - 1) } };
  }
}
