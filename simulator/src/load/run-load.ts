/**
 * Load mode: spreads the cars over worker threads and channels, runs for the duration, merges the
 * workers' counts and latency histograms into one summary.
 */
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { mergeEncoded, summarizeMs, type LatencySummaryMs } from '../latency.js';
import { addCounts, emptyCounts, type FromWorker, type LoadCounts, type LoadWorkerConfig } from './protocol.js';
import type { ClientTlsConfig, JwtConfig } from '../security-options.js';

export interface LoadOptions {
  target: string;
  /** x-api-token; unset = not sent. */
  token?: string | undefined;
  /** TLS (and client certificates); unset = plaintext. With `certDir` every car has its own channel. */
  tls?: ClientTlsConfig | undefined;
  /** Bearer tokens: fixed, or minted per car in each thread. */
  jwt?: JwtConfig | undefined;
  cars: number;
  durationSec: number;
  /** Seconds run before the measured duration; their messages are sent but not counted. */
  warmupSec?: number;
  /** Total messages/s; undefined = as fast as acks allow with `inflight` per stream. */
  rate: number | undefined;
  inflight: number;
  channels: number;
  threads: number;
  seed: number;
  intervalMs: number;
  carPrefix: string;
  drainMs: number;
  /** --commands: the cars declare the `commands` capability and answer every valid command accepted. */
  commands?: boolean;
  /** Receives --command-log lines (one JSON line per command carried out), in chunks. */
  commandLog?: (lines: string) => void;
  /** Receives the live progress line (a TTY), or nothing. */
  progress?: (line: string) => void;
  /** Resolves early (Ctrl+C): the run stops and still summarizes. */
  stopSignal?: Promise<void>;
}

export interface LoadSummary extends LoadCounts {
  mode: 'load';
  target: string;
  cars: number;
  channels: number;
  threads: number;
  rate: number | null;
  inflight: number | null;
  durationSec: number;
  warmupSec: number;
  ackedPerSec: number;
  latencyMs: LatencySummaryMs;
  /** Paced runs: how far behind its schedule the generator handed measured messages to their streams. */
  sendLagMs?: LatencySummaryMs;
  firstError?: string;
  /** Set when the server refused the token: the run stopped at once (every car would be refused). */
  refusedToken?: string;
}

/** Splits `total` into `parts` near-equal integers (the first ones get the remainder). */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

export function workerConfigs(options: LoadOptions): LoadWorkerConfig[] {
  const threads = Math.max(1, Math.min(options.threads, options.cars));
  const carShares = split(options.cars, threads);
  // With a certificate per car, each car is its own connection: the server knows a car by it.
  const perCar = options.tls?.certDir !== undefined;
  const channels = perCar ? options.cars : Math.max(threads, Math.min(options.channels, options.cars));
  const channelShares = perCar ? carShares : split(channels, threads);
  let firstCar = 0;
  let firstChannel = 0;
  return carShares.map((cars, workerIndex) => {
    const config: LoadWorkerConfig = {
      workerIndex,
      target: options.target,
      token: options.token,
      tls: options.tls,
      jwt: options.jwt,
      firstCar,
      cars,
      carPrefix: options.carPrefix,
      channels: channelShares[workerIndex]!,
      firstChannel,
      warmupMs: (options.warmupSec ?? 0) * 1000,
      ratePerSec: options.rate === undefined ? undefined : (options.rate * cars) / options.cars,
      inflight: options.inflight,
      maxPendingPerCar: Math.max(options.inflight, 1000),
      seed: options.seed,
      intervalMs: options.intervalMs,
      drainMs: options.drainMs,
      commands: options.commands === true,
      commandLog: options.commandLog !== undefined,
    };
    firstCar += cars;
    firstChannel += config.channels;
    return config;
  });
}

function formatProgress(elapsedSec: number, durationSec: number, counts: LoadCounts, inflight: number, ratePerSec: number): string {
  const n = (v: number) => v.toLocaleString('en-US');
  return (
    `[${elapsedSec.toFixed(0).padStart(3)}s/${durationSec}s] sent ${n(counts.sent)}  acked ${n(counts.acked)}` +
    ` (${n(Math.round(ratePerSec))}/s)  rejected ${n(counts.rejected)}  inflight ${n(inflight)}  reconnects ${n(counts.reconnects)}`
  );
}

export async function runLoad(options: LoadOptions): Promise<LoadSummary> {
  const configs = workerConfigs(options);
  const warmupSec = options.warmupSec ?? 0;
  const workerUrl = new URL('./load-worker.js', import.meta.url);
  const latest = configs.map(() => ({ counts: emptyCounts(), inflight: 0 }));
  const drained: Array<{ counts: LoadCounts; histogram: string; sendLag: string; firstError?: string } | undefined> = configs.map(() => undefined);
  let refusedToken: string | undefined;
  let onRefused: () => void = () => {};
  const refused = new Promise<void>((resolve) => (onRefused = resolve));

  const workers = configs.map((config, i) => {
    const worker = new Worker(workerUrl, { workerData: config });
    const ready = new Promise<void>((resolve, reject) => {
      worker.on('error', reject);
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') resolve();
        else if (message.type === 'progress') latest[i] = { counts: message.counts, inflight: message.inflight };
        else if (message.type === 'drained') drained[i] = message;
        else if (message.type === 'command-log') options.commandLog?.(message.lines);
        else if (message.type === 'refused') {
          refusedToken ??= message.error;
          onRefused();
        }
      });
    });
    const drainedOrExit = new Promise<void>((resolve) => {
      worker.on('message', (message: FromWorker) => message.type === 'drained' && resolve());
      worker.on('exit', () => resolve());
    });
    const closed = new Promise<void>((resolve) => {
      worker.on('message', (message: FromWorker) => message.type === 'closed' && resolve());
      worker.on('exit', () => resolve());
    });
    return { worker, ready, drainedOrExit, closed };
  });

  await Promise.all(workers.map((w) => w.ready));
  const started = performance.now();
  for (const w of workers) w.worker.postMessage({ type: 'go' });

  let lastAcked = 0;
  let lastAt = started;
  const ticker = options.progress
    ? setInterval(() => {
        const now = performance.now();
        const total = latest.reduce((sum, l) => addCounts(sum, l.counts), emptyCounts());
        const inflight = latest.reduce((sum, l) => sum + l.inflight, 0);
        const rate = ((total.acked - lastAcked) * 1000) / Math.max(1, now - lastAt);
        lastAcked = total.acked;
        lastAt = now;
        options.progress!(formatProgress((now - started) / 1000, warmupSec + options.durationSec, total, inflight, rate));
      }, 1000)
    : undefined;

  let durationTimer: NodeJS.Timeout | undefined;
  await Promise.race([
    // Duration 0: until the stop signal (Ctrl+C).
    options.durationSec > 0 ? new Promise((resolve) => (durationTimer = setTimeout(resolve, (warmupSec + options.durationSec) * 1000))) : new Promise(() => {}),
    options.stopSignal ?? new Promise(() => {}),
    refused,
  ]);
  // A run stopped early (a refusal, Ctrl+C) must not wait out its duration before the process can exit.
  clearTimeout(durationTimer);
  for (const w of workers) w.worker.postMessage({ type: 'stop' });
  await Promise.all(workers.map((w) => w.drainedOrExit));
  // The measured seconds: from the end of the warm-up (a run stopped during it measured nothing).
  const elapsedSec = Math.max(0.001, (performance.now() - started) / 1000 - warmupSec);
  clearInterval(ticker);

  let closeTimer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(workers.map((w) => w.closed)), new Promise((r) => (closeTimer = setTimeout(r, 3_000)))]);
  clearTimeout(closeTimer);
  await Promise.all(workers.map((w) => w.worker.terminate()));

  const counts = drained.reduce<LoadCounts>((sum, d, i) => addCounts(sum, d?.counts ?? latest[i]!.counts), emptyCounts());
  const histogram = mergeEncoded(drained.flatMap((d) => (d ? [d.histogram] : [])));
  const sendLag = mergeEncoded(drained.flatMap((d) => (d ? [d.sendLag] : [])));
  const firstError = drained.find((d) => d?.firstError)?.firstError;
  return {
    mode: 'load',
    target: options.target,
    cars: options.cars,
    channels: configs.reduce((n, c) => n + c.channels, 0),
    threads: configs.length,
    rate: options.rate ?? null,
    inflight: options.rate === undefined ? options.inflight : null,
    ...counts,
    durationSec: Math.round(elapsedSec * 1000) / 1000,
    warmupSec,
    ackedPerSec: Math.round(counts.acked / elapsedSec),
    latencyMs: summarizeMs(histogram),
    // Paced runs: the generator's own lag behind its schedule, part of latencyMs (counted from the due time).
    ...(options.rate !== undefined ? { sendLagMs: summarizeMs(sendLag) } : {}),
    ...(firstError ? { firstError } : {}),
    ...(refusedToken ? { refusedToken } : {}),
  };
}
