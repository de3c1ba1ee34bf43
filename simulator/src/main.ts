/**
 * GreenLane simulator: drives cars through the ingestion service over gRPC.
 *   npm start -w simulator -- --help
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { exitOnStartupError, parseFlags } from '@greenlane/common';
import type { CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { createStderrLogger } from './log.js';
import { FLAG_OPTIONS, USAGE, parseOptions, type SimulatorOptions } from './options.js';
import { runLoad, type LoadSummary } from './load/run-load.js';
import { runRealistic, type RealisticSummary } from './realistic/run-realistic.js';
import { loadStations } from './car/stations.js';
import { openAckedLog } from './acked-log.js';
import { openCommandLog } from './commands/command-log.js';
import type { CommandCounts } from './commands/handler.js';
import type { CarriedOut } from './commands/command-log.js';
import { describeCredentials } from './credentials.js';
import { channelTls, describeTls } from './tls.js';
import { probePlaintext, probeTls, splitTarget } from './tls-probe.js';
import { carId } from './car/model.js';

const log = createStderrLogger('simulator');

/** Exit code of a run the server refused the token of (the run stops at the first refusal). */
export const EXIT_TOKEN_REFUSED = 3;
/** Exit code of a run whose TLS cannot work: the server's certificate not trusted, ours refused, TLS against plaintext. */
export const EXIT_TLS_FAILED = 4;

/**
 * The token was refused: every car would be, so the run has stopped. Says so in words a person
 * (and the demo, the chaos runner, the benchmarks, which watch for it) can act on, naming the
 * credential: the x-api-token, the JWT of --jwt, or the tokens minted with --jwt-key/--jwt-secret.
 */
function reportRefusedToken(options: SimulatorOptions, error: string): void {
  const jwt = options.jwt;
  const what = jwt === undefined ? 'token' : jwt.kind === 'static' ? 'token (its --jwt)' : 'token (its minted JWTs)';
  const fix = jwt === undefined ? 'Give the simulator one of the ingestion\'s API_TOKENS with --token or API_TOKEN' : `Check ${describeCredentials({ apiToken: options.token, jwt })}`;
  log.fatal({ target: options.target, error }, `the ingestion at ${options.target} refused the simulator's ${what} (${error}); stopped. ${fix}`);
  process.exitCode = EXIT_TOKEN_REFUSED;
}

/**
 * Before any car: one connection as the cars will make it, so a TLS mistake stops the run at once
 * with its reason (tls-probe.ts). A server not up yet is no mistake: the cars wait for it.
 */
async function checkTransport(options: SimulatorOptions): Promise<boolean> {
  const target = splitTarget(options.target);
  if (options.tls === undefined) {
    const result = await probePlaintext(target);
    if (result.outcome === 'suspect') log.warn({ target: options.target }, `plaintext connection to ${options.target}: ${result.reason}`);
    return true;
  }
  // The first car's certificate with --cert-dir: the server trusts all of them or none, as a rule.
  const tls = channelTls(options.tls, options.tls.certDir !== undefined ? carId(0, options.carPrefix) : undefined);
  const result = await probeTls(target, tls, options.tls.caFile);
  if (result.outcome === 'refused') {
    log.fatal({ target: options.target, code: result.code, tls: describeTls(options.tls) }, `TLS to ${options.target} failed: ${result.reason}; stopped`);
    process.exitCode = EXIT_TLS_FAILED;
    return false;
  }
  if (result.outcome === 'unknown') log.info({ target: options.target }, `TLS not checked before the start: ${result.reason}; the cars will retry`);
  return true;
}

/** --cert with several cars: the server sees each as the certificate's CN, and refuses the others' CarStatus. */
function warnSharedCertificate(options: SimulatorOptions): void {
  const file = options.tls?.cert?.certFile;
  if (file === undefined || options.cars === 1) return;
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(new X509Certificate(readFileSync(file)).subject)?.[1] ?? '?';
  log.warn({ cert: file, cn, cars: options.cars },
    `every car speaks as ${cn} on --cert ${file}: with mutual TLS the ingestion answers the CarStatus of every other car BOOKING_FAILED; --cert-dir gives each car its own certificate`);
}

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

function commandsLine(c: CommandCounts): string {
  return `commands received ${c.received}  executed ${c.executed}  duplicates ${c.duplicates}  rejected ${c.rejected}`;
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
      ...(summary.warmupSec > 0 ? [`warm-up ${summary.warmupSec} s: ${summary.warmupAcked} acked, not counted below`] : []),
      `sent ${summary.sent}  acked ${summary.acked}  rejected ${summary.rejected}  failed ${summary.failed}` +
        `  skipped ${summary.skipped}  reconnects ${summary.reconnects}`,
      `${summary.ackedPerSec} acked/s over ${summary.durationSec} s; ack latency ms p50 ${l.p50}  p99 ${l.p99}  p99.9 ${l.p999}  max ${l.max}`,
      ...(summary.commands.received > 0 ? [commandsLine(summary.commands)] : []),
      ...(summary.firstError ? [`first error: ${summary.firstError}`] : []),
    ].join('\n') + '\n',
  );
}

async function runLoadMode(options: SimulatorOptions): Promise<void> {
  const tty = process.stderr.isTTY === true;
  const commandLog = options.commandLog === undefined ? undefined : openCommandLog(options.commandLog);
  const summary = await runLoad({
    target: options.target,
    token: options.token,
    tls: options.tls,
    jwt: options.jwt,
    cars: options.cars,
    durationSec: options.durationSec,
    warmupSec: options.warmupSec,
    rate: options.rate,
    inflight: options.inflight,
    channels: options.channels,
    threads: options.threads,
    seed: options.seed,
    intervalMs: options.intervalMs,
    carPrefix: options.carPrefix,
    drainMs: 5_000,
    commands: options.commands,
    ...(commandLog ? { commandLog: (lines: string) => commandLog.write(lines) } : {}),
    stopSignal: stopOnSignal(),
    ...(tty ? { progress: (line: string) => process.stderr.write(`\r\x1b[2K${line}`) } : {}),
  });
  await commandLog?.close();
  if (tty) process.stderr.write('\n');
  printLoadSummary(summary, options.json);
  // Every message the server refused or never acknowledged makes the run fail for scripts.
  process.exitCode = summary.acked > 0 && summary.rejected === 0 && summary.failed === 0 ? 0 : 1;
  if (summary.refusedToken !== undefined) reportRefusedToken(options, summary.refusedToken);
}

function printRealisticSummary(summary: RealisticSummary, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
    return;
  }
  const b = summary.bookings;
  const l = summary.latencyMs;
  process.stdout.write(
    [
      `realistic run against ${summary.target}: ${summary.cars} cars for ${summary.durationSec} s`,
      `sent ${summary.sent}  acked ${summary.acked}  rejected ${summary.rejected}  failed ${summary.failed}  reconnects ${summary.reconnects}`,
      `bookings requested ${b.requested}  confirmed ${b.confirmed}  failed ${b.failed}  expired ${b.expired};` +
        ` charging stays completed ${summary.staysCompleted}, charging now ${summary.chargingNow}`,
      `ack latency ms p50 ${l.p50}  p99 ${l.p99}  p99.9 ${l.p999}  max ${l.max}`,
      commandsLine(summary.commands),
      ...(summary.incidents
        ? [`incidents: speeding ${summary.incidents.speeding}  dropped streams ${summary.incidents.drops}  vanished ${summary.incidents.vanished}  stalled chargers ${summary.incidents.stalls}`]
        : []),
      ...(summary.firstError ? [`first error: ${summary.firstError}`] : []),
    ].join('\n') + '\n',
  );
}

async function runRealisticMode(options: SimulatorOptions): Promise<void> {
  const { stations, source } = loadStations(options.stationsFile);
  log.info({ stations: stations.size, source: source ?? null }, source ? 'station registry loaded' : 'no station registry: cars reach booked stations after a short trip');
  const tty = process.stderr.isTTY === true;
  const ackedLog = options.ackedLog === undefined ? undefined : openAckedLog(options.ackedLog);
  const commandLog = options.commandLog === undefined ? undefined : openCommandLog(options.commandLog);
  const summary = await runRealistic({
    target: options.target,
    token: options.token,
    tls: options.tls,
    jwt: options.jwt,
    cars: options.cars,
    intervalMs: options.intervalMs,
    durationSec: options.durationSec,
    channels: options.channels,
    seed: options.seed,
    carPrefix: options.carPrefix,
    stations,
    log,
    ...(options.incidents ? { incidents: options.incidents } : {}),
    ...(ackedLog ? { onAck: (status: CarStatus) => ackedLog.record(status) } : {}),
    ...(commandLog ? { onCommandCarriedOut: (c: CarriedOut) => commandLog.record(c) } : {}),
    stopSignal: stopOnSignal(),
    ...(tty ? { progress: (line: string) => process.stderr.write(`\r\x1b[2K${line}`) } : {}),
  });
  await ackedLog?.close();
  await commandLog?.close();
  if (tty) process.stderr.write('\n');
  printRealisticSummary(summary, options.json);
  process.exitCode = summary.rejected === 0 && summary.failed === 0 ? 0 : 1;
  if (summary.refusedToken !== undefined) reportRefusedToken(options, summary.refusedToken);
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), FLAG_OPTIONS, USAGE);
  let options: SimulatorOptions;
  try {
    options = parseOptions(flags, process.env);
  } catch (error) {
    exitOnStartupError(log, error);
  }
  log.info({
    mode: options.mode, target: options.target, cars: options.cars, seed: options.seed, commands: options.commands, incidents: options.incidents?.mix ?? 'off',
    transport: describeTls(options.tls), jwt: options.jwt === undefined ? 'none' : options.jwt.kind === 'static' ? 'fixed (--jwt)' : `minted per car (${options.jwt.source})`,
    apiToken: options.token === undefined ? 'not sent' : 'sent',
  }, 'starting');
  warnSharedCertificate(options);
  if (!(await checkTransport(options))) return;
  if (options.mode === 'load') await runLoadMode(options);
  else await runRealisticMode(options);
}

main().catch((error: unknown) => exitOnStartupError(log, error));
