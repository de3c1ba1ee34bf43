/**
 * The StreamTelemetry handler and the registry of open streams. One CarStatus goes, in a straight
 * line: validate → Redis and Kafka (the storage thread, batched with every other stream's
 * messages) → bookings, when there is a desk → acknowledgement on the same stream, in the order
 * the car sent its messages.
 *
 * Flow control: messages accepted and not yet acknowledged are counted per stream and for the
 * whole process. At a bound, or while the car does not read its acknowledgements, the stream is
 * paused: grpc-js then stops reading it from HTTP/2 and flow control holds the car back, so memory
 * stays bounded however fast cars send. A message still unacknowledged after the ack timeout (Kafka
 * or Redis down) fails its stream with UNAVAILABLE, and so do new streams while storage is stalled
 * and the budget is spent; cars retry, and the service recovers by itself when storage is back.
 */
import { performance } from 'node:perf_hooks';
import { status as GrpcStatus, type ServerDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { CAPABILITIES_HEADER, COMMANDS_CAPABILITY, type Logger } from '@greenlane/common';
import { BookingStatus, type BookingResponse, type CarStatus, type VehicleCommand } from '@greenlane/common/gen/fleet/fleet';
import { TokenBuckets } from '@greenlane/common/token-bucket';
import { identityOf, type VehicleIdentity } from './auth.js';
import type { BookingDesk } from './bookings-bridge.js';
import type { CommandDelivery } from './commands/delivery.js';
import type { DisconnectReason, PresenceTracker } from './presence/tracker.js';
import type { IngestionConfig } from './config.js';
import type { IngestionMetrics } from './metrics.js';
import type { Storage, StoreOutcome, StoreWaiter } from './storage.js';
import { validateCarStatus } from './validate.js';

type Call = ServerDuplexStream<CarStatus, BookingResponse>;

/** One message of a stream, from its arrival to its answer; it waits for the storage itself. */
class Pending implements StoreWaiter {
  response: BookingResponse | undefined = undefined;
  /** Stored in Redis and Kafka (false for a rejected or refused message). */
  stored = false;
  constructor(
    private readonly hub: StreamHub,
    readonly session: Session,
    readonly status: CarStatus,
    readonly receivedAt: number,
  ) {}

  storeDone(outcome: StoreOutcome): void {
    this.hub.stored(this, outcome);
  }

  storeFailed(error: unknown): void {
    this.hub.storeFailed(this, error);
  }
}

class Session {
  readonly connectedSince = new Date();
  carId = '';
  messages = 0;
  readonly pending: Pending[] = [];
  inFlight = 0;
  paused = false;
  pausedSince = 0;
  writeBlocked = false;
  halfClosed = false;
  closed = false;
  /** Why the stream ended, for the car_disconnected event (the car's own close unless the server ended it). */
  endReason: DisconnectReason = 'car_closed';
  /** Ends the stream when its credential expires. */
  expiryTimer: NodeJS.Timeout | undefined = undefined;
  constructor(
    readonly id: number,
    readonly call: Call,
    readonly peer: string,
    /** The car declared it understands commands: only then does it receive any. */
    readonly commands: boolean,
    /** Who the connection proved to be; a bound carId is the only car it may speak for. */
    readonly identity: VehicleIdentity | undefined,
  ) {}
}

const CREDENTIAL_NAMES = { certificate: 'client certificate CN', jwt: 'token sub', api_token: 'token' } as const;

/** Node's timers hold at most 2^31-1 ms; a longer credential is re-armed on the way. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Whether the call's metadata declares the `commands` capability (a comma-separated list). */
function declaresCommands(call: Call): boolean {
  return call.metadata
    .get(CAPABILITIES_HEADER)
    .some((value) => String(value).split(',').some((c) => c.trim().toLowerCase() === COMMANDS_CAPABILITY));
}

export interface StreamHubDeps {
  cfg: IngestionConfig;
  log: Logger;
  metrics: IngestionMetrics;
  storage: Pick<Storage, 'store' | 'stalled'>;
  desk?: BookingDesk | undefined;
}

export interface ConnectionInfo {
  car_id: string;
  peer: string;
  connected_since: string;
  messages: number;
  in_flight: number;
  paused: boolean;
}

function serviceError(code: GrpcStatus, details: string): Partial<ServiceError> {
  return { code, details, message: details };
}

export class StreamHub {
  private readonly sessions = new Set<Session>();
  private readonly byCar = new Map<string, Session>();
  private readonly waitingForBudget = new Set<Session>();
  private inFlight = 0;
  private nextId = 1;
  private draining = false;
  private readonly sweeper: NodeJS.Timeout;
  private readonly lowWater: number;
  private idleWaiters: Array<() => void> = [];
  private readonly carBuckets: TokenBuckets;
  desk: BookingDesk | undefined;
  commands: CommandDelivery | undefined;
  presence: PresenceTracker | undefined;

  constructor(private readonly deps: StreamHubDeps) {
    this.desk = deps.desk;
    this.carBuckets = new TokenBuckets(deps.cfg.carRate);
    this.lowWater = Math.floor(deps.cfg.maxInFlight * 0.75);
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, deps.cfg.ackTimeoutMs / 2));
    this.sweeper.unref();
  }

  get activeStreams(): number {
    return this.sessions.size;
  }

  get inFlightMessages(): number {
    return this.inFlight;
  }

  /** The grpc-js handler of /fleet.FleetService/StreamTelemetry. */
  readonly handle = (call: Call): void => {
    const { cfg, metrics } = this.deps;
    if (this.draining) return this.refuse(call, GrpcStatus.UNAVAILABLE, 'server is shutting down; reconnect', 'draining');
    if (this.sessions.size >= cfg.maxStreams) {
      return this.refuse(call, GrpcStatus.RESOURCE_EXHAUSTED, `too many streams (${cfg.maxStreams}); retry later`, 'overloaded');
    }
    if (this.inFlight >= cfg.maxInFlight && this.deps.storage.stalled) {
      return this.refuse(call, GrpcStatus.UNAVAILABLE, 'storage unavailable; retry later', 'overloaded');
    }
    const session = new Session(this.nextId++, call, call.getPeer(), declaresCommands(call), identityOf(call.metadata));
    this.sessions.add(session);
    metrics.activeStreams.inc();
    this.armExpiry(session);
    call.on('data', (status: CarStatus) => this.receive(session, status));
    call.on('end', () => {
      session.halfClosed = true;
      this.writeAcks(session);
    });
    call.on('drain', () => {
      session.writeBlocked = false;
      this.updateFlow(session);
    });
    call.on('cancelled', () => this.close(session));
    call.on('error', () => {
      if (!session.closed) session.endReason = 'error';
    });
    call.on('finish', () => this.close(session));
    call.on('close', () => this.close(session));
  };

  /** A stream lives no longer than its credential: at expiry it ends UNAUTHENTICATED and the car reconnects with a new one. */
  private armExpiry(session: Session): void {
    const expiresAt = session.identity?.expiresAt;
    if (expiresAt === undefined || session.closed) return;
    const leftMs = expiresAt - Date.now();
    if (leftMs <= 0) {
      this.deps.metrics.credentialExpired.inc();
      this.fail(session, GrpcStatus.UNAUTHENTICATED, 'bearer token expired; reconnect with a new token', 'credential_expired');
      return;
    }
    session.expiryTimer = setTimeout(() => this.armExpiry(session), Math.min(leftMs, MAX_TIMER_MS));
    session.expiryTimer.unref();
  }

  private refuse(call: Call, code: GrpcStatus, details: string, kind: 'draining' | 'overloaded'): void {
    this.deps.metrics.error(kind);
    call.emit('error', serviceError(code, details));
  }

  private receive(session: Session, status: CarStatus): void {
    const entry = new Pending(this, session, status, performance.now());
    session.messages++;
    session.pending.push(entry);
    const fault = validateCarStatus(status);
    if (fault !== undefined) {
      this.deps.metrics.rejected.inc();
      entry.response = response(status, BookingStatus.BOOKING_FAILED, fault);
      this.writeAcks(session);
      return;
    }
    const identity = session.identity;
    if (identity?.carId !== undefined && identity.carId !== status.carId) {
      this.deps.metrics.identityMismatch.inc({ credential: identity.credential });
      entry.response = response(
        status,
        BookingStatus.BOOKING_FAILED,
        `not stored: car_id ${JSON.stringify(status.carId)} is not this connection's identity ${JSON.stringify(identity.carId)} (${CREDENTIAL_NAMES[identity.credential]}): a car speaks only for itself`,
      );
      this.writeAcks(session);
      return;
    }
    const admitted = this.carBuckets.take(status.carId);
    if (!admitted.ok) {
      this.deps.metrics.rateLimited.inc({ limit: 'car' });
      const { ratePerSecond, burst } = this.deps.cfg.carRate;
      entry.response = response(status, BookingStatus.BOOKING_FAILED, `rate limited: not stored: ${status.carId} is over ${ratePerSecond} messages/s (burst ${burst}); retry after ${admitted.retryAfterMs} ms`);
      this.writeAcks(session);
      return;
    }
    if (session.carId !== status.carId) this.carOnSession(session, status.carId);
    else this.presence?.seen(status.carId);
    if (status.commandResult !== undefined) this.commands?.result(status);
    this.inFlight++;
    session.inFlight++;
    this.updateFlow(session);
    this.deps.storage.store(status, entry);
  }

  /** The stream now speaks for `carId`: it is where the car's answers and commands go. */
  private carOnSession(session: Session, carId: string): void {
    if (session.carId !== '') this.leaveCar(session);
    session.carId = carId;
    this.byCar.set(carId, session);
    this.presence?.connected(carId, session.peer);
    if (session.commands) this.commands?.carConnected(carId);
  }

  private leaveCar(session: Session): void {
    if (session.carId === '') return;
    // A newer stream of the car here holds it: this one's end is a disconnection, not a closing.
    const holds = this.byCar.get(session.carId) === session;
    this.presence?.disconnected(session.carId, session.peer, session.endReason, holds);
    if (!holds) return;
    this.byCar.delete(session.carId);
    if (session.commands) this.commands?.carDisconnected(session.carId);
  }

  /** The storage's answer for one message (Pending.storeDone). */
  stored(entry: Pending, outcome: StoreOutcome): void {
    const { status } = entry;
    if (outcome.refused !== undefined) return this.answer(entry, refusedAnswer(status, outcome.refused), false);
    if (this.desk === undefined) this.answer(entry, ack(status));
    else void this.book(status, outcome.late).then((answer) => this.answer(entry, answer));
  }

  /** Its batch failed as a whole (Pending.storeFailed): the stream fails, the car resends. */
  storeFailed(entry: Pending, error: unknown): void {
    this.deps.log.error({ err: error, car_id: entry.status.carId }, 'could not store a CarStatus');
    this.release(entry.session);
    this.fail(entry.session, GrpcStatus.UNAVAILABLE, 'storage error; resend what was not acknowledged', 'error');
  }

  /** The CarStatus of `entry` is settled (durable, unless `stored` is false) and `answer` is its reply: answer in order. */
  private answer(entry: Pending, answer: BookingResponse, stored = true): void {
    entry.response = answer;
    entry.stored = stored;
    this.release(entry.session);
    this.writeAcks(entry.session);
  }

  /**
   * After the telemetry is durable: the booking desk sees it (unless it is late: the desk follows
   * the car's newest state, as the live index does), and answers a booking request.
   */
  private async book(status: CarStatus, late: boolean): Promise<BookingResponse> {
    const desk = this.desk!;
    try {
      if (!late) await desk.observe(status);
      if (status.bookingRequest !== undefined) return await desk.request(status);
    } catch (error) {
      this.deps.metrics.error('booking');
      this.deps.log.error({ err: error, car_id: status.carId }, 'booking desk failed');
      if (status.bookingRequest !== undefined) {
        return response(status, BookingStatus.BOOKING_FAILED, 'booking could not be processed; telemetry stored; ask again');
      }
    }
    return ack(status);
  }

  /** Writes the answers that are ready, in the order the messages arrived. */
  private writeAcks(session: Session): void {
    const { pending, call } = session;
    if (session.closed) return;
    const now = performance.now();
    let accepted = 0;
    while (pending.length > 0 && pending[0]!.response !== undefined) {
      const entry = pending.shift()!;
      if (entry.stored) accepted++;
      this.deps.metrics.ackLatency.observe((now - entry.receivedAt) / 1000);
      if (!call.write(entry.response!)) session.writeBlocked = true;
    }
    if (accepted > 0) this.deps.metrics.accepted.inc(accepted);
    if (session.writeBlocked) this.updateFlow(session);
    if (session.halfClosed && pending.length === 0) {
      session.closed = true;
      call.end();
      this.close(session);
    }
  }

  private release(session: Session): void {
    this.inFlight--;
    session.inFlight--;
    if (session.paused) this.updateFlow(session);
    if (this.waitingForBudget.size > 0 && this.inFlight <= this.lowWater) {
      for (const waiting of this.waitingForBudget) {
        this.waitingForBudget.delete(waiting);
        this.updateFlow(waiting);
      }
    }
    if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Pauses or resumes reading a stream according to the budgets and the car's reading. */
  private updateFlow(session: Session): void {
    if (session.closed) return;
    const overBudget = this.inFlight >= this.deps.cfg.maxInFlight;
    const shouldPause =
      this.draining || session.writeBlocked || overBudget || session.inFlight >= this.deps.cfg.maxInFlightPerStream;
    if (overBudget) this.waitingForBudget.add(session);
    if (shouldPause && !session.paused) {
      session.paused = true;
      session.pausedSince = Date.now();
      this.deps.metrics.streamPauses.inc({
        reason: this.draining ? 'draining' : session.writeBlocked ? 'car_not_reading' : overBudget ? 'process_budget' : 'stream_budget',
      });
      session.call.pause();
    } else if (!shouldPause && session.paused) {
      session.paused = false;
      session.call.resume();
    }
  }

  private fail(session: Session, code: GrpcStatus, details: string, reason: DisconnectReason): void {
    if (session.closed) return;
    session.closed = true;
    session.endReason = reason;
    session.call.emit('error', serviceError(code, details));
    this.close(session);
  }

  private close(session: Session): void {
    session.closed = true;
    clearTimeout(session.expiryTimer);
    if (!this.sessions.delete(session)) return;
    this.deps.metrics.activeStreams.dec();
    this.waitingForBudget.delete(session);
    this.leaveCar(session);
  }

  /** Fails streams whose oldest message has waited longer than the ack timeout. */
  private sweep(): void {
    const limit = this.deps.cfg.ackTimeoutMs;
    const nowPerf = performance.now();
    const nowWall = Date.now();
    for (const session of this.sessions) {
      const oldest = session.pending[0];
      const waitedMs = oldest !== undefined && oldest.response === undefined ? nowPerf - oldest.receivedAt : 0;
      const starvedMs = session.paused && !session.writeBlocked ? nowWall - session.pausedSince : 0;
      if (waitedMs > limit || starvedMs > limit) {
        this.deps.metrics.error('ack_timeout');
        this.fail(session, GrpcStatus.UNAVAILABLE, `not acknowledged within ${limit} ms (storage unavailable); resend what was not acknowledged`, 'ack_timeout');
      }
    }
  }

  /** Writes a message to a car's stream on this instance; false when the car is not connected here. */
  notifyCar(carId: string, message: BookingResponse): boolean {
    const session = this.byCar.get(carId);
    if (session === undefined || session.closed) return false;
    session.call.write(message);
    return true;
  }

  /** Writes an operator's command to the car's commands-capable stream here; false when there is none. */
  writeCommand(carId: string, command: VehicleCommand): boolean {
    const session = this.byCar.get(carId);
    if (session === undefined || session.closed || !session.commands) return false;
    session.call.write({ bookingId: '', carId, stationId: '', status: BookingStatus.BOOKING_UNKNOWN, message: '', timestamp: Date.now(), priceRate: 0, command });
    return true;
  }

  /** The cars whose commands-capable streams are open here. */
  *commandCars(): Iterable<string> {
    for (const [carId, session] of this.byCar) if (session.commands && !session.closed) yield carId;
  }

  connections(): ConnectionInfo[] {
    return [...this.sessions].map((s) => ({
      car_id: s.carId,
      peer: s.peer,
      connected_since: s.connectedSince.toISOString(),
      messages: s.messages,
      in_flight: s.inFlight,
      paused: s.paused,
    }));
  }

  /**
   * Shutdown, step one: stop reading every stream, wait (at most timeoutMs) until what is in flight
   * is acknowledged, then end every stream with UNAVAILABLE so cars reconnect elsewhere and resend
   * what was not acknowledged.
   */
  async drain(timeoutMs: number): Promise<{ unacknowledged: number }> {
    this.draining = true;
    for (const session of this.sessions) this.updateFlow(session);
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      ]);
      clearTimeout(timer);
    }
    const unacknowledged = this.inFlight;
    for (const session of [...this.sessions]) this.fail(session, GrpcStatus.UNAVAILABLE, 'server is shutting down; reconnect', 'server_shutdown');
    clearInterval(this.sweeper);
    return { unacknowledged };
  }
}

function response(status: CarStatus, code: BookingStatus, message: string): BookingResponse {
  return { bookingId: '', carId: status.carId, stationId: '', status: code, message, timestamp: status.timestamp, priceRate: 0, command: undefined };
}

const STORE_NAMES = { redis: 'the live index (Redis)', kafka: 'the event topic (Kafka)' } as const;

/** A valid CarStatus that one store refused: nothing of it is kept, and resending it will not help. */
function refusedAnswer(status: CarStatus, refused: NonNullable<StoreOutcome['refused']>): BookingResponse {
  return response(status, BookingStatus.BOOKING_FAILED, `not stored: ${STORE_NAMES[refused.store]} refused it: ${refused.reason}`);
}

/** The plain acknowledgement: BOOKING_UNKNOWN, echoing the car and the timestamp of the CarStatus it answers. */
function ack(status: CarStatus): BookingResponse {
  return response(status, BookingStatus.BOOKING_UNKNOWN, '');
}
