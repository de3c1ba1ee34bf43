/** Messages between the load runner (main thread) and its worker threads. */
import { addCommandCounts, emptyCommandCounts, type CommandCounts } from '../commands/handler.js';
import type { ClientTlsConfig, JwtConfig } from '../security-options.js';

export interface LoadWorkerConfig {
  workerIndex: number;
  target: string;
  /** x-api-token; undefined = not sent. */
  token: string | undefined;
  /** TLS settings as paths: each thread reads the files (and, with --cert-dir, each car's own). */
  tls: ClientTlsConfig | undefined;
  /** JWTs: a fixed one, or the key's path / the secret to mint each car's with (imported in the thread). */
  jwt: JwtConfig | undefined;
  /** Global index of this worker's first car, and how many it drives. */
  firstCar: number;
  cars: number;
  carPrefix: string;
  channels: number;
  firstChannel: number;
  /** Messages due (rate-paced) or sent (ack-paced) before this long after 'go' are warm-up: not counted. */
  warmupMs: number;
  /** This worker's share of --rate in messages/s; undefined = as fast as acks allow. */
  ratePerSec: number | undefined;
  /** Messages in flight per stream when pacing by acks. */
  inflight: number;
  /** Open-loop cap per car, so a stalled stream cannot queue without bound. */
  maxPendingPerCar: number;
  seed: number;
  intervalMs: number;
  /** After stop, how long to wait for outstanding acks before counting them as failed. */
  drainMs: number;
  /** --commands: declare the `commands` capability and answer every valid command accepted. */
  commands: boolean;
  /** --command-log: send the main thread one line per command carried out. */
  commandLog: boolean;
}

export interface LoadCounts {
  sent: number;
  /** Acknowledged after the warm-up (the measured ones). */
  acked: number;
  /** Acknowledged warm-up messages, outside every other count and the latency histogram. */
  warmupAcked: number;
  rejected: number;
  failed: number;
  /** Messages --rate wanted but no car could take (every stream at its cap). */
  skipped: number;
  reconnects: number;
  /** Operators' commands (with --commands). Their answers are in sent/acked like any CarStatus. */
  commands: CommandCounts;
}

export type ToWorker = { type: 'go' } | { type: 'stop' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'progress'; counts: LoadCounts; inflight: number }
  /** The server refused the token (UNAUTHENTICATED / PERMISSION_DENIED): every car would be, so the run stops. */
  | { type: 'refused'; error: string }
  | { type: 'drained'; counts: LoadCounts; histogram: string; sendLag: string; firstError?: string }
  /** Lines for --command-log (commandLogLine), in the order the commands were carried out. */
  | { type: 'command-log'; lines: string }
  | { type: 'closed' };

export function emptyCounts(): LoadCounts {
  return { sent: 0, acked: 0, warmupAcked: 0, rejected: 0, failed: 0, skipped: 0, reconnects: 0, commands: emptyCommandCounts() };
}

export function addCounts(a: LoadCounts, b: LoadCounts): LoadCounts {
  return {
    sent: a.sent + b.sent,
    acked: a.acked + b.acked,
    warmupAcked: a.warmupAcked + b.warmupAcked,
    rejected: a.rejected + b.rejected,
    failed: a.failed + b.failed,
    skipped: a.skipped + b.skipped,
    reconnects: a.reconnects + b.reconnects,
    commands: addCommandCounts(a.commands, b.commands),
  };
}
