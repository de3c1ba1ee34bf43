/**
 * The simulator against the REAL ingestion with its security on (issue 18), no shared token
 * (API_TOKENS empty), two instances on one topic:
 *   - mutual TLS (INGESTION_TLS_CERT/KEY/CLIENT_CA): each car its own certificate (--cert-dir),
 *     everything acknowledged and on the topic; a car sharing another's certificate is refused its
 *     messages; the CLI stops on a client certificate from a stranger CA (exit 4);
 *   - TLS with JWTs verified against the JWKS (AUTH_JWKS): each car its own token (--jwt-key);
 *     tokens that expire mid-run are renewed with nothing lost; the CLI stops on tokens from an
 *     unknown key (exit 3). (With mutual TLS the certificate names the car and a JWT is not
 *     looked at, so expiry is tried on the second instance.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { uniqueName } from '@greenlane/common/testing';
import { runLoad } from '../src/load/run-load.js';
import { runRealistic } from '../src/realistic/run-realistic.js';
import type { ClientTlsConfig, JwtConfig } from '../src/security-options.js';
import { ingestionBuilt, ingestionProcess, readTopic, INGESTION_MAIN, type IngestionProcess } from './helpers.js';
import { makeCerts } from './tls-fixtures.js';

const test = suite('simulator → ingestion with TLS and JWTs');
const topic = uniqueName('simulator-sec');
const run = uniqueName('r').slice(-6).toUpperCase();
const prefix = `SEC${run}-`;
const cars = [1, 2, 3, 4].map((i) => `${prefix}${String(i).padStart(3, '0')}`);
const certs = makeCerts(cars);
const stranger = makeCerts([cars[0]!]);
const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
let ingestion: IngestionProcess;
let jwtIngestion: IngestionProcess;

const tls = (overrides: Partial<ClientTlsConfig> = {}): ClientTlsConfig => ({ caFile: certs.ca, serverName: undefined, cert: undefined, certDir: certs.cars, ...overrides });
const jwt = (ttlSeconds = 3600): JwtConfig => ({ kind: 'key', keyFile: certs.jwtKey, alg: 'ES256', kid: 'greenlane-dev-1', ttlSeconds, issuer: 'greenlane', audience: 'greenlane', source: '--jwt-key' });

test.before(async () => {
  if (!ingestionBuilt()) throw new Error(`${INGESTION_MAIN} is missing: build ingestion first (npx tsc -b ingestion)`);
  const env = { API_TOKENS: '', INGESTION_TLS_CERT: certs.serverCert, INGESTION_TLS_KEY: certs.serverKey, AUTH_JWKS: certs.jwks, INGESTION_CAR_RATE: '0', INGESTION_STREAM_RATE: '0' };
  ingestion = await ingestionProcess({ topic, token: 'unused', redisDb: 12, env: { ...env, INGESTION_TLS_CLIENT_CA: certs.ca } });
  jwtIngestion = await ingestionProcess({ topic, token: 'unused', redisDb: 12, env });
  await Promise.all([ingestion.start(), jwtIngestion.start()]);
});

test.after(async () => {
  await Promise.all([ingestion?.stop(), jwtIngestion?.stop()]);
  certs.remove();
  stranger.remove();
});

test('mutual TLS, load mode, each car its own certificate: every message acknowledged, and on the topic', async () => {
  const summary = await runLoad({
    target: ingestion.grpcTarget, tls: tls(), cars: 4, durationSec: 2, rate: undefined, inflight: 2,
    channels: 1, threads: 2, seed: 1, intervalMs: 2000, carPrefix: prefix, drainMs: 5000,
  });
  assert.ok(summary.sent > 0);
  assert.is(summary.acked, summary.sent, JSON.stringify(summary));
  assert.is(summary.rejected, 0);
  const mine = (es: Array<Record<string, unknown>>) => es.filter((e) => e.event_type === 'telemetry' && String(e.car_id).startsWith(prefix));
  const events = await readTopic(topic, (es) => new Set(mine(es).map((e) => e.event_id)).size >= summary.acked);
  assert.is(new Set(mine(events).map((e) => e.event_id)).size, summary.acked);
});

test('TLS and JWTs, load mode: each car its own token, every message acknowledged', async () => {
  const summary = await runLoad({
    target: jwtIngestion.grpcTarget, tls: tls({ certDir: undefined }), jwt: jwt(), cars: 4, durationSec: 1, rate: undefined, inflight: 2,
    channels: 2, threads: 2, seed: 2, intervalMs: 2000, carPrefix: `${prefix}J`, drainMs: 5000,
  });
  assert.ok(summary.sent > 0);
  assert.is(summary.acked, summary.sent, JSON.stringify(summary));
});

test('TLS and JWTs, realistic mode with 3-second tokens: the ingestion ends each stream at expiry, the cars come back with fresh tokens, nothing is lost', async () => {
  const summary = await runRealistic({
    target: jwtIngestion.grpcTarget, tls: tls({ certDir: undefined }), jwt: jwt(3), cars: 2, intervalMs: 200, durationSec: 7, channels: 1, seed: 5, carPrefix: prefix, stations: new Map(),
  });
  assert.is(summary.refusedToken, undefined, JSON.stringify(summary));
  assert.is(summary.rejected, 0, summary.firstError);
  assert.is(summary.failed, 0);
  assert.is(summary.acked, summary.sent);
  // Two cars, each token lasting 3 s, over 7 s: at least two expiries each.
  assert.ok(summary.reconnects >= 4, `reconnects ${summary.reconnects}`);
});

test('one --cert for two cars: the second car\'s messages are refused (a car speaks only for itself)', async () => {
  const cert = { certFile: `${certs.cars}/${cars[0]}.pem`, keyFile: `${certs.cars}/${cars[0]}-key.pem` };
  const summary = await runLoad({
    target: ingestion.grpcTarget, tls: tls({ certDir: undefined, cert }), cars: 2, durationSec: 1, rate: 20, inflight: 1,
    channels: 1, threads: 1, seed: 1, intervalMs: 2000, carPrefix: prefix, drainMs: 5000,
  });
  assert.ok(summary.rejected > 0, JSON.stringify(summary));
  assert.match(summary.firstError ?? '', /is not this connection's identity/);
  assert.ok(summary.acked > 0, 'the first car gets through');
});

function cli(target: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, '--mode', 'load', '--target', target, '--cars', '2', '--threads', '1', '--duration', '5', '--car-prefix', prefix, '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

test('the CLI: a client certificate of another CA stops the run with exit code 4; tokens of an unknown key with exit code 3', async () => {
  const foreign = await cli(ingestion.grpcTarget, ['--tls-ca', certs.ca, '--cert-dir', stranger.cars, '--cars', '1']);
  assert.is(foreign.code, 4, foreign.stderr);
  assert.match(foreign.stderr, /refused the client certificate/);
  const unknownKey = await cli(jwtIngestion.grpcTarget, ['--tls-ca', certs.ca, '--jwt-key', stranger.jwtKey]);
  assert.is(unknownKey.code, 3, unknownKey.stderr);
  assert.match(unknownKey.stderr, /refused the simulator's token \(its minted JWTs\)/);
});

test.run();
