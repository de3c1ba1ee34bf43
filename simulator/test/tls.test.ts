/**
 * TLS and mutual TLS over real handshakes (certificates from scripts/certs.mjs): the echo server
 * and a small grpc-js server that records each stream's client certificate CN
 * (call.getAuthContext().sslPeerCertificate.subject.CN), the load runner (worker threads), the
 * realistic runner, the probe that stops a run on a TLS mistake, and the CLI's exit code for it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startEchoServer } from '../src/echo-server.js';
import { runLoad, type LoadOptions } from '../src/load/run-load.js';
import { runRealistic } from '../src/realistic/run-realistic.js';
import { probePlaintext, probeTls } from '../src/tls-probe.js';
import { channelTls } from '../src/tls.js';
import { CarStream } from '../src/car-stream.js';
import { createFleetClient, tokenMetadata } from '../src/grpc-client.js';
import { waitFor } from '@greenlane/common/testing';
import type { ClientTlsConfig } from '../src/security-options.js';
import { makeCerts, recordingServer, serverCredentials } from './tls-fixtures.js';

const CARS = ['LOADTLS-001', 'LOADTLS-002', 'LOADTLS-003', 'LOADTLS-004', 'CAR-001', 'CAR-002', 'CAR-003'];
const certs = makeCerts(CARS);
// Another CA altogether: what a car trusting the wrong CA, or holding a stranger's certificate, has.
const other = makeCerts(['LOADTLS-001']);
const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));

const tlsConfig = (overrides: Partial<ClientTlsConfig> = {}): ClientTlsConfig => ({ caFile: certs.ca, serverName: undefined, cert: undefined, certDir: undefined, ...overrides });

function load(overrides: Partial<LoadOptions>): LoadOptions {
  return {
    target: '127.0.0.1:1', token: 't', cars: 4, durationSec: 0.6, rate: undefined, inflight: 2, channels: 2, threads: 2,
    seed: 3, intervalMs: 2000, carPrefix: 'LOADTLS-', drainMs: 3000, ...overrides,
  };
}

/** The simulator's CLI in a child process; resolves with its exit code and output. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('TLS with the right CA: the load runner (worker threads) against the TLS echo server, every message acknowledged', async () => {
  const echo = await startEchoServer('127.0.0.1:0', { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) });
  try {
    const summary = await runLoad(load({ target: `127.0.0.1:${echo.port}`, tls: tlsConfig() }));
    assert.ok(summary.sent > 0);
    assert.is(summary.acked + summary.warmupAcked, summary.sent, JSON.stringify(summary));
    assert.is(summary.failed, 0);
    assert.is(echo.acked(), summary.sent);
    // The server name: checked in the certificate (localhost is in it), sent as SNI.
    const named = await runLoad(load({ target: `127.0.0.1:${echo.port}`, tls: tlsConfig({ serverName: 'localhost' }), durationSec: 0.3 }));
    assert.ok(named.acked > 0 && named.failed === 0, JSON.stringify(named));
  } finally {
    await echo.close();
  }
});

test('TLS with the wrong CA: the probe says the server\'s certificate is not signed by --tls-ca; streams fail with the handshake\'s reason', async () => {
  const echo = await startEchoServer('127.0.0.1:0', { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) });
  try {
    const wrong = tlsConfig({ caFile: other.ca });
    const probe = await probeTls({ host: '127.0.0.1', port: echo.port }, channelTls(wrong), other.ca);
    assert.is(probe.outcome, 'refused');
    assert.match((probe as { reason: string }).reason, `not signed by the CA of --tls-ca ${other.ca}`);
    // A car's stream itself: it never gets through, and says why (grpc-js's UNAVAILABLE carries the reason).
    const client = createFleetClient(`127.0.0.1:${echo.port}`, 0, channelTls(wrong));
    const errors: string[] = [];
    const stream = new CarStream(client, tokenMetadata('t'), {
      onAck: () => assert.unreachable('nothing gets through'),
      onRejected: () => assert.unreachable('not refused for good: the car retries'),
      onDisconnect: (error) => errors.push(error?.message ?? ''),
    }, { initialMs: 20, maxMs: 50 });
    stream.start();
    stream.send({ carId: 'CAR-001', latitude: 40.75, longitude: -73.98, batteryLevel: 50, velocity: 0, timestamp: 1, stationId: '', charging: false, chargeEnergyKwh: 0, pluggedInAt: 0, bookingRequest: undefined, commandResult: undefined }, 0);
    await waitFor('a failed connection', () => errors.length > 0, 10_000);
    await stream.close();
    client.close();
    assert.match(errors[0]!, /UNAVAILABLE.*(unable to verify the first certificate|self-signed certificate)/);
    assert.is(echo.acked(), 0);
    // A wrong server name is told apart.
    const misnamed = await probeTls({ host: '127.0.0.1', port: echo.port }, channelTls(tlsConfig({ serverName: 'ingestion.example' })), certs.ca);
    assert.is(misnamed.outcome, 'refused');
    assert.match((misnamed as { reason: string }).reason, /not for ingestion\.example.*--tls-server-name/);
  } finally {
    await echo.close();
  }
});

test('the CLI stops at once with exit code 4, naming --tls-ca, when the server\'s certificate is not trusted; with the right CA it runs', async () => {
  const echo = await startEchoServer('127.0.0.1:0', { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) });
  try {
    const target = `127.0.0.1:${echo.port}`;
    const base = ['--mode', 'load', '--target', target, '--cars', '2', '--threads', '1', '--duration', '0.5', '--json'];
    const refused = await cli([...base, '--tls-ca', other.ca]);
    assert.is(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, `TLS to ${target} failed: the server's certificate is not signed by the CA of --tls-ca ${other.ca}`);
    assert.is(echo.acked(), 0);
    const ok = await cli([...base], { SIM_TLS_CA: certs.ca, SIM_TLS_SERVER_NAME: 'localhost' });
    assert.is(ok.code, 0, ok.stderr);
    const summary = JSON.parse(ok.stdout.trim().split('\n').pop()!) as { acked: number; failed: number };
    assert.ok(summary.acked > 0 && summary.failed === 0, ok.stdout);
  } finally {
    await echo.close();
  }
});

test('TLS against a plaintext server: the probe says the server does not speak TLS; the other way round it hints at --tls-ca', async () => {
  const tlsEcho = await startEchoServer('127.0.0.1:0', { cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) });
  const hint = await probePlaintext({ host: '127.0.0.1', port: tlsEcho.port });
  await tlsEcho.close();
  assert.equal(hint, { outcome: 'suspect', reason: 'the server closed the connection without an HTTP/2 answer: if it serves TLS, give --tls-ca' });
  const echo = await startEchoServer('127.0.0.1:0');
  try {
    const probe = await probeTls({ host: '127.0.0.1', port: echo.port }, channelTls(tlsConfig()), certs.ca);
    assert.is(probe.outcome, 'refused');
    assert.match((probe as { reason: string }).reason, /does not speak TLS/);
    assert.equal(await probePlaintext({ host: '127.0.0.1', port: echo.port }), { outcome: 'ok' });
    // Nothing listening is no TLS mistake: the cars' reconnects wait for the server.
    assert.is((await probeTls({ host: '127.0.0.1', port: 1 }, channelTls(tlsConfig()), certs.ca)).outcome, 'unknown');
  } finally {
    await echo.close();
  }
});

test('mutual TLS with --cert-dir: each car has its own connection, and the server sees each car\'s own certificate CN', async () => {
  const server = await recordingServer(serverCredentials(certs, { clientCa: certs.ca }));
  try {
    const tls = tlsConfig({ certDir: certs.cars });
    // Load mode: 4 cars over 2 worker threads; --channels 1 is overridden, one connection per car.
    const summary = await runLoad(load({ target: `127.0.0.1:${server.port}`, tls, channels: 1 }));
    assert.is(summary.failed, 0, JSON.stringify(summary));
    assert.is(summary.channels, 4);
    assert.is(server.streams.length, 4);
    for (const s of server.streams) {
      assert.ok(s.tls);
      assert.equal([...s.carIds], [s.cn], `the stream of ${s.cn} carried only its own car's messages`);
    }
    assert.equal(server.streams.map((s) => s.cn).sort(), ['LOADTLS-001', 'LOADTLS-002', 'LOADTLS-003', 'LOADTLS-004']);

    // Realistic mode the same, 3 cars on (asked) 1 channel.
    server.streams.length = 0;
    const realistic = await runRealistic({
      target: `127.0.0.1:${server.port}`, tls, cars: 3, intervalMs: 100, durationSec: 0.8, channels: 1, seed: 1, carPrefix: 'CAR-', stations: new Map(),
    });
    assert.is(realistic.failed, 0);
    assert.ok(realistic.acked >= 3);
    assert.equal(server.streams.map((s) => s.cn).sort(), ['CAR-001', 'CAR-002', 'CAR-003']);
    for (const s of server.streams) assert.equal([...s.carIds], [s.cn]);
  } finally {
    server.close();
  }
});

test('mutual TLS with one --cert: every car on it speaks as the certificate\'s CN', async () => {
  const server = await recordingServer(serverCredentials(certs, { clientCa: certs.ca }));
  try {
    const cert = { certFile: `${certs.cars}/CAR-001.pem`, keyFile: `${certs.cars}/CAR-001-key.pem` };
    const summary = await runLoad(load({ target: `127.0.0.1:${server.port}`, tls: tlsConfig({ cert }), cars: 3, threads: 1, channels: 1 }));
    assert.is(summary.failed, 0);
    assert.is(server.streams.length, 3);
    assert.equal(server.streams.map((s) => s.cn), ['CAR-001', 'CAR-001', 'CAR-001']);
  } finally {
    server.close();
  }
});

test('mutual TLS refused: no client certificate, or one from another CA, is told by the probe', async () => {
  const server = await recordingServer(serverCredentials(certs, { clientCa: certs.ca }));
  try {
    const target = { host: '127.0.0.1', port: server.port };
    const none = await probeTls(target, channelTls(tlsConfig()), certs.ca);
    assert.is(none.outcome, 'refused');
    assert.match((none as { reason: string }).reason, /requires a client certificate.*--cert and --key, or --cert-dir/);
    const strangerFile = `${other.cars}/LOADTLS-001.pem`;
    const stranger = await probeTls(target, channelTls(tlsConfig({ cert: { certFile: strangerFile, keyFile: `${other.cars}/LOADTLS-001-key.pem` } })), certs.ca);
    assert.is(stranger.outcome, 'refused');
    assert.match((stranger as { reason: string }).reason, `refused the client certificate ${strangerFile}`);
    assert.equal(await probeTls(target, channelTls(tlsConfig({ certDir: certs.cars }), 'CAR-002'), certs.ca), { outcome: 'ok' });
    assert.is(server.streams.length, 0, 'a probe opens no stream');
  } finally {
    server.close();
  }
});

test.after(() => {
  certs.remove();
  other.remove();
});

test.run();
