/**
 * The `command` subcommand's run: send, then long-poll until the command is final, printing one
 * line per status change learned (from the record's own timestamps, so a change that happened
 * between two polls is still shown, at its time) and a last outcome line. Returns the exit code.
 */
import { FINAL_COMMAND_STATUSES, type CommandView } from '../event.js';
import { commandLine, formatLatency, paint, type RenderOptions } from '../render.js';
import { ApiRefused, ApiUnreachable, type CommandApi, type CommandJson } from './api.js';
import { requestBody, type CommandRequest } from './args.js';

export const EXIT = { succeeded: 0, failed: 1, usage: 2, api: 3 } as const;

export interface Terminal {
  out(text: string): void;
  err(text: string): void;
}

/** The status changes a record tells of, oldest first. */
export function statusChanges(c: CommandJson): Array<{ status: string; at: number }> {
  const changes = [{ status: 'QUEUED', at: c.issued_at }];
  if (c.sent_at !== undefined) changes.push({ status: 'SENT', at: c.sent_at });
  if (c.delivered_at !== undefined) changes.push({ status: 'DELIVERED', at: c.delivered_at });
  if (!changes.some((x) => x.status === c.status)) changes.push({ status: c.status, at: c.finished_at ?? c.delivered_at ?? c.sent_at ?? c.issued_at });
  return changes;
}

export function changeView(c: CommandJson, change: { status: string; at: number }): CommandView {
  const view: CommandView = { kind: 'command', carId: c.car_id, commandId: c.command_id, command: c.type, status: change.status, timestamp: change.at };
  if (c.issued_at > 0) view.latencyMs = change.at - c.issued_at;
  if (FINAL_COMMAND_STATUSES.has(change.status) && c.reason) view.reason = c.reason;
  if (change.status === 'SENT' && c.instance) view.instance = c.instance;
  return view;
}

/** The last line: what became of the command, in words. */
export function outcomeLine(c: CommandJson, color: boolean): string {
  const after = c.finished_at !== undefined ? `, ${formatLatency(c.finished_at - c.issued_at)} after it was accepted` : '';
  const tries = c.deliveries > 1 ? `, delivered ${c.deliveries} times` : '';
  if (c.status === 'SUCCEEDED') {
    const note = c.reason ? ` (${c.reason})` : '';
    return paint(`✔ SUCCEEDED: ${c.car_id} carried out ${c.type}${after}${tries}${note}; command ${c.command_id}`, ['green', 'bold'], color);
  }
  const what = c.status === 'FAILED' ? `${c.car_id} did not carry out ${c.type}` : `${c.type} for ${c.car_id}`;
  return paint(`✘ ${c.status}: ${what}${after}${tries}${c.reason ? `: ${c.reason}` : ''}; command ${c.command_id}`, ['red', 'bold'], color);
}

export function exitCodeOf(status: string): number {
  return status === 'SUCCEEDED' ? EXIT.succeeded : EXIT.failed;
}

export interface RunOptions {
  render: RenderOptions;
  /** Each long poll asks the API to hold at most this long. */
  pollMs?: number;
  /** A poll that finds no API is tried this many times more, a second apart, before giving up. */
  retries?: number;
  now?: () => number;
}

export async function runCommand(request: CommandRequest, api: CommandApi, term: Terminal, options: RunOptions): Promise<number> {
  const now = options.now ?? Date.now;
  const printed = new Set<string>();
  const show = (c: CommandJson) => {
    if (request.json) {
      term.out(JSON.stringify(c) + '\n');
      return;
    }
    for (const change of statusChanges(c)) {
      if (printed.has(change.status)) continue;
      printed.add(change.status);
      term.out(commandLine(changeView(c, change), options.render) + '\n');
    }
  };
  try {
    let record = await api.send(request.carId, requestBody(request));
    show(record);
    // The API ends every command (expiry, timeout); past this something is wrong with it. Durations,
    // not the API's clock: this machine's may differ.
    const ttlMs = record.expires_at > record.issued_at ? record.expires_at - record.issued_at : 300_000;
    const giveUpAt = now() + ttlMs + Math.max(0, record.timeout_ms) + 30_000;
    let failures = 0;
    while (!record.final && !FINAL_COMMAND_STATUSES.has(record.status)) {
      const left = giveUpAt - now();
      if (left <= 0) {
        term.err(`liveops: command ${record.command_id} is still ${record.status} past its expiry and timeout; the command API at ${api.baseUrl} did not end it\n`);
        return EXIT.failed;
      }
      try {
        record = await api.wait(record.command_id, Math.min(options.pollMs ?? 30_000, left));
        failures = 0;
      } catch (error) {
        if (!(error instanceof ApiUnreachable) || failures >= (options.retries ?? 3)) throw error;
        failures += 1;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        continue;
      }
      show(record);
    }
    if (!request.json) term.out(outcomeLine(record, options.render.color) + '\n');
    return exitCodeOf(record.status);
  } catch (error) {
    if (error instanceof ApiRefused) {
      term.err(`liveops: the command API at ${api.baseUrl} refused: ${error.status} ${error.error}\n`);
      return EXIT.api;
    }
    if (error instanceof ApiUnreachable) {
      term.err(
        `liveops: cannot reach the command API at ${error.url} (${error.why}). ` +
          'Is it running? Start it (npm start -w command-api), or give its address with --api URL or COMMAND_API_URL.\n',
      );
      return EXIT.api;
    }
    throw error;
  }
}
