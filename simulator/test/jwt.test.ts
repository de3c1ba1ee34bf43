/**
 * JWT bearer tokens against a real grpc-js server that verifies them with jose (jwtVerify against
 * the jwks.json of scripts/certs.mjs, issuer and audience greenlane): one token minted per car
 * (sub = the car id, scope vehicle), in load mode's worker threads and in realistic mode; a token
 * that expires ends the stream UNAUTHENTICATED and the car comes back with a fresh one; a token
 * refused at the first stream stops the run (exit code 3 from the CLI, naming the credential).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { mintToken, readSigningKey } from '@greenlane/common/jwt-mint';
import { runLoad, type LoadOptions } from '../src/load/run-load.js';
import { runRealistic } from '../src/realistic/run-realistic.js';
import { CarToken, RENEW_BEFORE_MS } from '../src/credentials.js';
import type { JwtConfig } from '../src/security-options.js';
import { makeCerts, recordingServer, type SeenStream } from './tls-fixtures.js';

const certs = makeCerts(['CAR-001']);
// A key the server does not know: what a simulator holding the wrong --jwt-key signs with.
const stranger = makeCerts(['CAR-001']);
const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
const SECRET = 'a-development-secret-of-32-chars-at-least';

const keyConfig = (overrides: Partial<Extract<JwtConfig, { kind: 'key' }>> = {}): JwtConfig => ({
  kind: 'key', keyFile: certs.jwtKey, alg: 'ES256', kid: 'greenlane-dev-1', ttlSeconds: 3600, issuer: 'greenlane', audience: 'greenlane', source: '--jwt-key', ...overrides,
});

interface Verified {
  stream: SeenStream;
  payload: JWTPayload;
  kid: string | undefined;
  token: string;
}

/**
 * A server that acknowledges a stream only with a valid bearer token (else UNAUTHENTICATED at
 * once), and, with `cutAtExpiry`, ends it UNAUTHENTICATED when the token expires (as the ingestion does).
 */
async function verifyingServer(key: JWTVerifyGetKey | Uint8Array, options: { cutAtExpiry?: boolean } = {}) {
  const verified: Verified[] = [];
  const refused: string[] = [];
  const server = await recordingServer(grpc.ServerCredentials.createInsecure(), async (stream) => {
    const header = stream.metadata.get('authorization')[0];
    const token = typeof header === 'string' ? /^Bearer (.+)$/.exec(header)?.[1] : undefined;
    if (token === undefined) return { code: grpc.status.UNAUTHENTICATED, details: 'no bearer token' };
    try {
      const { payload } = key instanceof Uint8Array
        ? await jwtVerify(token, key, { issuer: 'greenlane', audience: 'greenlane', algorithms: ['HS256'] })
        : await jwtVerify(token, key, { issuer: 'greenlane', audience: 'greenlane' });
      verified.push({ stream, payload, kid: decodeProtectedHeader(token).kid, token });
      if (options.cutAtExpiry) {
        const timer = setTimeout(() => stream.call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: 'token expired', metadata: new grpc.Metadata() }), payload.exp! * 1000 - Date.now());
        stream.call.on('cancelled', () => clearTimeout(timer));
        stream.call.on('finish', () => clearTimeout(timer));
      }
      return undefined;
    } catch (error) {
      refused.push((error as Error).message);
      return { code: grpc.status.UNAUTHENTICATED, details: `invalid token: ${(error as Error).message}` };
    }
  });
  return { ...server, verified, refused };
}

const jwks = () => createLocalJWKSet(JSON.parse(readFileSync(certs.jwks, 'utf8')));

function load(overrides: Partial<LoadOptions>): LoadOptions {
  return {
    target: '127.0.0.1:1', cars: 3, durationSec: 0.6, rate: undefined, inflight: 2, channels: 2, threads: 2,
    seed: 3, intervalMs: 2000, carPrefix: 'JWT-', drainMs: 3000, ...overrides,
  };
}

test('load mode (worker threads) mints one token per car: sub = the car id, scope vehicle, kid greenlane-dev-1, verified against jwks.json; no x-api-token', async () => {
  const server = await verifyingServer(jwks());
  try {
    const summary = await runLoad(load({ target: `127.0.0.1:${server.port}`, jwt: keyConfig() }));
    assert.is(summary.failed, 0, JSON.stringify(summary));
    assert.is(summary.rejected, 0);
    assert.is(server.verified.length, 3);
    assert.equal(server.verified.map((v) => v.payload.sub).sort(), ['JWT-001', 'JWT-002', 'JWT-003']);
    for (const v of server.verified) {
      assert.equal([...v.stream.carIds], [v.payload.sub], 'each car speaks for itself only');
      assert.is(v.payload.scope, 'vehicle');
      assert.is(v.kid, 'greenlane-dev-1');
      assert.ok(v.payload.exp! - v.payload.iat! === 3600);
      assert.equal(v.stream.metadata.get('x-api-token'), [], 'no x-api-token beside the JWT unless asked for');
    }
  } finally {
    server.close();
  }
});

test('HS256 (--jwt-secret), with the x-api-token given too: both are sent, the token verifies with the secret', async () => {
  const server = await verifyingServer(new TextEncoder().encode(SECRET));
  try {
    const summary = await runRealistic({
      target: `127.0.0.1:${server.port}`, token: 'explicit', cars: 2, intervalMs: 100, durationSec: 0.5, channels: 1, seed: 2, carPrefix: 'CAR-', stations: new Map(),
      jwt: { kind: 'secret', secret: SECRET, ttlSeconds: 600, issuer: 'greenlane', audience: 'greenlane', source: '--jwt-secret' },
    });
    assert.is(summary.failed, 0);
    assert.ok(summary.acked > 0);
    assert.equal(server.verified.map((v) => v.payload.sub).sort(), ['CAR-001', 'CAR-002']);
    for (const v of server.verified) assert.equal(v.stream.metadata.get('x-api-token'), ['explicit']);
  } finally {
    server.close();
  }
});

/** The streams of each car, in order, and the token each opened with. */
function byCar(verified: Verified[]): Map<string, Verified[]> {
  const cars = new Map<string, Verified[]>();
  for (const v of verified) cars.set(v.payload.sub!, [...(cars.get(v.payload.sub!) ?? []), v]);
  return cars;
}

function assertRenewed(verified: Verified[], cars: string[]): void {
  const streams = byCar(verified);
  assert.equal([...streams.keys()].sort(), cars);
  for (const [car, list] of streams) {
    assert.ok(list.length >= 2, `${car} reconnected after its token expired (${list.length} streams)`);
    for (let i = 1; i < list.length; i++) {
      assert.is.not(list[i]!.token, list[i - 1]!.token, `${car}'s stream ${i + 1} has a fresh token`);
      assert.ok(list[i]!.payload.exp! > list[i - 1]!.payload.exp!);
    }
  }
}

test('realistic mode: the server ends a stream UNAUTHENTICATED as its token expires; the car reconnects with a fresh one and loses nothing', async () => {
  const server = await verifyingServer(jwks(), { cutAtExpiry: true });
  try {
    const summary = await runRealistic({
      target: `127.0.0.1:${server.port}`, cars: 2, intervalMs: 100, durationSec: 4.5, channels: 1, seed: 4, carPrefix: 'CAR-', stations: new Map(),
      jwt: keyConfig({ ttlSeconds: 2 }),
    });
    assert.is(summary.refusedToken, undefined, 'an expiry is no refusal');
    assert.is(summary.rejected, 0);
    assert.is(summary.failed, 0);
    assert.is(summary.acked, summary.sent);
    assert.ok(summary.reconnects >= 2, `reconnects ${summary.reconnects}`);
    assertRenewed(server.verified, ['CAR-001', 'CAR-002']);
    assert.is(server.refused.length, 0, 'no expired token was ever offered');
  } finally {
    server.close();
  }
});

test('load mode: the same renewal in the worker threads, each with the key file', async () => {
  const server = await verifyingServer(jwks(), { cutAtExpiry: true });
  try {
    const summary = await runLoad(load({ target: `127.0.0.1:${server.port}`, cars: 2, threads: 2, rate: 40, durationSec: 3.5, jwt: keyConfig({ ttlSeconds: 2 }) }));
    assert.is(summary.refusedToken, undefined);
    assert.is(summary.failed, 0, JSON.stringify(summary));
    assert.ok(summary.reconnects >= 2);
    assertRenewed(server.verified, ['JWT-001', 'JWT-002']);
  } finally {
    server.close();
  }
});

test('a token refused at the first stream stops the run: the summary says so, and the CLI exits 3 naming --jwt-key', async () => {
  const server = await verifyingServer(jwks());
  try {
    const summary = await runLoad(load({ target: `127.0.0.1:${server.port}`, jwt: keyConfig({ keyFile: stranger.jwtKey }), durationSec: 5 }));
    assert.match(summary.refusedToken ?? '', /UNAUTHENTICATED: invalid token/);
    assert.ok(summary.durationSec < 4, 'the run stopped at the refusal');
    assert.is(summary.acked, 0);

    const child = spawn(process.execPath, [MAIN, '--mode', 'load', '--target', `127.0.0.1:${server.port}`, '--cars', '2', '--threads', '1', '--duration', '5', '--jwt-key', stranger.jwtKey, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.is(code, 3, stderr);
    assert.match(stderr, /refused the simulator's token \(its minted JWTs\)/);
    assert.match(stderr, `minted with --jwt-key ${stranger.jwtKey} (ES256, kid greenlane-dev-1`);
  } finally {
    server.close();
  }
});

test('--jwt (one fixed token): never renewed, so its expiry stops the run as a refusal', async () => {
  const server = await verifyingServer(jwks(), { cutAtExpiry: true });
  try {
    const token = await mintToken(await readSigningKey(certs.jwtKey, 'ES256', 'greenlane-dev-1'), { subject: 'CAR-001', scopes: ['vehicle'], ttlSeconds: 2 });
    const started = Date.now();
    const summary = await runRealistic({
      target: `127.0.0.1:${server.port}`, cars: 1, intervalMs: 100, durationSec: 10, channels: 1, seed: 4, carPrefix: 'CAR-', stations: new Map(),
      jwt: { kind: 'static', token, source: '--jwt' },
    });
    assert.match(summary.refusedToken ?? '', /token expired/);
    assert.ok(Date.now() - started < 9_000, 'stopped at the expiry, not at the end of the duration');
    assert.is(server.verified.length, 1);
    assert.is(server.verified[0]!.token, token);
  } finally {
    server.close();
  }
});

test('CarToken: reused until a minute before expiry, then minted afresh; a refusal renews only an expired or answered token, and not in a loop', async () => {
  let now = 1_000_000_000_000;
  let mints = 0;
  const token = new CarToken('CAR-007', async (carId) => ({ token: `${carId}-${++mints}`, expiresAt: now + 3_600_000 }), { apiToken: undefined, commands: true }, () => now);
  const bearer = async () => (await token.metadata()).get('authorization')[0];
  assert.is(await bearer(), 'Bearer CAR-007-1');
  assert.equal((await token.metadata()).get('x-greenlane-capabilities'), ['commands']);
  now += 3_600_000 - RENEW_BEFORE_MS - 1;
  assert.is(await bearer(), 'Bearer CAR-007-1', 'still more than a minute to go');
  now += 2;
  assert.is(await bearer(), 'Bearer CAR-007-2', 'within a minute of expiry: a fresh one');
  // Refused before any answer with a good token: for good.
  assert.is(token.renewAfterRefusal(false), false);
  // Refused after the server had answered (an accepted stream): renew.
  assert.is(token.renewAfterRefusal(true), true);
  assert.is(await bearer(), 'Bearer CAR-007-3');
  // Refused at its expiry, unanswered (a silent car): renew; but not over and over.
  now += 3_600_000;
  assert.ok(token.renewAfterRefusal(false) && token.renewAfterRefusal(false));
  assert.is(token.renewAfterRefusal(false), false, 'the fourth renewal in a row with no answer in between is refused');
});

test.after(() => {
  certs.remove();
  stranger.remove();
});

test.run();
