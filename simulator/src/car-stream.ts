import * as grpc from '@grpc/grpc-js';
import { BookingStatus, type BookingResponse, type CarStatus, type FleetServiceClient, type VehicleCommand } from '@greenlane/common/gen/fleet/fleet';
import { Queue } from './queue.js';

export interface PendingStatus {
  status: CarStatus;
  /** performance.now() when the message was due; latency is measured from here. */
  startedAt: number;
}

export interface CarStreamEvents {
  /** The server acknowledged this message (acks come in order on a stream). */
  onAck(message: PendingStatus, response: BookingResponse): void;
  /** A message the server sent on its own (a booking expiry), not an acknowledgement. */
  onNotice?(response: BookingResponse): void;
  /**
   * An operator's command (a BookingResponse with `command` set, only on a stream that declared the
   * `commands` capability). It answers no CarStatus, so it acknowledges nothing.
   */
  onCommand?(command: VehicleCommand): void;
  /** The server refused the stream for good (bad token, invalid data); these will never be acknowledged. */
  onRejected(messages: PendingStatus[], error: grpc.ServiceError): void;
  /** The stream broke; it reopens after `delayMs` and resends what was not acknowledged. */
  onDisconnect?(error: grpc.ServiceError | undefined, delayMs: number): void;
}

/**
 * Where a stream's call metadata comes from: fixed, or a token that is renewed (credentials.ts).
 * `metadata()` is asked at every (re)connect; a promise (a token being minted) delays the open.
 */
export interface StreamCredentials {
  metadata(): grpc.Metadata | Promise<grpc.Metadata>;
  /**
   * The server ended the stream UNAUTHENTICATED; `answered` says whether it had answered anything
   * on it first. True: a fresh credential is worth a new stream (an expired token); false, or no
   * such method: the refusal is for good.
   */
  renewAfterRefusal?(answered: boolean): boolean;
}

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** Codes that refuse the caller's credentials: the same token fails every car, so a run stops at the first. */
export const AUTH_REFUSED = new Set<number>([grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED]);

/** Codes that a retry cannot fix: resending the same messages would be refused again. */
const PERMANENT = new Set<number>([
  grpc.status.UNAUTHENTICATED,
  grpc.status.PERMISSION_DENIED,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.UNIMPLEMENTED,
]);

/**
 * One car's bidirectional stream. Every message stays queued until the server acknowledges it;
 * when the stream breaks, it reopens with exponential backoff and resends the queue in order, so
 * a restart of ingestion loses nothing the car sent.
 */
export class CarStream {
  private call: grpc.ClientDuplexStream<CarStatus, BookingResponse> | undefined;
  private readonly pending = new Queue<PendingStatus>();
  private failures = 0;
  private closing = false;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Set while the car has dropped its stream on purpose (drop()): the new one opens when it fires. */
  private dropTimer: NodeJS.Timeout | undefined;
  private closed: (() => void) | undefined;
  /** Whether the current call has had any answer from the server (an accepted stream). */
  private answered = false;
  /** Counts opens, so an open whose credentials come late yields to a newer one (or to a drop or close meanwhile). */
  private opens = 0;
  private readonly credentials: StreamCredentials;

  constructor(
    private readonly client: FleetServiceClient,
    credentials: grpc.Metadata | StreamCredentials,
    private readonly events: CarStreamEvents,
    private readonly backoff: Backoff = { initialMs: 100, maxMs: 5_000 },
    private readonly random: () => number = Math.random,
  ) {
    this.credentials = credentials instanceof grpc.Metadata ? { metadata: () => credentials } : credentials;
  }

  start(): void {
    this.open();
  }

  /** Messages sent and not yet acknowledged. */
  get inflight(): number {
    return this.pending.length;
  }

  get connected(): boolean {
    return this.call !== undefined;
  }

  /** False once the server refused the stream for good. */
  get usable(): boolean {
    return !this.stopped && !this.closing;
  }

  send(status: CarStatus, startedAt: number): void {
    if (!this.usable) return;
    this.pending.push({ status, startedAt });
    this.call?.write(status);
  }

  /**
   * The car drops its stream (the call is cancelled) and opens a new one after `forMs`. What was
   * not acknowledged stays queued, and what it sends meanwhile is queued too: the new stream sends
   * it all, in order (a buffered upload). An answer the old call still carried is ignored, so the
   * in-order matching of acks stays exact; its message is acknowledged again on the new stream.
   */
  drop(forMs: number): void {
    if (!this.usable || this.dropTimer !== undefined) return;
    const call = this.call;
    this.call = undefined;
    this.opens += 1;
    clearTimeout(this.reconnectTimer);
    call?.cancel();
    this.dropTimer = setTimeout(() => this.reconnectNow(), forMs);
  }

  /** Whether the car has dropped its stream on purpose and not opened the new one yet. */
  get dropped(): boolean {
    return this.dropTimer !== undefined;
  }

  /** Ends a drop now: the new stream opens at once (a run that stops lets what is queued be acknowledged). */
  reconnectNow(): void {
    if (this.dropTimer === undefined) return;
    clearTimeout(this.dropTimer);
    this.dropTimer = undefined;
    if (this.usable) this.open();
  }

  /** Ends the stream (half-close) and waits for the server to finish, at most `timeoutMs`. */
  close(timeoutMs = 2_000): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.dropTimer);
    this.dropTimer = undefined;
    const call = this.call;
    if (!call) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        call.cancel();
        resolve();
      }, timeoutMs);
      this.closed = () => {
        clearTimeout(timer);
        resolve();
      };
      call.end();
    });
  }

  /** Unacknowledged messages, oldest first (what a resend would send). */
  unacknowledged(): PendingStatus[] {
    return [...this.pending];
  }

  private open(): void {
    const seq = ++this.opens;
    let metadata: grpc.Metadata | Promise<grpc.Metadata>;
    try {
      metadata = this.credentials.metadata();
    } catch (error) {
      this.credentialsFailed(error);
      return;
    }
    if (metadata instanceof grpc.Metadata) {
      this.openWith(metadata);
      return;
    }
    // Meanwhile what the car sends is queued (no call yet); the call, once open, sends it all.
    metadata.then(
      (m) => {
        if (seq === this.opens && this.usable && this.dropTimer === undefined && this.call === undefined) this.openWith(m);
      },
      (error: unknown) => {
        if (seq === this.opens && this.usable) this.credentialsFailed(error);
      },
    );
  }

  /** No credentials to open with (a token could not be minted): as a refusal, for good. */
  private credentialsFailed(error: unknown): void {
    this.stopped = true;
    const message = `no credentials for the stream: ${(error as Error)?.message ?? String(error)}`;
    const serviceError = Object.assign(new Error(message), { code: grpc.status.UNKNOWN, details: message, metadata: new grpc.Metadata() });
    this.events.onRejected(this.pending.drain(), serviceError);
  }

  private openWith(metadata: grpc.Metadata): void {
    const call = this.client.streamTelemetry(metadata);
    this.call = call;
    this.answered = false;
    call.on('data', (response: BookingResponse) => {
      // A call the car dropped (drop()) answers nothing any more: its messages go again on the new one.
      if (this.call !== call) return;
      this.failures = 0;
      this.answered = true;
      // A command is the server speaking first: it answers no CarStatus, so it acknowledges nothing.
      if (response.command !== undefined) {
        this.events.onCommand?.(response.command);
        return;
      }
      // An expiry is pushed when the hold lapses; it answers no CarStatus, so it acknowledges nothing.
      if (response.status === BookingStatus.BOOKING_EXPIRED) {
        this.events.onNotice?.(response);
        return;
      }
      const message = this.pending.shift();
      if (message) this.events.onAck(message, response);
    });
    // grpc-js emits 'error' for a non-OK status and 'status' for every ending; either ends this call.
    call.on('error', (error: grpc.ServiceError) => this.ended(call, error));
    call.on('status', (status: grpc.StatusObject) => {
      if (status.code === grpc.status.OK) this.ended(call, undefined);
    });
    for (const message of this.pending) call.write(message.status);
  }

  private ended(call: grpc.ClientDuplexStream<CarStatus, BookingResponse>, error: grpc.ServiceError | undefined): void {
    if (this.call !== call) return;
    this.call = undefined;
    if (this.closing) {
      this.closed?.();
      return;
    }
    // An expired token: the server ends the stream at expiry, and a fresh token opens the next one.
    const renew = error?.code === grpc.status.UNAUTHENTICATED && this.credentials.renewAfterRefusal?.(this.answered) === true;
    if (error && PERMANENT.has(error.code) && !renew) {
      this.stopped = true;
      this.events.onRejected(this.pending.drain(), error);
      return;
    }
    this.failures += 1;
    const ceiling = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** (this.failures - 1));
    const delayMs = Math.round(ceiling * (0.5 + this.random() * 0.5));
    this.events.onDisconnect?.(error, delayMs);
    this.reconnectTimer = setTimeout(() => this.open(), delayMs);
  }
}
