/**
 * GreenLane simulator: drives cars through the ingestion service over gRPC.
 *   npm start -w simulator -- --help
 */
import { exitOnStartupError, parseFlags } from '@greenlane/common';
import { createStderrLogger } from './log.js';
import { FLAG_OPTIONS, USAGE, parseOptions, type SimulatorOptions } from './options.js';
import { runLoad, type LoadSummary } from './load/run-load.js';

const log = createStderrLogger('simulator');

/** Resolves on the first SIGINT/SIGTERM so the run can stop and still print its summary; a second one exits at once. */
function stopOnSignal(): Promise<void> {
  return new Promise((resolve) => {
    let signalled = false;
    const handle = () => {
      if (signalled) process.exit(130);
      signalled = true;
      resolve();
    };
    process.on('SIGINT', handle);
    process.on('SIGTERM', handle);
  });
}

function printLoadSummary(summary: LoadSummary, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
    return;
  }
  const l = summary.latencyMs;
  process.stdout.write(
    [
      `load against ${summary.target}: ${summary.cars} cars over ${summary.channels} channels and ${summary.threads} threads, ` +
        (summary.rate === null ? `${summary.inflight} in flight per stream` : `target ${summary.rate} msg/s`),
      `sent ${summary.sent}  acked ${summary.acked}  rejected ${summary.rejected}  failed ${summary.failed}` +
        `  skipped ${summary.skipped}  reconnects ${summary.reconnects}`,
      `${summary.ackedPerSec} acked/s over ${summary.durationSec} s; ack latency ms p50 ${l.p50}  p99 ${l.p99}  p99.9 ${l.p999}  max ${l.max}`,
      ...(summary.firstError ? [`first error: ${summary.firstError}`] : []),
    ].join('\n') + '\n',
  );
}

async function runLoadMode(options: SimulatorOptions): Promise<void> {
  const tty = process.stderr.isTTY === true;
  const summary = await runLoad({
    target: options.target,
    token: options.token,
    cars: options.cars,
    durationSec: options.durationSec,
    rate: options.rate,
    inflight: options.inflight,
    channels: options.channels,
    threads: options.threads,
    seed: options.seed,
    intervalMs: options.intervalMs,
    carPrefix: options.carPrefix,
    drainMs: 5_000,
    stopSignal: stopOnSignal(),
    ...(tty ? { progress: (line: string) => process.stderr.write(`\r\x1b[2K${line}`) } : {}),
  });
  if (tty) process.stderr.write('\n');
  printLoadSummary(summary, options.json);
  // Every message the server refused or never acknowledged makes the run fail for scripts.
  process.exitCode = summary.acked > 0 && summary.rejected === 0 && summary.failed === 0 ? 0 : 1;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), FLAG_OPTIONS, USAGE);
  let options: SimulatorOptions;
  try {
    options = parseOptions(flags, process.env);
  } catch (error) {
    exitOnStartupError(log, error);
  }
  log.info({ mode: options.mode, target: options.target, cars: options.cars, seed: options.seed }, 'starting');
  if (options.mode === 'load') await runLoadMode(options);
  else {
    const { runRealistic } = await import('./realistic/run-realistic.js');
    await runRealistic(options, log, stopOnSignal());
  }
}

main().catch((error: unknown) => exitOnStartupError(log, error));
