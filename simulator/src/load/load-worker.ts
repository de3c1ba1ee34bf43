/**
 * A load-mode worker thread: drives its share of the cars over its share of the channels, paced
 * by --rate or by acknowledgements, and records every message's send→ack latency.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { BookingStatus, type BookingResponse, type FleetServiceClient, type VehicleCommand } from '@greenlane/common/gen/fleet/fleet';
import { AUTH_REFUSED, CarStream, type PendingStatus, type StreamCredentials } from '../car-stream.js';
import { createFleetClient } from '../grpc-client.js';
import { carCredentials } from '../credentials.js';
import { channelTls, perCarChannels } from '../tls.js';
import { createLatencyHistogram, encodeHistogram, recordMs } from '../latency.js';
import { carId, drive, drivingStatus, newCar, type DrivingState } from '../car/model.js';
import { createRandom, deriveSeed } from '../car/prng.js';
import { emptyCounts, type FromWorker, type LoadWorkerConfig, type ToWorker } from './protocol.js';
import { CarCommands } from '../commands/handler.js';
import { commandTypeName } from '../commands/validate.js';
import { commandLogLine } from '../commands/command-log.js';

if (!parentPort) throw new Error('load-worker must run as a worker thread');
const port = parentPort;
const config = workerData as LoadWorkerConfig;
const post = (message: FromWorker) => port.postMessage(message);

const random = createRandom(deriveSeed(config.seed, config.workerIndex));
const histogram = createLatencyHistogram();
/** Paced runs: how late the generator itself hands each measured message to its stream (due → sent). */
const sendLag = createLatencyHistogram();
const counts = emptyCounts();
// The signing key (with --jwt-key) is imported here, in each thread: key objects do not cross threads.
const credentialsFor = await carCredentials({ apiToken: config.token, jwt: config.jwt, commands: config.commands });
const perCar = perCarChannels(config.tls);
const sharedTls = config.tls === undefined || perCar ? undefined : channelTls(config.tls);
const clients: FleetServiceClient[] = [];
if (perCar) {
  // --cert-dir: car i's own connection, with its own certificate (the server knows the car by it).
  for (let i = 0; i < config.cars; i++) clients.push(createFleetClient(config.target, config.firstChannel + i, channelTls(config.tls!, carId(config.firstCar + i, config.carPrefix))));
} else {
  for (let c = 0; c < config.channels; c++) clients.push(createFleetClient(config.target, config.firstChannel + c, sharedTls));
}

interface LoadCar {
  state: DrivingState;
  stream: CarStream;
  credentials: StreamCredentials;
  commands: CarCommands;
  /** Timestamp of its last CarStatus; each one is later (a command's answer may come within the same ms as a tick). */
  lastTimestamp: number;
}

function nextTimestamp(car: LoadCar): number {
  car.lastTimestamp = Math.max(Date.now(), car.lastTimestamp + 1);
  return car.lastTimestamp;
}

/** --command-log lines not yet handed to the main thread. */
let commandLogLines = '';
function flushCommandLog(): void {
  if (commandLogLines === '') return;
  post({ type: 'command-log', lines: commandLogLines });
  commandLogLines = '';
}

let running = false;
/** Set once the counts went to the main thread: a command then is left unanswered (and uncounted). */
let draining = false;
/** Messages due before this performance.now() are the warm-up's (set at 'go'). */
let measureFrom = Infinity;
let firstError: string | undefined;
let refusalReported = false;

const cars: LoadCar[] = [];
for (let i = 0; i < config.cars; i++) {
  const client = clients[i % clients.length]!;
  const id = carId(config.firstCar + i, config.carPrefix);
  const car: LoadCar = {
    state: newCar(id, random),
    stream: undefined as unknown as CarStream,
    credentials: credentialsFor(id),
    commands: new CarCommands(counts.commands),
    lastTimestamp: 0,
  };
  car.stream = new CarStream(client, car.credentials, {
    onAck: (message: PendingStatus, response: BookingResponse) => {
      // Load mode never asks for a booking, so a FAILED answer is the server refusing the message.
      if (response.status === BookingStatus.BOOKING_FAILED) {
        counts.rejected += 1;
        firstError ??= `BOOKING_FAILED: ${response.message}`;
      } else if (message.startedAt < measureFrom) {
        counts.warmupAcked += 1;
      } else {
        counts.acked += 1;
        recordMs(histogram, performance.now() - message.startedAt);
      }
      // A command's answer was sent beside the pacing: its ack must not add a message in flight.
      if (running && config.ratePerSec === undefined && message.status.commandResult === undefined) sendNext(car, performance.now());
    },
    onCommand: (command) => answerCommand(car, command),
    onRejected: (messages, error) => {
      counts.rejected += messages.length;
      firstError ??= error.message;
      if (AUTH_REFUSED.has(error.code) && !refusalReported) {
        refusalReported = true;
        post({ type: 'refused', error: error.message });
      }
    },
    onDisconnect: (error) => {
      counts.reconnects += 1;
      if (error) firstError ??= error.message;
    },
  });
  cars.push(car);
}

function sendNext(car: LoadCar, startedAt: number): void {
  if (!car.stream.usable) return;
  car.state = drive(car.state, random, config.intervalMs);
  // A load run outlasts any battery; recharge instantly before the critical zone, so a load test
  // does not flood the operators' screens with battery alerts.
  if (car.state.battery < 20) car.state = { ...car.state, battery: 100 };
  if (config.ratePerSec !== undefined && startedAt >= measureFrom) recordMs(sendLag, performance.now() - startedAt);
  car.stream.send(drivingStatus(car.state, nextTimestamp(car)), startedAt);
  counts.sent += 1;
}

/**
 * Load cars carry out nothing but the bookkeeping: each valid command is accepted (once per id),
 * answered at once with the car's state, and logged with --command-log.
 */
function answerCommand(car: LoadCar, command: VehicleCommand): void {
  if (!car.stream.usable || draining) return;
  const now = nextTimestamp(car);
  // Load cars are never plugged in: START_CHARGING and STOP_CHARGING are answered rejected.
  const decision = car.commands.receive(command, { carId: car.state.carId, pluggedInAt: undefined }, now, () => ({ accepted: true }));
  if (decision.carriedOut && config.commandLog) {
    commandLogLines += commandLogLine({ commandId: command.commandId, carId: car.state.carId, type: commandTypeName(command.type), at: now });
  }
  car.stream.send({ ...drivingStatus(car.state, now), commandResult: decision.result }, performance.now());
  counts.sent += 1;
}

let pacer: NodeJS.Timeout | undefined;

function startRatePaced(rate: number): void {
  const t0 = performance.now();
  let generated = 0;
  let next = 0;
  pacer = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) * rate) / 1000);
    while (generated < due) {
      // Latency counts from when the message was due, not when it went out, so a generator or
      // server that falls behind shows in the figures (no coordinated omission).
      const scheduled = t0 + (generated * 1000) / rate;
      generated += 1;
      let taken = false;
      for (let tries = 0; tries < cars.length; tries++) {
        const car = cars[next]!;
        next = (next + 1) % cars.length;
        if (car.stream.usable && car.stream.inflight < config.maxPendingPerCar) {
          sendNext(car, scheduled);
          taken = true;
          break;
        }
      }
      if (!taken) counts.skipped += 1;
    }
  }, 2);
}

function inflight(): number {
  let n = 0;
  for (const car of cars) n += car.stream.inflight;
  return n;
}

const progress = setInterval(() => {
  flushCommandLog();
  post({ type: 'progress', counts: { ...counts, commands: { ...counts.commands } }, inflight: inflight() });
}, 250);

async function stop(): Promise<void> {
  running = false;
  clearInterval(pacer);
  const deadline = performance.now() + config.drainMs;
  while (inflight() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  clearInterval(progress);
  counts.failed = counts.sent - counts.acked - counts.warmupAcked - counts.rejected;
  draining = true;
  flushCommandLog();
  post({ type: 'drained', counts: { ...counts, commands: { ...counts.commands } }, histogram: encodeHistogram(histogram), sendLag: encodeHistogram(sendLag), ...(firstError ? { firstError } : {}) });
  await Promise.all(cars.map((car) => car.stream.close(1_000)));
  for (const client of clients) client.close();
  post({ type: 'closed' });
  port.close();
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'go') {
    running = true;
    measureFrom = performance.now() + config.warmupMs;
    for (const car of cars) car.stream.start();
    if (config.ratePerSec === undefined) {
      const now = performance.now();
      for (const car of cars) for (let k = 0; k < config.inflight; k++) sendNext(car, now);
    } else if (config.ratePerSec > 0) {
      startRatePaced(config.ratePerSec);
    }
  } else if (message.type === 'stop') {
    void stop();
  }
});

// Connect every channel before reporting ready, so the run (and a paced run's latency, counted
// from when each message was due) does not include the TCP and HTTP/2 handshakes. A target that
// does not answer within 10 s is left to the streams' own reconnects.
const connectBy = Date.now() + 10_000;
// Tokens too (--jwt-key): each car's first is minted now, not on the clock of the first message.
await Promise.all([
  ...clients.map((client) => new Promise<void>((resolve) => client.waitForReady(connectBy, () => resolve()))),
  ...cars.map((car) => Promise.resolve(car.credentials.metadata()).then(() => undefined, () => undefined)),
]);
post({ type: 'ready' });
