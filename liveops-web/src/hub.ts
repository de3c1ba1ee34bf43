/**
 * The WebSocket hub. At every tick it cuts one delta frame of the cars changed since the last tick
 * (each car once, with its newest state) and sends that same buffer to every browser. A browser
 * whose socket still holds more than `maxBufferedBytes` unsent is skipped for the tick instead of
 * being queued more, and marked to catch up: the next frame it can take is a full snapshot. So a
 * browser that stops reading costs at most `maxBufferedBytes` plus one frame, whatever it does.
 */
import type { WebSocket } from 'ws';
import type { Logger } from '@greenlane/common';
import { KIND_DELTA, KIND_SNAPSHOT, encodeFrame } from './protocol.js';
import type { FleetState } from './state.js';
import type { StationBoard } from './stations.js';
import type { Metrics } from './metrics.js';

interface Client {
  ws: WebSocket;
  /** Car ids this browser has been sent: indices 0..knownNames-1. */
  knownNames: number;
  needsSnapshot: boolean;
  stationsVersion: number;
  alertsVersion: number;
  alive: boolean;
  skipped: number;
}

export interface HubOptions {
  tickMs: number;
  maxBufferedBytes: number;
  /** The status line's message, every this many ms. */
  statusEveryMs: number;
}

export class Hub {
  private readonly clients = new Set<Client>();
  private seq = 0;
  private namesAtLastTick = 0;
  private lastStatusAt = 0;
  private lastEvents = 0;
  private eventsPerSec = 0;
  private tickTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  /** The largest unsent amount of any browser at the last tick (bytes). */
  maxBuffered = 0;

  constructor(
    private readonly state: FleetState,
    private readonly stations: StationBoard,
    private readonly opts: HubOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** The number of the last tick (frames carry it). */
  get sequence(): number {
    return this.seq;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  add(ws: WebSocket): void {
    const client: Client = { ws, knownNames: 0, needsSnapshot: true, stationsVersion: -1, alertsVersion: -1, alive: true, skipped: 0 };
    this.clients.add(client);
    this.metrics.clients.set(this.clients.size);
    ws.on('pong', () => (client.alive = true));
    ws.on('close', () => {
      this.clients.delete(client);
      this.metrics.clients.set(this.clients.size);
    });
    ws.on('error', (error) => this.log.debug({ err: error.message }, 'websocket error'));
    // What a browser sends is ignored (it asks for details over HTTP); reading it keeps the socket flowing.
    ws.on('message', () => {});
    // The first snapshot goes out at once rather than at the next tick.
    this.sendTo(client, this.snapshot(), this.statusMessage(Date.now()));
    this.metrics.framesSent.inc({ kind: 'snapshot' });
  }

  /** Every car, with every id. */
  snapshot(): ArrayBuffer {
    const size = this.state.size;
    const rows = new Uint32Array(size);
    for (let i = 0; i < size; i++) rows[i] = i;
    return encodeFrame({ kind: KIND_SNAPSHOT, seq: this.seq, rows, count: size, columns: this.state.columns, namesFrom: 0, names: this.state.namesFrom(0) });
  }

  start(): void {
    this.tickTimer = setInterval(() => this.tick(Date.now()), this.opts.tickMs);
    // A browser that vanished without closing (its machine slept) is dropped after two silent pings.
    this.pingTimer = setInterval(() => {
      for (const client of this.clients) {
        if (!client.alive) {
          client.ws.terminate();
          continue;
        }
        client.alive = false;
        client.ws.ping();
      }
    }, 15_000);
  }

  stop(): void {
    clearInterval(this.tickTimer);
    clearInterval(this.pingTimer);
    for (const client of this.clients) client.ws.close(1001, 'service stopping');
  }

  private statusMessage(now: number): string {
    return JSON.stringify({
      type: 'status',
      serverTime: now,
      eventsPerSec: this.eventsPerSec,
      cars: this.state.size,
      alerts: this.state.alerts.size,
      browsers: this.clients.size,
      seq: this.seq,
    });
  }

  /** One tick: the delta of changed cars to every browser that can take it. */
  tick(now: number): void {
    const started = performance.now();
    this.seq += 1;
    this.state.sweepOffline(now);
    if (now - this.lastStatusAt >= this.opts.statusEveryMs) {
      const seconds = this.lastStatusAt === 0 ? 1 : (now - this.lastStatusAt) / 1000;
      this.eventsPerSec = Math.round((this.state.events - this.lastEvents) / seconds);
      this.lastEvents = this.state.events;
      this.lastStatusAt = now;
      this.metrics.cars.set(this.state.size);
      this.metrics.alerts.set(this.state.alerts.size);
    }
    const dirty = this.state.takeDirty();
    const size = this.state.size;
    let delta: ArrayBuffer | undefined;
    const deltaFrame = (): ArrayBuffer =>
      (delta ??= encodeFrame({
        kind: KIND_DELTA,
        seq: this.seq,
        rows: dirty.rows,
        count: dirty.count,
        columns: this.state.columns,
        namesFrom: this.namesAtLastTick,
        names: this.state.namesFrom(this.namesAtLastTick),
      }));
    let snapshot: ArrayBuffer | undefined;
    const snapshotFrame = (): ArrayBuffer => (snapshot ??= this.snapshot());
    const status = this.lastStatusAt === now ? this.statusMessage(now) : undefined;
    let maxBuffered = 0;
    for (const client of this.clients) {
      const buffered = client.ws.bufferedAmount;
      if (buffered > maxBuffered) maxBuffered = buffered;
      if (client.ws.readyState !== client.ws.OPEN) continue;
      if (buffered > this.opts.maxBufferedBytes) {
        // Not queued: this browser takes a snapshot once it has drained.
        client.needsSnapshot = true;
        client.skipped += 1;
        this.metrics.skippedTicks.inc();
        continue;
      }
      if (client.needsSnapshot || client.knownNames !== this.namesAtLastTick) {
        this.sendTo(client, snapshotFrame(), status);
        this.metrics.framesSent.inc({ kind: 'snapshot' });
      } else if (dirty.count > 0 || size > this.namesAtLastTick) {
        this.sendTo(client, deltaFrame(), status);
        this.metrics.framesSent.inc({ kind: 'delta' });
      } else {
        this.sendTo(client, undefined, status);
      }
    }
    this.namesAtLastTick = size;
    this.maxBuffered = maxBuffered;
    this.metrics.maxBuffered.set(maxBuffered);
    this.metrics.tickSeconds.observe((performance.now() - started) / 1000);
  }

  private sendTo(client: Client, frame: ArrayBuffer | undefined, status: string | undefined): void {
    const ws = client.ws;
    if (frame !== undefined) {
      ws.send(frame, { binary: true });
      this.metrics.bytesSent.inc(frame.byteLength);
      client.knownNames = this.state.size;
      client.needsSnapshot = false;
    }
    if (client.stationsVersion !== this.stations.version) {
      const text = JSON.stringify({ type: 'stations', stations: this.stations.stations });
      ws.send(text);
      this.metrics.bytesSent.inc(text.length);
      client.stationsVersion = this.stations.version;
    }
    if (client.alertsVersion !== this.state.alertsVersion) {
      const text = JSON.stringify({ type: 'alerts', alerts: this.state.alertList().slice(0, 200), total: this.state.alerts.size });
      ws.send(text);
      this.metrics.bytesSent.inc(text.length);
      client.alertsVersion = this.state.alertsVersion;
    }
    if (status !== undefined) ws.send(status);
  }
}
