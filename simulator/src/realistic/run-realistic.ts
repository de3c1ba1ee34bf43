/**
 * Realistic mode: every car is its own stream and timer; it drives, books, charges and drives on
 * (car/behavior.ts), sending one CarStatus per interval, staggered so the fleet's load is even.
 */
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { BookingStatus, type BookingResponse, type CarStatus, type FleetServiceClient, type VehicleCommand } from '@greenlane/common/gen/fleet/fleet';
import { AUTH_REFUSED, CarStream } from '../car-stream.js';
import { createFleetClient } from '../grpc-client.js';
import { carCredentials } from '../credentials.js';
import { channelTls, perCarChannels } from '../tls.js';
import type { ClientTlsConfig, JwtConfig } from '../security-options.js';
import { createLatencyHistogram, recordMs, summarizeMs, type LatencySummaryMs } from '../latency.js';
import { carId } from '../car/model.js';
import { createRandom, deriveSeed, type Random } from '../car/prng.js';
import { currentStatus, defaultBehavior, newSimCar, onBookingResponse, pluggedInAt, update, type BehaviorConfig, type SimCar } from '../car/behavior.js';
import type { Position } from '../car/model.js';
import { obey } from '../car/obey.js';
import { CarCommands, emptyCommandCounts, type CommandCounts } from '../commands/handler.js';
import { commandTypeName } from '../commands/validate.js';
import type { CarriedOut } from '../commands/command-log.js';
import { CarIncidents, emptyIncidentCounts, planIncidents, type IncidentConfig, type IncidentCounts } from './incidents.js';

export interface RealisticOptions {
  target: string;
  /** x-api-token; unset = not sent. */
  token?: string | undefined;
  /** TLS (and client certificates); unset = plaintext. With `certDir` every car has its own channel. */
  tls?: ClientTlsConfig | undefined;
  /** Bearer tokens: fixed, or minted per car (renewed at expiry). */
  jwt?: JwtConfig | undefined;
  cars: number;
  intervalMs: number;
  /** 0 = until stopped. */
  durationSec: number;
  channels: number;
  seed: number;
  carPrefix: string;
  stations: ReadonlyMap<string, Position>;
  /** Overrides of the behaviour (tests use short trips and retries). */
  behavior?: Partial<BehaviorConfig>;
  progress?: (line: string) => void;
  /** Called for every CarStatus the server durably acknowledged (what --acked-log records). */
  onAck?: (status: CarStatus) => void;
  /** Called for every command a car carried out (what --command-log records). */
  onCommandCarriedOut?: (c: CarriedOut) => void;
  /** Speeding, dropped streams, a vanished car, a stalled charger (realistic/incidents.ts); unset = none. */
  incidents?: IncidentConfig;
  stopSignal?: Promise<void>;
  log?: Logger;
}

export interface RealisticSummary {
  mode: 'realistic';
  target: string;
  cars: number;
  sent: number;
  acked: number;
  rejected: number;
  failed: number;
  reconnects: number;
  durationSec: number;
  ackedPerSec: number;
  latencyMs: LatencySummaryMs;
  bookings: { requested: number; confirmed: number; failed: number; expired: number };
  staysCompleted: number;
  chargingNow: number;
  commands: CommandCounts;
  /** Incidents begun (with --incidents on). */
  incidents?: IncidentCounts;
  firstError?: string;
  /** Set when the server refused the token: the run stopped at once (every car would be refused). */
  refusedToken?: string;
}

/** Unacknowledged messages a car keeps while the service is away; beyond it the car waits. */
const MAX_UNACKED_PER_CAR = 1_000;

interface RunningCar {
  sim: SimCar;
  random: Random;
  stream: CarStream;
  commands: CarCommands;
  /** Timestamp of the car's last CarStatus: each one is later, so none shares a timestamp (nor an event_id). */
  lastTimestamp: number;
  timer?: NodeJS.Timeout;
  incidents?: CarIncidents;
}

/** The car's clock: now, but always after its previous message. */
function nextTimestamp(car: RunningCar): number {
  car.lastTimestamp = Math.max(Date.now(), car.lastTimestamp + 1);
  return car.lastTimestamp;
}

export async function runRealistic(options: RealisticOptions): Promise<RealisticSummary> {
  const behavior: BehaviorConfig = { ...defaultBehavior(options.intervalMs, options.stations), ...options.behavior };
  // Realistic cars always understand operators' commands.
  const credentialsFor = await carCredentials({ apiToken: options.token, jwt: options.jwt, commands: true });
  const clients: FleetServiceClient[] = [];
  if (perCarChannels(options.tls)) {
    // --cert-dir: each car its own connection with its own certificate (the server knows the car by it).
    for (let i = 0; i < options.cars; i++) clients.push(createFleetClient(options.target, i, channelTls(options.tls!, carId(i, options.carPrefix))));
  } else {
    const tls = options.tls === undefined ? undefined : channelTls(options.tls);
    const channelCount = Math.max(1, Math.min(options.channels, options.cars));
    for (let c = 0; c < channelCount; c++) clients.push(createFleetClient(options.target, c, tls));
  }

  const histogram = createLatencyHistogram();
  const counts = { sent: 0, acked: 0, rejected: 0, reconnects: 0 };
  const bookings = { requested: 0, confirmed: 0, failed: 0, expired: 0 };
  const commandCounts = emptyCommandCounts();
  let firstError: string | undefined;
  let running = true;
  let refusedToken: string | undefined;
  let onRefused: () => void = () => {};
  const refused = new Promise<void>((resolve) => (onRefused = resolve));

  const cars: RunningCar[] = [];
  for (let i = 0; i < options.cars; i++) {
    // One generator per car, so a car's path depends only on the seed and its index.
    const random = createRandom(deriveSeed(options.seed, i));
    const car: RunningCar = {
      sim: newSimCar(carId(i, options.carPrefix), random),
      random,
      stream: undefined as unknown as CarStream,
      commands: new CarCommands(commandCounts),
      lastTimestamp: 0,
    };
    car.stream = new CarStream(clients[i % clients.length]!, credentialsFor(car.sim.car.carId), {
      onAck: (message, response) => {
        const asked = message.status.bookingRequest !== undefined;
        if (response.status === BookingStatus.BOOKING_FAILED && !asked) {
          // A plain CarStatus answered FAILED: the server refused it (validation).
          counts.rejected += 1;
          firstError ??= `refused: ${response.message}`;
          return;
        }
        counts.acked += 1;
        recordMs(histogram, performance.now() - message.startedAt);
        options.onAck?.(message.status);
        if (asked) answer(car, response);
      },
      onNotice: (response) => answer(car, response),
      onCommand: (command) => obeyCommand(car, command),
      onRejected: (messages, error) => {
        counts.rejected += messages.length;
        if (firstError === undefined) {
          firstError = error.message;
          options.log?.error({ code: error.code, car: car.sim.car.carId }, `stream refused: ${error.message}`);
        }
        if (AUTH_REFUSED.has(error.code) && refusedToken === undefined) {
          refusedToken = error.message;
          onRefused();
        }
      },
      onDisconnect: (error, delayMs) => {
        counts.reconnects += 1;
        options.log?.debug({ car: car.sim.car.carId, err: error?.message, delayMs },
          error?.code === grpc.status.UNAUTHENTICATED ? 'token expired; reconnecting with a fresh one' : 'stream broke; reconnecting');
      },
    });
    cars.push(car);
  }

  // Which cars get an incident, and when, from the seed (realistic/incidents.ts).
  const incidentCounts = emptyIncidentCounts();
  if (options.incidents) {
    for (const role of planIncidents(options.seed, cars.map((c) => c.sim.car.battery), options.incidents)) {
      const car = cars[role.index]!;
      car.sim = CarIncidents.prepare(role, car.sim, behavior);
      const note = (text: string, details: Record<string, unknown>) => options.log?.info(details, text);
      car.incidents = new CarIncidents(role, options.incidents, options.seed, incidentCounts, note, car.sim.car.carId);
    }
  }
  const runStart = Date.now();

  function answer(car: RunningCar, response: BookingResponse): void {
    if (response.status === BookingStatus.BOOKING_CONFIRMED) bookings.confirmed += 1;
    else if (response.status === BookingStatus.BOOKING_FAILED) bookings.failed += 1;
    else if (response.status === BookingStatus.BOOKING_EXPIRED) bookings.expired += 1;
    car.sim = onBookingResponse(car.sim, response, Date.now(), behavior);
  }

  /** Judges the command, carries it out at most once, and answers it at once with the car's state. */
  function obeyCommand(car: RunningCar, command: VehicleCommand): void {
    // A car whose stream is closing could not answer: it leaves the command to be sent again. A vanished car answers nothing.
    if (!car.stream.usable || car.incidents?.vanished) return;
    const now = nextTimestamp(car);
    const id = car.sim.car.carId;
    const decision = car.commands.receive(command, { carId: id, pluggedInAt: pluggedInAt(car.sim) }, now, (c) => {
      const obeyed = obey(car.sim, c, now);
      if (obeyed.execution.accepted) car.sim = obeyed.sim;
      return obeyed.execution;
    });
    const type = commandTypeName(command.type);
    if (decision.carriedOut) {
      options.log?.info({ car: id, command_id: command.commandId, type, note: decision.result.reason || undefined }, `${id} obeyed ${type}`);
      options.onCommandCarriedOut?.({ commandId: command.commandId, carId: id, type, at: now });
    } else if (!decision.duplicate) {
      options.log?.info({ car: id, command_id: command.commandId, type, reason: decision.result.reason }, `${id} rejected ${type}: ${decision.result.reason}`);
    } else {
      options.log?.debug({ car: id, command_id: command.commandId, type }, `${id} answered a repeat of ${type} again`);
    }
    car.stream.send({ ...currentStatus(car.sim, now), commandResult: decision.result }, performance.now());
    counts.sent += 1;
  }

  function tick(car: RunningCar): void {
    if (!running || !car.stream.usable || car.stream.inflight >= MAX_UNACKED_PER_CAR) return;
    const incidents = car.incidents;
    const elapsed = Date.now() - runStart;
    const action = incidents?.streamAction(elapsed);
    if (action?.kind === 'silent') return;
    if (action?.kind === 'drop') car.stream.drop(action.forMs);
    const now = nextTimestamp(car);
    const next = incidents ? incidents.update(car.sim, now, elapsed, car.random, behavior, update) : update(car.sim, now, car.random, behavior);
    car.sim = next.sim;
    if (next.status.bookingRequest) bookings.requested += 1;
    car.stream.send(next.status, performance.now());
    counts.sent += 1;
  }

  const started = performance.now();
  cars.forEach((car, i) => {
    car.stream.start();
    const offset = Math.floor((i * options.intervalMs) / options.cars);
    car.timer = setTimeout(() => {
      tick(car);
      car.timer = setInterval(() => tick(car), options.intervalMs);
    }, offset);
  });

  const chargingNow = () => cars.filter((c) => c.sim.phase.kind === 'charging').length;
  const staysCompleted = () => cars.reduce((n, c) => n + c.sim.stays, 0);
  const ticker = options.progress
    ? setInterval(() => {
        const elapsed = (performance.now() - started) / 1000;
        options.progress!(
          `[${elapsed.toFixed(0).padStart(4)}s] ${options.cars} cars  sent ${counts.sent}  acked ${counts.acked}  rejected ${counts.rejected}` +
            `  bookings ${bookings.confirmed}/${bookings.requested} (failed ${bookings.failed}, expired ${bookings.expired})` +
            `  charging ${chargingNow()}  stays ${staysCompleted()}  reconnects ${counts.reconnects}`,
        );
      }, 1000)
    : undefined;

  let durationTimer: NodeJS.Timeout | undefined;
  await Promise.race([
    options.durationSec > 0 ? new Promise((resolve) => (durationTimer = setTimeout(resolve, options.durationSec * 1000))) : new Promise(() => {}),
    options.stopSignal ?? new Promise(() => {}),
    refused,
  ]);
  // A run stopped early (a refusal, Ctrl+C) must not wait out its duration before the process can exit.
  clearTimeout(durationTimer);
  running = false;
  for (const car of cars) {
    clearTimeout(car.timer);
    clearInterval(car.timer);
  }
  clearInterval(ticker);
  // A car that dropped its stream opens it now, so what it queued can be acknowledged before the end.
  for (const car of cars) car.stream.reconnectNow();
  // What is still in flight gets a few seconds to be acknowledged before it counts as failed.
  const deadline = performance.now() + 5_000;
  while (cars.some((c) => c.stream.inflight > 0) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const elapsedSec = (performance.now() - started) / 1000;
  const unacked = cars.reduce((n, c) => n + c.stream.inflight, 0);
  await Promise.all(cars.map((c) => c.stream.close(1_000)));
  for (const client of clients) client.close();

  return {
    mode: 'realistic',
    target: options.target,
    cars: options.cars,
    sent: counts.sent,
    acked: counts.acked,
    rejected: counts.rejected,
    failed: unacked,
    reconnects: counts.reconnects,
    durationSec: Math.round(elapsedSec * 1000) / 1000,
    ackedPerSec: Math.round(counts.acked / elapsedSec),
    latencyMs: summarizeMs(histogram),
    bookings,
    staysCompleted: staysCompleted(),
    chargingNow: chargingNow(),
    commands: { ...commandCounts },
    ...(options.incidents ? { incidents: { ...incidentCounts } } : {}),
    ...(firstError ? { firstError } : {}),
    ...(refusedToken ? { refusedToken } : {}),
  };
}
