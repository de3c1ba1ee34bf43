/**
 * The auth fuzz phase of `node chaos/fuzz.mjs` (issue 18): hostile credentials and handshakes at
 * two ingestions of their own on the fuzz run's stack, while valid cars stream through both.
 *
 *   ingestion-tls   TLS + JWT bearer tokens (AUTH_JWKS from scripts/certs.mjs), no x-api-token;
 *   ingestion-mtls  mutual TLS (INGESTION_TLS_CLIENT_CA; the car is its certificate's CN).
 * Both run with rate limits below the ingestion's defaults (LIMITS: 10 msgs/s per car, burst 100;
 * 20 new streams/s per source address, burst 200; the defaults are 50/500 and 100/2000), so that
 * the two floods outpace them even on a loaded machine, where a fuzzer does not open 2,000 streams
 * in a few seconds; set explicitly, so a shell's values do not change the phase either.
 *
 * What it sends (AUTH_CASES, cycled; one call or connection each):
 * - to the TLS port over node:http2: no credential, a disabled x-api-token, random and huge
 *   `authorization` values, Basic, `Bearer a.b.c`, alg none (and None, NONE, with a signature),
 *   HS256 when only the JWKS is configured (among them HS256 keyed with the JWKS's own public
 *   key material: alg confusion), tokens signed with a foreign EC or RSA key (same kid, unknown
 *   kid, none, an embedded jwk), a tampered payload, expired, not yet valid, wrong audience or
 *   issuer, no exp, no sub, operator scopes, no scope, look-alike scopes; and a valid token for
 *   car A carrying car B's CarStatus (identity mismatch);
 * - over HTTP/2 frames written by hand (lib/fuzz-auth-wire.mjs): two `authorization` fields,
 *   control bytes in the value, an upper-case header name;
 * - raw TCP at both ports: garbage, a garbage handshake record, a ClientHello cut short (then EOF,
 *   or then silence), a ClientHello and the connection dropped mid-handshake, SSLv3 / TLS 1.0 /
 *   TLS 1.1 hellos, an oversized record, a plaintext HTTP/2 preface, plaintext HTTP/1.1, a
 *   connection opened and closed; TLS with ALPN http/1.1 only or none;
 * - to the mutual-TLS port: no client certificate, one from a foreign CA (naming a valid car),
 *   the server's own certificate as a client's, and a valid car certificate carrying another
 *   car's CarStatus;
 * - a new-stream flood from one address (`flood`), and one car over its message rate (`carFlood`).
 *
 * Every refused call carries CarStatus of cars named AUTHFUZZ-*: none may be in Redis or on the
 * topic. The calls come from loopback addresses of their own (127.x.y.1, 150 streams each, under
 * the burst) so that only the flood meets the per-address limit, from 127.0.0.3; the valid cars
 * connect from 127.0.0.1. And no JWT may be in the two ingestions' logs.
 */
import http2 from 'node:http2';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { SignJWT, exportJWK, importPKCS8 } from 'jose';
import { createClient } from 'redis';
import { CarStatus } from '../../common/dist/src/gen/fleet/fleet.js';
import { ROOT, Service, ingestionEnv, sleep } from './stack.mjs';
import { frame } from './fuzz-inputs.mjs';
import { pooled, sendStream } from './fuzz-wire.mjs';
import { H2_PREFACE, captureClientHello, legacyHello, rawH2Call, rawTcp } from './fuzz-auth-wire.mjs';
import { startSimulator } from './run-chaos.mjs';
import { readAckedLogs, readTopic } from './checker.mjs';

const run = promisify(execFile);

/** Car ids of the calls that must be refused begin with this and the run's tag (ctx.fuzzCar): nothing of theirs may be stored. */
export const FUZZ_CAR = 'AUTHFUZZ';
/** The car sent over its message rate: what the limit admits is stored, the rest answered BOOKING_FAILED. */
export const RATE_CAR = 'AUTHRATE-1';
export const KID = 'greenlane-dev-1';
/** The phase's rate limits (below the defaults, see above); the valid cars send 5 msgs/s each. */
export const LIMITS = { carRate: 10, carBurst: 100, streamRate: 20, streamBurst: 200 };
const FLOOD_ADDRESS = '127.0.0.3';
const STREAMS_PER_ADDRESS = 150;
/** Seconds before a call without an answer counts as hung (generous: the machine may be loaded). */
const CALL_TIMEOUT_MS = 30_000;
const PATH = '/fleet.FleetService/StreamTelemetry';
const BASE = { ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers' };
const GRPC = { OK: 0, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, UNAUTHENTICATED: 16 };
const ACKED = 0;
const FAILED = 2;
export const REASONS = ['missing', 'wrong', 'api_token_disabled', 'jwt_malformed', 'jwt_signature', 'jwt_expired', 'jwt_not_yet_valid', 'jwt_claims', 'jwt_scope', 'jwt_keys_unavailable', 'jwt_not_configured', 'certificate_subject', 'stream_rate', 'error'];

/**
 * The ingestion's refusal messages (ingestion/src/security/vehicle-auth.ts, common/src/jwt-auth.ts)
 * → the reason it counts them under in ingestion_auth_refused_total. A message none of these match
 * is reported as `unclassified: <message>` (the ingestion's wording changed: update this list).
 */
const REASON_OF_MESSAGE = [
  [/^missing credentials/, 'missing'],
  [/^invalid x-api-token/, 'wrong'],
  [/^x-api-token is not accepted here/, 'api_token_disabled'],
  [/must be one "Bearer <JWT>"/, 'jwt_malformed'],
  [/^bearer token refused: token (length|malformed)/, 'jwt_malformed'],
  [/^bearer token refused: token (signature|algorithm)/, 'jwt_signature'],
  [/^bearer token refused: token expired/, 'jwt_expired'],
  [/^bearer token refused: token not yet valid/, 'jwt_not_yet_valid'],
  [/^bearer token refused: token claim/, 'jwt_claims'],
  [/^bearer token refused: signing keys unavailable/, 'jwt_keys_unavailable'],
  [/^bearer token lacks scope/, 'jwt_scope'],
  [/^bearer tokens are not accepted here/, 'jwt_not_configured'],
  [/^client certificate has no single subject CN/, 'certificate_subject'],
  [/^too many new streams/, 'stream_rate'],
  [/^credentials could not be checked/, 'error'],
];

export function reasonOf(message) {
  let text = message ?? '';
  try {
    text = decodeURIComponent(text);
  } catch {
    // not percent-encoded
  }
  for (const [re, reason] of REASON_OF_MESSAGE) if (re.test(text)) return reason;
  return `unclassified: ${text.slice(0, 120)}`;
}

const ids = (prefix, n) => Array.from({ length: n }, (_, k) => `${prefix}${String(k + 1).padStart(3, '0')}`);
const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const MISMATCH = /is not this connection's identity/;

/** A CarStatus that passes validation: only the credential may stop it. */
function status(carId, k = 0) {
  return frame(
    Buffer.from(
      CarStatus.encode({
        carId, latitude: 40.75 + (k % 100) * 1e-5, longitude: -73.98, batteryLevel: 50, velocity: 20, timestamp: Date.now() + k,
        stationId: '', charging: false, chargeEnergyKwh: 0, pluggedInAt: 0, bookingRequest: undefined, commandResult: undefined,
      }).finish(),
    ),
  );
}

/**
 * Certificates and keys (scripts/certs.mjs in the run folder, and a second CA for foreign
 * certificates), the two ingestions (not started) and the valid cars' names.
 */
export async function prepareAuth({ cfg, dir, topic, runId, cars = 10 }) {
  const certDir = join(dir, 'certs');
  const foreignDir = join(dir, 'certs-foreign');
  const prefixes = { tls: `${runId.slice(-6)}T-`, mtls: `${runId.slice(-6)}M-` };
  const valid = { tls: ids(prefixes.tls, cars), mtls: ids(prefixes.mtls, cars) };
  // The fuzz cars' ids carry the run's tag, so a leftover of another run on a shared Redis is never taken for this one's.
  const fuzzCar = `${FUZZ_CAR}${runId.slice(-6)}`;
  const fuzzCertCars = Array.from({ length: 8 }, (_, k) => `${fuzzCar}-M${k}`);
  const certs = join(ROOT, 'scripts/certs.mjs');
  await run(process.execPath, [certs, '--out', certDir, '--car-ids', [...valid.mtls, ...fuzzCertCars].join(',')], { cwd: ROOT, timeout: 120_000 });
  await run(process.execPath, [certs, '--out', foreignDir, '--car-ids', valid.mtls[0]], { cwd: ROOT, timeout: 60_000 });
  const file = (...p) => readFileSync(join(...p));
  const jwksText = readFileSync(join(certDir, 'jwks.json'), 'utf8');
  const publicJwk = JSON.parse(jwksText).keys[0];
  const wrongEc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const wrongRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ctx = {
    host: '127.0.0.1',
    fuzzCar,
    ports: { tls: cfg.authIngestion.tls.grpcPort, mtls: cfg.authIngestion.mtls.grpcPort },
    ca: file(certDir, 'ca.pem'),
    signingKeyPath: join(certDir, 'jwt-signing-key.pem'),
    signing: await importPKCS8(readFileSync(join(certDir, 'jwt-signing-key.pem'), 'utf8'), 'ES256'),
    wrongEc: wrongEc.privateKey,
    wrongEcJwk: await exportJWK(wrongEc.publicKey),
    wrongRsa: wrongRsa.privateKey,
    jwksText,
    publicPem: createPublicKey({ key: publicJwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }),
    fuzzCerts: fuzzCertCars.map((car) => ({ car, cert: file(certDir, 'cars', `${car}.pem`), key: file(certDir, 'cars', `${car}-key.pem`) })),
    foreign: { cert: file(foreignDir, 'cars', `${valid.mtls[0]}.pem`), key: file(foreignDir, 'cars', `${valid.mtls[0]}-key.pem`) },
    serverAsClient: { cert: file(certDir, 'server.pem'), key: file(certDir, 'server-key.pem') },
    hello: await captureClientHello('localhost'),
    tokens: new Map(),
  };
  const limits = {
    INGESTION_CAR_RATE: String(LIMITS.carRate),
    INGESTION_CAR_BURST: String(LIMITS.carBurst),
    INGESTION_STREAM_RATE: String(LIMITS.streamRate),
    INGESTION_STREAM_BURST: String(LIMITS.streamBurst),
  };
  // Only what is set here identifies cars: the shell's tokens and secrets are taken away.
  const none = { API_TOKENS: undefined, AUTH_JWT_HS256_SECRET: undefined, AUTH_JWKS: undefined, INGESTION_TLS_CLIENT_CA: undefined, AUTH_JWT_ISSUER: 'greenlane', AUTH_JWT_AUDIENCE: 'greenlane' };
  const tlsFiles = { INGESTION_TLS_CERT: join(certDir, 'server.pem'), INGESTION_TLS_KEY: join(certDir, 'server-key.pem') };
  const service = (name, p, env) => new Service(name, 'ingestion/dist/src/main.js', { ...ingestionEnv(cfg, topic, p), ...none, ...limits, ...tlsFiles, ...env }, dir, `http://127.0.0.1:${p.httpPort}/ready`);
  const services = {
    tls: service('ingestion-tls', cfg.authIngestion.tls, { AUTH_JWKS: join(certDir, 'jwks.json') }),
    mtls: service('ingestion-mtls', cfg.authIngestion.mtls, { INGESTION_TLS_CLIENT_CA: join(certDir, 'ca.pem') }),
  };
  const metricsUrl = { tls: `http://127.0.0.1:${cfg.authIngestion.tls.httpPort}/metrics`, mtls: `http://127.0.0.1:${cfg.authIngestion.mtls.httpPort}/metrics` };
  const readyUrl = { tls: `http://127.0.0.1:${cfg.authIngestion.tls.httpPort}/ready`, mtls: `http://127.0.0.1:${cfg.authIngestion.mtls.httpPort}/ready` };
  return { ctx, services, metricsUrl, readyUrl, valid, prefixes, certDir, dir };
}

/** Both at once (each start waits for its /ready). */
export async function startAuthIngestions(auth) {
  await Promise.all([auth.services.tls.start(), auth.services.mtls.start()]);
}

/** The valid cars: one simulator through each ingestion, with a minted JWT per car, or a certificate per car. */
export function startAuthCars(auth, { intervalMs, logDir }) {
  const { certDir } = auth;
  const ca = join(certDir, 'ca.pem');
  const sims = [
    { name: 'simulator-tls', port: auth.ctx.ports.tls, prefix: auth.prefixes.tls, seed: 11, args: ['--tls-ca', ca, '--jwt-key', auth.ctx.signingKeyPath, '--jwt-kid', KID] },
    { name: 'simulator-mtls', port: auth.ctx.ports.mtls, prefix: auth.prefixes.mtls, seed: 13, args: ['--tls-ca', ca, '--cert-dir', join(certDir, 'cars')] },
  ];
  return sims.map((s) => {
    const ackedLog = join(logDir, `acked-${s.name}.log`);
    const sim = startSimulator({
      name: s.name, target: `127.0.0.1:${s.port}`, cars: auth.valid.tls.length, intervalMs, seed: s.seed, prefix: s.prefix,
      ackedLog, logDir, token: null, args: s.args,
    });
    return { ...sim, name: s.name, ackedLog };
  });
}

// ---- tokens -------------------------------------------------------------------------------------

/** A JWT; `kid: undefined` and `scope: null` leave them out, `exp: false` too. */
function jwt(key, { alg = 'ES256', kid = KID, header = {}, sub, scope = 'vehicle', iss = 'greenlane', aud = 'greenlane', ttl = 3600, nbf, exp = true }) {
  const now = Math.floor(Date.now() / 1000);
  const token = new SignJWT(scope === null ? {} : { scope })
    .setProtectedHeader({ alg, typ: 'JWT', ...(kid === undefined ? {} : { kid }), ...header })
    .setIssuer(iss)
    .setAudience(aud)
    .setIssuedAt(now);
  if (sub !== undefined) token.setSubject(sub);
  if (exp) token.setExpirationTime(now + ttl);
  if (nbf !== undefined) token.setNotBefore(now + nbf);
  return token.sign(key);
}

/** An unsigned token (`alg: none` and its spellings); `signature` appended when given. */
function unsigned(alg, sub, signature = '') {
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg, typ: 'JWT' })}.${b64({ sub, scope: 'vehicle', iss: 'greenlane', aud: 'greenlane', iat: now, exp: now + 3600 })}.${signature}`;
}

/** Tokens are minted once per kind and car (a few dozen cars per kind), then reused. */
function token(ctx, kind, car, make) {
  const key = `${kind} ${car}`;
  let t = ctx.tokens.get(key);
  if (t === undefined) {
    t = make();
    ctx.tokens.set(key, t);
  }
  return t;
}

const valid = (ctx, car) => token(ctx, 'valid', car, () => jwt(ctx.signing, { sub: car }));
const bearer = async (t) => ({ authorization: `Bearer ${await t}` });
const printable = (n, seed) => Array.from(randomBytes(n), (b) => String.fromCharCode(0x21 + (b % 94))).join('').replace(/^[Bb]/, 'x') + String(seed % 10);

// ---- judges: what a correct ingestion does with one kind ------------------------------------------

/** Refused before any handler with `code`, counted under one of `reasons` (the client reads the reason from grpc-message). */
const refusedAs = (code, ...reasons) => (r) => {
  if (r.grpcStatus === GRPC.OK) return { ok: false, what: `ACCEPTED, answers ${JSON.stringify(r.responses.map((x) => [x.status, x.message]))}` };
  const reason = r.grpcStatus === undefined ? undefined : reasonOf(r.grpcMessage);
  const ok = r.grpcStatus === code && reasons.includes(reason) && r.responses.length === 0;
  return { ok, counted: r.grpcStatus !== undefined ? reason : undefined, what: r.grpcStatus === undefined ? r.outcome : `${r.outcome} ${reason}` };
};
/** Authenticated as the token's car, its CarStatus for another car answered BOOKING_FAILED and never stored. */
const mismatchAnswered = (credential) => (r) => {
  const answer = r.responses[0];
  const ok = (r.outcome === 'grpc-0' || r.outcome === 'answered') && r.responses.length === 1 && answer.status === FAILED && MISMATCH.test(answer.message ?? '');
  return { ok, mismatch: ok ? credential : undefined, what: ok ? 'BOOKING_FAILED identity mismatch' : `${r.outcome} ${JSON.stringify(r.responses.map((x) => [x.status, x.message]))}` };
};
/** Refused by HTTP/2 itself (a reset, the session refused), or by the auth check as one of `reasons`. */
const transportOr = (...reasons) => (r) => {
  if (r.grpcStatus !== undefined) return refusedAs(GRPC.UNAUTHENTICATED, ...reasons)(r);
  const ok = r.responses.length === 0 && r.outcome !== 'hung';
  return { ok, what: `${r.outcome}${r.error ? ` ${r.error}` : ''}` };
};
/** Hand-written HTTP/2: a trailers-only answer (a refusal before the handler, counted as `reason`) or a reset. */
const rawRefused = (reason) => (r) => {
  if (r.outcome === 'refused') return { ok: true, counted: reason, what: 'refused before the handler' };
  return { ok: r.outcome === 'reset', what: r.outcome === 'reset' ? `reset ${r.code}` : `${r.outcome} ${JSON.stringify(r.responses.map((x) => [x.status, x.message]))}` };
};
/** Two authorization fields with two cars' tokens: refused, or (node:http2 keeps the first) the first car's, so the second car's status a mismatch. */
const rawRefusedOrFirstWins = (reason) => (r) => {
  if (r.outcome === 'refused') return { ok: true, counted: reason, what: 'refused before the handler' };
  return { ...mismatchAnswered('jwt')(r), what: r.outcome === 'answered' ? 'first authorization used: BOOKING_FAILED identity mismatch' : r.outcome };
};
/** The TLS handshake refused (no HTTP/2 answer of any kind). */
const tlsRefused = (r) => ({ ok: r.outcome === 'closed' && r.responses.length === 0, what: `${r.outcome}${r.error ? ` ${r.error}` : ''}` });
/** Raw TCP: one of `allowed` (closed, alert, dropped); never a ServerHello to a hello it must refuse. */
const tcp = (...allowed) => (r) => ({ ok: allowed.includes(r.outcome), what: r.outcome === 'alert' ? `alert ${r.alert}` : r.outcome });

// ---- the cases ------------------------------------------------------------------------------------

const h2 = (kind, headers, judge, extra = {}) => ({ kind, via: 'h2', port: 'tls', headers, judge, car: (i, ctx) => `${ctx.fuzzCar}-${i % 200}`, ...extra });
const unauth = (...reasons) => refusedAs(GRPC.UNAUTHENTICATED, ...reasons);

export const AUTH_CASES = [
  // No credential, or one the TLS port does not take.
  h2('no-credential', async () => ({}), unauth('missing')),
  h2('x-api-token-disabled', async () => ({ 'x-api-token': 'chaos-private-token' }), unauth('api_token_disabled')),
  // Garbage and huge authorization values. Non-ASCII bytes are dropped by grpc-js (not a legal
  // metadata value), so that call has no credential at all.
  h2('authorization-random-ascii', async (ctx, car, i) => ({ authorization: printable(1 + (i % 997), i) }), unauth('jwt_malformed')),
  h2('authorization-random-bytes', async (ctx, car, i) => ({ authorization: `\xff${Buffer.from(randomBytes(1 + (i % 200)).map((b) => (b < 0x20 ? b + 0x80 : b === 0x7f ? 0x80 : b))).toString('latin1')}x` }), unauth('missing')),
  h2('bearer-10KB', async () => ({ authorization: `Bearer ${'A'.repeat(10_240)}` }), unauth('jwt_malformed')),
  // Over the HTTP/2 header list limit: refused by HTTP/2 (the connection goes too), so it gets one of its own.
  h2('bearer-100KB', async () => ({ authorization: `Bearer ${'A'.repeat(100 * 1024)}` }), transportOr('jwt_malformed'), { own: true }),
  h2('basic', async () => ({ authorization: `Basic ${Buffer.from('fleet:hunter2').toString('base64')}` }), unauth('jwt_malformed')),
  h2('bearer-a.b.c', async () => ({ authorization: 'Bearer a.b.c' }), unauth('jwt_malformed')),
  // "Bearer " with nothing after it: its trailing space makes the value illegal to grpc-js (dropped: missing), or it is malformed.
  h2('bearer-empty', async () => ({ authorization: 'Bearer ' }), unauth('missing', 'jwt_malformed')),
  // A valid token with a byte grpc-js does not allow after it: dropped (no credential); and, as the
  // log check finds, grpc-js writes the value it drops, token and all, to stderr.
  h2('bearer-valid-token-non-ascii-tail', async (ctx, car) => ({ authorization: `Bearer ${await valid(ctx, car)}\xe9` }), unauth('missing')),
  h2('bearer-no-space', async (ctx, car) => ({ authorization: `Bearer${await valid(ctx, car)}` }), unauth('jwt_malformed')),
  h2('token-without-bearer', async (ctx, car) => ({ authorization: await valid(ctx, car) }), unauth('jwt_malformed')),
  h2('bearer-random-base64url', async (ctx, car, i) => ({ authorization: `Bearer ${randomBytes(30 + (i % 300)).toString('base64url')}.${randomBytes(20).toString('base64url')}` }), unauth('jwt_malformed')),
  // alg none, however spelt, with or without a signature.
  h2('alg-none', async (ctx, car) => bearer(unsigned('none', car)), unauth('jwt_signature')),
  h2('alg-none-spellings', async (ctx, car, i) => bearer(unsigned(['None', 'NONE', 'nOnE'][i % 3], car)), unauth('jwt_signature')),
  h2('alg-none-with-signature', async (ctx, car) => bearer(unsigned('none', car, (await valid(ctx, car)).split('.')[2])), unauth('jwt_signature')),
  // HS256 while only the JWKS is configured: alg confusion with the public key material as the secret, and a guessed dev secret.
  h2('hs256-keyed-with-jwks', async (ctx, car) => bearer(token(ctx, 'hs-jwks', car, () => jwt(new TextEncoder().encode(ctx.jwksText), { alg: 'HS256', sub: car }))), unauth('jwt_signature')),
  h2('hs256-keyed-with-public-pem', async (ctx, car) => bearer(token(ctx, 'hs-pem', car, () => jwt(new TextEncoder().encode(ctx.publicPem), { alg: 'HS256', sub: car }))), unauth('jwt_signature')),
  h2('hs256-guessed-secret', async (ctx, car) => bearer(token(ctx, 'hs-dev', car, () => jwt(new TextEncoder().encode('greenlane-development-secret-0123456789'), { alg: 'HS256', sub: car, kid: undefined }))), unauth('jwt_signature')),
  // Signed with a key that is not in the JWKS.
  h2('wrong-key-same-kid', async (ctx, car) => bearer(token(ctx, 'wk-kid', car, () => jwt(ctx.wrongEc, { sub: car }))), unauth('jwt_signature')),
  h2('wrong-key-unknown-kid', async (ctx, car) => bearer(token(ctx, 'wk-unknown', car, () => jwt(ctx.wrongEc, { sub: car, kid: 'attacker-1' }))), unauth('jwt_signature')),
  h2('wrong-key-no-kid', async (ctx, car) => bearer(token(ctx, 'wk-none', car, () => jwt(ctx.wrongEc, { sub: car, kid: undefined }))), unauth('jwt_signature')),
  h2('wrong-key-embedded-jwk', async (ctx, car) => bearer(token(ctx, 'wk-jwk', car, () => jwt(ctx.wrongEc, { sub: car, kid: undefined, header: { jwk: ctx.wrongEcJwk } }))), unauth('jwt_signature')),
  h2('wrong-key-rs256', async (ctx, car) => bearer(token(ctx, 'wk-rsa', car, () => jwt(ctx.wrongRsa, { alg: 'RS256', sub: car }))), unauth('jwt_signature')),
  h2('tampered-payload', async (ctx, car) => {
    const [header, , signature] = (await valid(ctx, car)).split('.');
    const [, payload] = (await valid(ctx, `${car}-OTHER`)).split('.');
    return { authorization: `Bearer ${header}.${payload}.${signature}` };
  }, unauth('jwt_signature')),
  h2('truncated-signature', async (ctx, car) => ({ authorization: `Bearer ${(await valid(ctx, car)).slice(0, -8)}` }), unauth('jwt_signature', 'jwt_malformed')),
  // Signed by the right key, refused by what it says.
  h2('expired', async (ctx, car) => bearer(token(ctx, 'expired', car, () => jwt(ctx.signing, { sub: car, ttl: -600 }))), unauth('jwt_expired')),
  h2('expired-beyond-clock-tolerance', async (ctx, car) => bearer(token(ctx, 'expired-30', car, () => jwt(ctx.signing, { sub: car, ttl: -30 }))), unauth('jwt_expired')),
  h2('not-yet-valid', async (ctx, car) => bearer(token(ctx, 'nbf', car, () => jwt(ctx.signing, { sub: car, nbf: 3600 }))), unauth('jwt_not_yet_valid')),
  h2('wrong-audience', async (ctx, car) => bearer(token(ctx, 'aud', car, () => jwt(ctx.signing, { sub: car, aud: 'another-service' }))), unauth('jwt_claims')),
  h2('wrong-issuer', async (ctx, car) => bearer(token(ctx, 'iss', car, () => jwt(ctx.signing, { sub: car, iss: 'https://attacker.example' }))), unauth('jwt_claims')),
  h2('no-exp', async (ctx, car) => bearer(token(ctx, 'no-exp', car, () => jwt(ctx.signing, { sub: car, exp: false }))), unauth('jwt_claims')),
  h2('no-sub', async (ctx, car) => bearer(token(ctx, 'no-sub', car, () => jwt(ctx.signing, {}))), unauth('jwt_claims')),
  h2('operator-scope', async (ctx, car) => bearer(token(ctx, 'operator', car, () => jwt(ctx.signing, { sub: car, scope: 'operator:read operator:command' }))), refusedAs(GRPC.PERMISSION_DENIED, 'jwt_scope')),
  h2('no-scope', async (ctx, car) => bearer(token(ctx, 'no-scope', car, () => jwt(ctx.signing, { sub: car, scope: null }))), refusedAs(GRPC.PERMISSION_DENIED, 'jwt_scope')),
  h2('look-alike-scope', async (ctx, car, i) => bearer(token(ctx, `scope-${i % 3}`, car, () => jwt(ctx.signing, { sub: car, scope: ['vehicles', 'Vehicle', 'vehicle:admin'][i % 3] }))), refusedAs(GRPC.PERMISSION_DENIED, 'jwt_scope')),
  // A valid token for car A carrying car B's status: authenticated, the message refused, nothing stored.
  h2('identity-mismatch-jwt', async (ctx, car, i) => bearer(valid(ctx, `${ctx.fuzzCar}-A${i % 50}`)), mismatchAnswered('jwt'), { car: (i, ctx) => `${ctx.fuzzCar}-B${i % 50}` }),

  // HTTP/2 frames written by hand: what node:http2 will not send.
  { kind: 'authorization-twice-garbage-first', via: 'raw-h2', port: 'tls', judge: rawRefused('jwt_malformed'),
    headers: async (ctx, car) => [['authorization', 'Bearer not.a.jwt'], ['authorization', `Bearer ${await valid(ctx, car)}`]] },
  { kind: 'authorization-twice-two-cars', via: 'raw-h2', port: 'tls', judge: rawRefusedOrFirstWins('jwt_malformed'),
    headers: async (ctx, car, i) => [['authorization', `Bearer ${await valid(ctx, `${ctx.fuzzCar}-A${i % 50}`)}`], ['authorization', `Bearer ${await valid(ctx, car)}`]] },
  { kind: 'authorization-control-bytes', via: 'raw-h2', port: 'tls', judge: rawRefused('missing'),
    headers: async (ctx, car, i) => [['authorization', `Bearer ${await valid(ctx, car)}${['\r\nx-api-token: chaos-private-token', '\0', '\n'][i % 3]}`]] },
  { kind: 'authorization-upper-case-name', via: 'raw-h2', port: 'tls', judge: rawRefused('missing'),
    headers: async (ctx, car) => [['Authorization', `Bearer ${await valid(ctx, car)}`]] },

  // Raw TCP at the TLS ports (each kind alternates between the two).
  { kind: 'tcp-open-close', via: 'tcp', judge: tcp('dropped'), script: async (s, seen, drop) => drop() },
  { kind: 'tls-garbage', via: 'tcp', judge: tcp('closed', 'alert'), script: async (s, seen, drop, i) => s.write(Buffer.concat([Buffer.from([0x42 + (i % 0x40)]), randomBytes(1 + (i % 4096))])) },
  { kind: 'tls-garbage-handshake-record', via: 'tcp', judge: tcp('closed', 'alert'), script: async (s, seen, drop, i) => s.write(Buffer.concat([Buffer.from([0x16, 3, 1, 0, 200]), randomBytes(200)])) },
  { kind: 'tls-client-hello-cut-then-eof', via: 'tcp', judge: tcp('closed', 'alert'), script: async (s, seen, drop, i, ctx) => s.end(ctx.hello.subarray(0, 1 + (i % (ctx.hello.length - 1)))) },
  {
    kind: 'tls-client-hello-cut-then-silence', via: 'tcp', judge: (r) => ({ ok: r.outcome === 'dropped' && r.bytes === 0, what: r.bytes === 0 ? 'no answer, dropped by us' : `answered ${r.bytes} bytes to half a hello` }),
    script: async (s, seen, drop, i, ctx) => {
      s.write(ctx.hello.subarray(0, 1 + (i % (ctx.hello.length - 1))));
      await sleep(300);
      drop();
    },
  },
  {
    kind: 'tls-dropped-mid-handshake', via: 'tcp', judge: (r) => ({ ok: r.outcome === 'dropped', what: r.bytes > 0 ? 'ServerHello, then dropped by us' : 'dropped by us before an answer' }),
    script: async (s, seen, drop, i, ctx) => {
      s.write(ctx.hello);
      for (let k = 0; k < 40 && seen() === 0; k++) await sleep(25);
      drop();
    },
  },
  { kind: 'tls-sslv3-hello', via: 'tcp', judge: tcp('closed', 'alert'), script: async (s) => s.write(legacyHello(0x0300)) },
  { kind: 'tls-1.0-hello', via: 'tcp', judge: tcp('closed', 'alert'), script: async (s) => s.write(legacyHello(0x0301)) },
  { kind: 'tls-1.1-hello', via: 'tcp', judge: tcp('closed', 'alert'), script: async (s) => s.write(legacyHello(0x0302)) },
  { kind: 'tls-oversized-record', via: 'tcp', judge: tcp('closed', 'alert'), script: async (s) => s.write(Buffer.from([0x16, 3, 1, 0xff, 0xff, 1, 0xff, 0xff, 0xff])) },
  { kind: 'plaintext-http2-preface', via: 'tcp', judge: tcp('closed', 'alert'), script: async (s) => s.write(H2_PREFACE) },
  { kind: 'plaintext-http1', via: 'tcp', judge: tcp('closed', 'alert'), script: async (s) => s.write(`POST ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-token: chaos-private-token\r\n\r\n`) },
  { kind: 'tls-alpn-http1-only', via: 'raw-h2', port: 'tls', alpn: ['http/1.1'], judge: tlsRefused, headers: async () => [] },
  { kind: 'tls-no-alpn', via: 'raw-h2', port: 'tls', alpn: [], judge: tlsRefused, headers: async () => [] },

  // The mutual-TLS port: no certificate, a foreign CA's (naming a valid car), the server's own; a valid one speaking for another car.
  { kind: 'mtls-no-client-certificate', via: 'raw-h2', port: 'mtls', judge: tlsRefused, headers: async () => [] },
  { kind: 'mtls-foreign-ca-certificate', via: 'raw-h2', port: 'mtls', identity: (ctx) => ctx.foreign, judge: tlsRefused, headers: async () => [] },
  { kind: 'mtls-server-certificate-as-client', via: 'raw-h2', port: 'mtls', identity: (ctx) => ctx.serverAsClient, judge: tlsRefused, headers: async () => [] },
  { kind: 'identity-mismatch-certificate', via: 'raw-h2', port: 'mtls', identity: (ctx, i) => ctx.fuzzCerts[i % ctx.fuzzCerts.length], judge: mismatchAnswered('certificate'), headers: async () => [],
    car: (i, ctx) => `${ctx.fuzzCar}-N${i % 50}` },
];

// ---- sending --------------------------------------------------------------------------------------

/** The i-th call's own loopback source address (STREAMS_PER_ADDRESS calls each), never 127.0.0.x. */
function addressFor(i) {
  const group = Math.floor(i / STREAMS_PER_ADDRESS);
  return `127.${1 + (Math.floor(group / 250) % 250)}.${1 + (group % 250)}.1`;
}

function sessions(ctx) {
  const open = new Map();
  const connect = (address) => {
    const s = http2.connect(`https://${ctx.host}:${ctx.ports.tls}`, { ca: ctx.ca, servername: 'localhost', localAddress: address, settings: { initialWindowSize: 1 << 20 } });
    s.on('error', () => {});
    return s;
  };
  return {
    pool(address) {
      return {
        get() {
          let s = open.get(address);
          if (s === undefined || s.closed || s.destroyed) {
            s = connect(address);
            open.set(address, s);
          }
          return s;
        },
      };
    },
    /** A session of its own, for a call that may take the connection down with it. */
    own(address) {
      const s = connect(address);
      return { get: () => s, close: () => s.destroy() };
    },
    close() {
      for (const s of open.values()) s.close();
    },
  };
}

async function call(ctx, c, i, h2s) {
  const car = c.car ? c.car(i, ctx) : `${ctx.fuzzCar}-${i % 200}`;
  const address = addressFor(i);
  // The raw TCP kinds alternate between the two ports, round by round of AUTH_CASES.
  const port = c.port ?? (Math.floor(i / AUTH_CASES.length) % 2 === 0 ? 'tls' : 'mtls');
  if (c.via === 'h2') {
    const headers = { ...BASE, ...(await c.headers(ctx, car, i)) };
    if (c.own) {
      const pool = h2s.own(address);
      try {
        return { port, result: await sendStream(pool, headers, [status(car, i)], CALL_TIMEOUT_MS) };
      } finally {
        pool.close();
      }
    }
    return { port, result: await sendStream(h2s.pool(address), headers, [status(car, i)], CALL_TIMEOUT_MS) };
  }
  if (c.via === 'raw-h2') {
    const identity = c.identity?.(ctx, i);
    const result = await rawH2Call({
      host: ctx.host, port: ctx.ports[port], ca: ctx.ca, cert: identity?.cert, key: identity?.key, localAddress: address,
      authority: `127.0.0.1:${ctx.ports[port]}`, path: PATH, headers: await c.headers(ctx, car, i), body: status(car, i), timeoutMs: CALL_TIMEOUT_MS,
      ...(c.alpn ? { alpn: c.alpn } : {}),
    });
    return { port, result };
  }
  const result = await rawTcp({ host: ctx.host, port: ctx.ports[port], localAddress: address, timeoutMs: 20_000, script: (s, seen, drop) => c.script(s, seen, drop, i, ctx) });
  return { port, result };
}

/** Every reason counted by each ingestion, and the other counters the phase checks. */
async function counters(url) {
  let text;
  try {
    text = await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();
  } catch {
    return null;
  }
  const c = { refused: {}, mismatch: {}, rateLimited: {}, unauthenticated: 0 };
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{(\w+)="([^"]*)"\} (\S+)$/.exec(line);
    if (!m) continue;
    const [, name, label, value, n] = m;
    if (name === 'ingestion_auth_refused_total' && label === 'reason') c.refused[value] = Number(n);
    else if (name === 'ingestion_identity_mismatch_total' && label === 'credential') c.mismatch[value] = Number(n);
    else if (name === 'ingestion_rate_limited_total' && label === 'limit') c.rateLimited[value] = Number(n);
    else if (name === 'ingestion_errors_total' && label === 'kind' && value === 'unauthenticated') c.unauthenticated = Number(n);
  }
  return c;
}

const delta = (after, before, key) => (after?.[key] ?? 0) - (before?.[key] ?? 0);

/** New streams without a credential from one address, as fast as they go: past the burst, RESOURCE_EXHAUSTED. */
async function streamFlood(ctx, n) {
  const h2s = sessions(ctx);
  // Four connections from the one address, 256 streams at a time.
  const pools = [0, 1, 2, 3].map(() => h2s.own(FLOOD_ADDRESS));
  const tally = { sent: n, streamRate: 0, missing: 0, other: {}, seconds: 0 };
  const body = [status(`${ctx.fuzzCar}-FLOOD`)];
  const started = Date.now();
  await pooled(n, 256, async (i) => {
    const r = await sendStream(pools[i % pools.length], BASE, body, CALL_TIMEOUT_MS);
    const reason = r.grpcStatus === undefined ? undefined : reasonOf(r.grpcMessage);
    if (r.grpcStatus === GRPC.RESOURCE_EXHAUSTED && reason === 'stream_rate') tally.streamRate += 1;
    else if (r.grpcStatus === GRPC.UNAUTHENTICATED && reason === 'missing') tally.missing += 1;
    else {
      const k = `${r.outcome}${reason ? ` ${reason}` : ''}`;
      tally.other[k] = (tally.other[k] ?? 0) + 1;
    }
  });
  tally.seconds = (Date.now() - started) / 1000;
  for (const p of pools) p.close();
  return tally;
}

/** One car, one stream, `n` valid messages at once: the limit admits its burst (and its rate meanwhile); the rest is answered "rate limited". */
async function carFlood(ctx, n) {
  const h2s = sessions(ctx);
  const headers = { ...BASE, authorization: `Bearer ${await valid(ctx, RATE_CAR)}` };
  const started = Date.now();
  const r = await sendStream(h2s.pool('127.0.0.4'), headers, Array.from({ length: n }, (_, k) => status(RATE_CAR, k)), 60_000);
  const seconds = (Date.now() - started) / 1000;
  h2s.close();
  const acked = r.responses.filter((x) => x.status === ACKED).length;
  const rateLimited = r.responses.filter((x) => x.status === FAILED && /^rate limited/.test(x.message)).length;
  return { sent: n, answered: r.responses.length, acked, rateLimited, other: r.responses.length - acked - rateLimited, outcome: r.outcome, seconds };
}

/**
 * The phase: `count` calls cycling through AUTH_CASES (`concurrency` at once), beside the stream
 * flood and the car flood. Returns the tallies with the ingestions' counters before and after.
 */
export async function fuzzAuth(auth, { count, flood, carFloodMessages, concurrency = 32 }) {
  const { ctx } = auth;
  const before = { tls: await counters(auth.metricsUrl.tls), mtls: await counters(auth.metricsUrl.mtls) };
  const byKind = {};
  const client = { tls: {}, mtls: {} };
  const mismatches = { tls: {}, mtls: {} };
  const examples = [];
  const h2s = sessions(ctx);
  const started = Date.now();
  const callsJob = pooled(count, concurrency, async (i) => {
    const c = AUTH_CASES[i % AUTH_CASES.length];
    let port;
    let verdict;
    try {
      const sent = await call(ctx, c, i, h2s);
      port = sent.port;
      verdict = c.judge(sent.result);
    } catch (error) {
      verdict = { ok: false, what: `fuzzer error: ${error.message}` };
    }
    const k = (byKind[c.kind] ??= { sent: 0, ok: 0, outcomes: {} });
    k.sent += 1;
    if (verdict.ok) k.ok += 1;
    k.outcomes[verdict.what] = (k.outcomes[verdict.what] ?? 0) + 1;
    if (port && verdict.counted) client[port][verdict.counted] = (client[port][verdict.counted] ?? 0) + 1;
    if (port && verdict.mismatch) mismatches[port][verdict.mismatch] = (mismatches[port][verdict.mismatch] ?? 0) + 1;
    if (!verdict.ok && examples.length < 20 && !examples.some((e) => e.kind === c.kind)) examples.push({ kind: c.kind, port, what: verdict.what });
  });
  const floodJob = flood > 0 ? streamFlood(ctx, flood) : Promise.resolve(undefined);
  const carJob = carFloodMessages > 0 ? carFlood(ctx, carFloodMessages) : Promise.resolve(undefined);
  const [, floodTally, carTally] = await Promise.all([callsJob, floodJob, carJob]);
  const seconds = (Date.now() - started) / 1000;
  h2s.close();
  await sleep(500); // the last refusals' counters
  const after = { tls: await counters(auth.metricsUrl.tls), mtls: await counters(auth.metricsUrl.mtls) };
  if (floodTally) {
    client.tls.stream_rate = (client.tls.stream_rate ?? 0) + floodTally.streamRate;
    client.tls.missing = (client.tls.missing ?? 0) + floodTally.missing;
  }
  return { count, seconds, started, ended: Date.now(), byKind, client, mismatches, examples, flood: floodTally, carFlood: carTally, before, after };
}

// ---- the verdict ----------------------------------------------------------------------------------

/** Keys in Redis, and members of the index's sorted sets, that name a fuzz car: none may exist. */
async function storedFuzzCars(redisUrl, fuzzCar) {
  const redis = createClient({ url: redisUrl });
  await redis.connect();
  try {
    const keys = [];
    for await (const batch of redis.scanIterator({ MATCH: `*${fuzzCar}*`, COUNT: 1000 })) keys.push(...(Array.isArray(batch) ? batch : [batch]));
    let members = 0;
    for (const key of ['fleet:locations', 'presence:due']) {
      for await (const batch of redis.zScanIterator(key, { MATCH: `*${fuzzCar}*`, COUNT: 1000 })) members += Array.isArray(batch) ? batch.length : 1;
    }
    return { keys: keys.length, examples: keys.slice(0, 5), indexMembers: members };
  } finally {
    await redis.quit();
  }
}

/**
 * JWTs (three base64url parts, the first two JSON objects) in the phase's ingestion logs: a log
 * must never hold a credential (issue 18). Returns the count per log, with where the first one is
 * (the line cut before the token, never the token).
 */
function jwtsInLogs(dir) {
  const found = {};
  for (const name of ['ingestion-tls', 'ingestion-mtls']) {
    let text = '';
    try {
      text = readFileSync(join(dir, `${name}.log`), 'latin1');
    } catch {
      continue;
    }
    const re = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g;
    let n = 0;
    let first;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      n += 1;
      if (first === undefined) {
        const start = text.lastIndexOf('\n', m.index) + 1;
        first = `${text.slice(start, m.index).slice(-100)}<JWT>`;
      }
    }
    if (n > 0) {
      found[name] = { jwts: n, first };
      // grpc-js's own logger (console.error, not pino: no redaction) writes a metadata value it drops.
      if (/Failed to add metadata entry/.test(first)) {
        found[name].cause = "grpc-js logs the metadata value it refuses as illegal, in full, on stderr (its own logger, not pino's redaction): the ingestion must give grpc-js a logger that scrubs (grpc.setLogger) or silence it (grpc.setLogVerbosity)";
      }
    }
  }
  return found;
}

/** Per valid car: acknowledged during the phase and after it, and its longest silence during it. */
function validStreaming(ackedLogs, from, to) {
  const cars = new Map();
  for (const path of ackedLogs) {
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const [car, , at] = line.split(' ');
      const c = cars.get(car) ?? cars.set(car, { during: [], after: 0 }).get(car);
      const t = Number(at);
      if (t >= from && t <= to) c.during.push(t);
      else if (t > to) c.after += 1;
    }
  }
  let maxGapMs = 0;
  let silentDuring = 0;
  let silentAfter = 0;
  for (const c of cars.values()) {
    if (c.during.length === 0) silentDuring += 1;
    if (c.after === 0) silentAfter += 1;
    const ts = [from, ...c.during.sort((a, b) => a - b), to];
    for (let k = 1; k < ts.length; k++) maxGapMs = Math.max(maxGapMs, ts[k] - ts[k - 1]);
  }
  return { cars: cars.size, silentDuring, silentAfter, maxGapMs };
}

/**
 * The phase's verdict, from the tallies, the ingestions' counters, Redis, the topic count of fuzz
 * cars (`onTopic`, from the run's one pass over the topic), the valid simulators' summaries and
 * acked logs, whether the ingestions are ready and their crashes.
 */
export async function checkAuth(auth, t, { redisUrl, onTopic, sims, summaries, alive, crashes, expectedCars }) {
  const reasons = {};
  for (const port of ['tls', 'mtls']) {
    for (const reason of new Set([...REASONS, ...Object.keys(t.client[port]), ...Object.keys(t.after[port]?.refused ?? {})])) {
      const expected = t.client[port][reason] ?? 0;
      const counted = delta(t.after[port]?.refused, t.before[port]?.refused, reason);
      if (expected === 0 && counted === 0) continue;
      reasons[`${port} ${reason}`] = { expected, counted, ok: expected === counted && !reason.startsWith('unclassified') };
    }
  }
  const unauthenticated = {};
  const mismatch = {};
  for (const port of ['tls', 'mtls']) {
    const refusedDelta = Object.keys(t.after[port]?.refused ?? {}).reduce((n, r) => n + delta(t.after[port].refused, t.before[port]?.refused, r), 0);
    unauthenticated[port] = { refusedDelta, errorsDelta: (t.after[port]?.unauthenticated ?? 0) - (t.before[port]?.unauthenticated ?? 0) };
    for (const credential of ['jwt', 'certificate', 'api_token']) {
      const expected = t.mismatches[port][credential] ?? 0;
      const counted = delta(t.after[port]?.mismatch, t.before[port]?.mismatch, credential);
      if (expected !== 0 || counted !== 0) mismatch[`${port} ${credential}`] = { expected, counted, ok: expected === counted };
    }
  }
  let flood;
  if (t.flood) {
    const f = t.flood;
    const admitted = f.missing;
    const most = LIMITS.streamBurst + Math.ceil(LIMITS.streamRate * (f.seconds + 1));
    const counted = delta(t.after.tls?.rateLimited, t.before.tls?.rateLimited, 'stream');
    flood = { ...f, admitted, admittedAtMost: most, admittedAtLeast: Math.min(f.sent, LIMITS.streamBurst), rateLimitedCounted: counted };
    flood.ok = Object.keys(f.other).length === 0 && admitted <= most && admitted >= flood.admittedAtLeast && counted === f.streamRate;
  }
  let carFloodVerdict;
  if (t.carFlood) {
    const c = t.carFlood;
    const most = LIMITS.carBurst + Math.ceil(LIMITS.carRate * (c.seconds + 1));
    const counted = delta(t.after.tls?.rateLimited, t.before.tls?.rateLimited, 'car');
    carFloodVerdict = { ...c, ackedAtMost: most, ackedAtLeast: Math.min(c.sent, LIMITS.carBurst), rateLimitedCounted: counted };
    carFloodVerdict.ok = c.answered === c.sent && c.other === 0 && c.acked <= most && c.acked >= carFloodVerdict.ackedAtLeast && counted === c.rateLimited;
  }
  const stored = await storedFuzzCars(redisUrl, auth.ctx.fuzzCar);
  const logs = jwtsInLogs(auth.dir);
  const streaming = validStreaming(sims.map((s) => s.ackedLog), t.started, t.ended);
  const kindsWrong = Object.entries(t.byKind).filter(([, k]) => k.ok !== k.sent).map(([kind]) => kind);
  const sent = Object.values(t.byKind).reduce((n, k) => n + k.sent, 0);
  // Never refused, never cut off (a reconnect is a stream the fuzz broke); whether a car was heard
  // during a phase of a few seconds depends on the machine's load, so that is reported, not required.
  const simsOk = summaries.every((s) => s.rejected === 0 && s.acked > 0 && s.reconnects === 0 && !s.error && !s.refusedToken);
  const verdict = {
    sent,
    seconds: t.seconds,
    kinds: Object.keys(t.byKind).length,
    byKind: t.byKind,
    kindsWrong,
    examples: t.examples,
    reasons,
    unauthenticated,
    mismatch,
    flood,
    carFlood: carFloodVerdict,
    stored: { ...stored, onTopic },
    jwtsInLogs: logs,
    alive,
    crashes,
    valid: { simulators: summaries.map((s, k) => ({ name: sims[k].name, sent: s.sent, acked: s.acked, rejected: s.rejected, failed: s.failed, reconnects: s.reconnects, error: s.error ?? s.firstError })), ...streaming, expectedCars },
  };
  verdict.ok =
    sent === t.count &&
    kindsWrong.length === 0 &&
    Object.values(reasons).every((r) => r.ok) &&
    Object.values(unauthenticated).every((u) => u.refusedDelta === u.errorsDelta) &&
    Object.values(mismatch).every((m) => m.ok) &&
    (flood?.ok ?? true) &&
    (carFloodVerdict?.ok ?? true) &&
    stored.keys === 0 &&
    stored.indexMembers === 0 &&
    onTopic === 0 &&
    Object.keys(logs).length === 0 &&
    Object.values(alive).every(Boolean) &&
    crashes.length === 0 &&
    simsOk &&
    streaming.cars === expectedCars &&
    streaming.silentAfter === 0;
  return verdict;
}

/**
 * The phase alone, on servers already up (`cfg`: the shared Redis and Kafka will do, as in
 * chaos/test/fuzz-auth.int.test.mjs): its two ingestions on `topic`, the valid cars, the fuzz, then
 * the verdict, with `valid.lost`: the valid cars' acknowledged CarStatus not on the topic (the
 * chaos checker's first rule; the full run, chaos/fuzz.mjs, runs the whole checker instead).
 */
export async function runAuthFuzz({ cfg, dir, topic, runId, count, flood, carFloodMessages, cars = 4, intervalMs = 200, warmupSec = 3, tailSec = 2 }) {
  const auth = await prepareAuth({ cfg, dir, topic, runId, cars });
  const services = [auth.services.tls, auth.services.mtls];
  let sims = [];
  try {
    await startAuthIngestions(auth);
    sims = startAuthCars(auth, { intervalMs, logDir: dir });
    await sleep(warmupSec * 1000);
    const tally = await fuzzAuth(auth, { count, flood, carFloodMessages });
    await sleep(tailSec * 1000);
    for (const sim of sims) sim.stop();
    const summaries = await Promise.all(sims.map((sim) => sim.done));
    const ready = (url) => fetch(url).then((r) => r.ok, () => false);
    const alive = { 'ingestion-tls': await ready(auth.readyUrl.tls), 'ingestion-mtls': await ready(auth.readyUrl.mtls) };
    const crashes = services.flatMap((sv) => sv.crashes.map((c) => ({ service: sv.name, ...c })));
    for (const sv of services) await sv.stop(15_000, true);
    let onTopic = 0;
    const telemetry = new Set();
    const brokers = [`127.0.0.1:${cfg.kafkaPort}`];
    await readTopic(brokers, topic, (value) => {
      if (value === null) return;
      const text = value.toString('utf8');
      if (text.includes(auth.ctx.fuzzCar)) onTopic += 1;
      try {
        const e = JSON.parse(text);
        if (e.event_type === 'telemetry') telemetry.add(`${e.car_id} ${e.timestamp}`);
      } catch {
        // not an event
      }
    });
    const { acked } = readAckedLogs(sims.map((sim) => sim.ackedLog));
    const lost = [...acked.keys()].filter((k) => !telemetry.has(k));
    const redisUrl = `redis://127.0.0.1:${cfg.redisPort}/${cfg.redisDb ?? 0}`;
    const verdict = await checkAuth(auth, tally, { redisUrl, onTopic, sims, summaries, alive, crashes, expectedCars: 2 * cars });
    verdict.valid.acked = acked.size;
    verdict.valid.lost = lost.length;
    verdict.valid.lostExamples = lost.slice(0, 5);
    verdict.ok = verdict.ok && lost.length === 0 && acked.size > 0;
    return verdict;
  } finally {
    for (const sim of sims) sim.stop();
    for (const sv of services) await sv.stop(15_000, true).catch(() => {});
  }
}

export function formatAuth(a) {
  const rows = Object.entries(a.byKind).map(([kind, k]) => [kind, String(k.sent), k.ok === k.sent ? 'ok' : `WRONG ${k.sent - k.ok}`, Object.entries(k.outcomes).map(([w, n]) => `${w} ×${n}`).join('; ')]);
  const width = rows.reduce((w, r) => r.map((c, i) => Math.max(w[i] ?? 0, c.length)), [4, 4, 2]);
  const line = (r) => `  ${r[0].padEnd(width[0])}  ${r[1].padStart(width[1])}  ${r[2].padEnd(width[2])}  ${r[3]}`;
  const reasons = Object.entries(a.reasons).map(([k, r]) => `${k} ${r.counted}/${r.expected}${r.ok ? '' : ' WRONG'}`).join(', ');
  const mismatch = Object.entries(a.mismatch).map(([k, m]) => `${k} ${m.counted}/${m.expected}${m.ok ? '' : ' WRONG'}`).join(', ');
  const f = a.flood;
  const c = a.carFlood;
  const v = a.valid;
  return [
    `auth (TLS + JWT, mutual TLS): ${a.ok ? 'ok' : 'FAIL'}: ${a.sent} hostile calls and connections in ${a.seconds.toFixed(1)} s, ${a.kinds} kinds${a.kindsWrong.length ? `; wrong: ${a.kindsWrong.join(', ')}` : ''}`,
    line(['kind', 'sent', 'ok', 'outcomes']),
    ...rows.map(line),
    `  refusals counted (ingestion_auth_refused_total counted/sent): ${reasons || 'none'}`,
    `  every refusal in errors_total{unauthenticated}: ${Object.entries(a.unauthenticated).map(([p, u]) => `${p} ${u.errorsDelta}/${u.refusedDelta}`).join(', ')}; identity mismatches (counted/sent): ${mismatch || 'none'}`,
    ...(f ? [`  stream flood from one address: ${f.sent} new streams in ${f.seconds.toFixed(1)} s: ${f.streamRate} RESOURCE_EXHAUSTED (rate_limited_total{stream} +${f.rateLimitedCounted}), ${f.admitted} admitted (then refused: no credential; limit allows ${f.admittedAtLeast}..${f.admittedAtMost})${Object.keys(f.other).length ? `, other ${JSON.stringify(f.other)}` : ''}: ${f.ok ? 'ok' : 'WRONG'}`] : []),
    ...(c ? [`  one car over its rate: ${c.sent} messages in ${c.seconds.toFixed(1)} s: ${c.acked} acknowledged (limit allows ${c.ackedAtLeast}..${c.ackedAtMost}), ${c.rateLimited} "rate limited" (rate_limited_total{car} +${c.rateLimitedCounted}), ${c.other} other, ${c.sent - c.answered} unanswered: ${c.ok ? 'ok' : 'WRONG'}`] : []),
    `  stored from refused calls: Redis keys ${a.stored.keys}, index members ${a.stored.indexMembers}, topic events ${a.stored.onTopic}`,
    Object.keys(a.jwtsInLogs).length === 0
      ? '  credentials in the ingestions\' logs: none'
      : `  credentials in the ingestions' logs: WRONG: ${Object.entries(a.jwtsInLogs).map(([log, f]) => `${log}.log holds ${f.jwts} JWT(s), the first after "${f.first}"${f.cause ? ` (${f.cause})` : ''}`).join('; ')}`,
    `  valid cars beside: ${v.simulators.map((s) => `${s.name} sent ${s.sent} acked ${s.acked} rejected ${s.rejected} reconnects ${s.reconnects}`).join('; ')}; ${v.cars}/${v.expectedCars} cars acknowledged during and after (silent during ${v.silentDuring}, after ${v.silentAfter}), longest silence ${v.maxGapMs} ms` +
      (v.lost === undefined ? '' : `; acknowledged ${v.acked}, not on the topic ${v.lost}${v.lost ? ` ${JSON.stringify(v.lostExamples)}` : ''}`),
    `  ingestions: ready at end ${JSON.stringify(a.alive)}, crashes ${a.crashes.length === 0 ? 'none' : JSON.stringify(a.crashes)}`,
    ...(a.examples.length ? [`  wrong answers: ${JSON.stringify(a.examples)}`] : []),
  ].join('\n');
}
