/**
 * The vehicle port's security with real TLS handshakes, real Redis and Kafka: TLS and mutual TLS,
 * certificate rotation under connected cars, JWT bearer tokens, identity binding and rate limits.
 * Certificates and keys are made by scripts/certs.mjs (openssl) in a temporary folder.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials, Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import { FleetServiceClient, BookingStatus } from '@greenlane/common/gen/fleet/fleet';
import { waitFor } from '@greenlane/common/testing';
import { readSigningKey, mintToken, type SigningKey } from '@greenlane/common/jwt-mint';
import { carStatus, readTopic, startService, type RecordedStream, type TestService } from './helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'greenlane-security-'));
const certs = join(work, 'certs');
const strangers = join(work, 'strangers');
const makeCerts = (out: string, cars: string) => execFileSync(process.execPath, [join(root, 'scripts/certs.mjs'), '--out', out, '--car-ids', cars], { stdio: 'pipe' });
const file = (dir: string, name: string) => readFileSync(join(dir, name));

let mtls: TestService;
let jwtPort: TestService;
let signing: SigningKey;
let strangerKey: SigningKey;
const clients: FleetServiceClient[] = [];

function tlsClient(address: string, options: { ca?: string; car?: string; certsDir?: string } = {}): FleetServiceClient {
  const dir = options.certsDir ?? certs;
  const ca = file(options.ca ?? certs, 'ca.pem');
  const creds = options.car === undefined
    ? credentials.createSsl(ca)
    : credentials.createSsl(ca, file(join(dir, 'cars'), `${options.car}-key.pem`), file(join(dir, 'cars'), `${options.car}.pem`));
  const c = new FleetServiceClient(address, creds, { 'grpc.use_local_subchannel_pool': 1 });
  clients.push(c);
  return c;
}

function bearer(token: string | null): Metadata {
  const m = new Metadata();
  if (token !== null) m.set('authorization', `Bearer ${token}`);
  return m;
}

/** A stream carrying only the credentials given (the helpers' openStream sends an x-api-token). */
function stream(c: FleetServiceClient, metadata: Metadata = new Metadata()): RecordedStream {
  const call = c.streamTelemetry(metadata);
  const responses: RecordedStream['responses'] = [];
  call.on('data', (r) => responses.push(r));
  const ended = new Promise<{ code: number; details: string }>((resolve) => {
    call.on('error', (e: { code: number; details: string }) => resolve({ code: e.code, details: e.details }));
    call.on('status', (s: { code: number; details: string }) => {
      if (s.code === 0) resolve({ code: 0, details: s.details });
    });
  });
  return { call, responses, ended };
}

async function metric(service: TestService, line: string): Promise<number> {
  const text = await (await fetch(`${service.http}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

/** The serial number of the certificate a fresh TLS handshake with the port is shown. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: file(certs, 'ca.pem'), ALPNProtocols: ['h2'], cert: file(join(certs, 'cars'), 'CAR-S01.pem'), key: file(join(certs, 'cars'), 'CAR-S01-key.pem') }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

test.before(async () => {
  makeCerts(certs, 'CAR-S01,CAR-S02');
  makeCerts(strangers, 'CAR-S01');
  // The port's files are copies, so the rotation test can replace them.
  for (const name of ['server.pem', 'server-key.pem', 'ca.pem']) copyFileSync(join(certs, name), join(work, name));
  signing = await readSigningKey(join(certs, 'jwt-signing-key.pem'), 'ES256', 'greenlane-dev-1');
  strangerKey = await readSigningKey(join(strangers, 'jwt-signing-key.pem'), 'ES256', 'greenlane-dev-1');
  mtls = await startService(3, {
    API_TOKENS: '',
    INGESTION_TLS_CERT: join(work, 'server.pem'),
    INGESTION_TLS_KEY: join(work, 'server-key.pem'),
    INGESTION_TLS_CLIENT_CA: join(work, 'ca.pem'),
    INGESTION_TLS_RELOAD_MS: '200',
    AUTH_JWKS: join(certs, 'jwks.json'),
  });
  // Earlier runs left these cars in the index (the rotation test stores CAR-S02 rightly).
  await mtls.ingestion.redis.del(['car:CAR-S01', 'car:CAR-S02', 'car:CAR-J1']);
  jwtPort = await startService(3, {
    API_TOKENS: '',
    INGESTION_TLS_CERT: join(certs, 'server.pem'),
    INGESTION_TLS_KEY: join(certs, 'server-key.pem'),
    AUTH_JWKS: join(certs, 'jwks.json'),
    INGESTION_CAR_RATE: '20',
    INGESTION_CAR_BURST: '20',
    INGESTION_STREAM_RATE: '1',
    INGESTION_STREAM_BURST: '12',
  });
});

test.after(async () => {
  for (const c of clients) c.close();
  await Promise.all([mtls?.ingestion.stop(), jwtPort?.ingestion.stop()]);
});

test('a plaintext client, and a client that does not trust the server certificate, get no stream', async () => {
  const plain = new FleetServiceClient(mtls.address, credentials.createInsecure());
  clients.push(plain);
  const plainResult = await stream(plain).ended;
  assert.is(plainResult.code, GrpcStatus.UNAVAILABLE, plainResult.details);
  const distrusting = tlsClient(jwtPort.address, { ca: strangers });
  const distrust = await stream(distrusting, bearer(await mintToken(signing, { subject: 'CAR-S01', scopes: ['vehicle'] }))).ended;
  assert.is(distrust.code, GrpcStatus.UNAVAILABLE, distrust.details);
});

test('mutual TLS: no client certificate, or one from another CA, is refused in the handshake', async () => {
  const noCert = await stream(tlsClient(mtls.address)).ended;
  assert.is(noCert.code, GrpcStatus.UNAVAILABLE, noCert.details);
  const otherCa = await stream(tlsClient(mtls.address, { car: 'CAR-S01', certsDir: strangers })).ended;
  assert.is(otherCa.code, GrpcStatus.UNAVAILABLE, otherCa.details);
});

test('mutual TLS: the certificate of CAR-S01 speaks for CAR-S01, and CAR-S02\'s status on it is refused, counted and never stored', async () => {
  const s = stream(tlsClient(mtls.address, { car: 'CAR-S01' }));
  s.call.write(carStatus('CAR-S01', 1));
  s.call.write(carStatus('CAR-S02', 2));
  s.call.write(carStatus('CAR-S01', 3));
  await waitFor('three answers', () => s.responses.length === 3, 10_000);
  assert.equal(s.responses.map((r) => r.status), [BookingStatus.BOOKING_UNKNOWN, BookingStatus.BOOKING_FAILED, BookingStatus.BOOKING_UNKNOWN]);
  assert.match(s.responses[1]!.message, /car_id "CAR-S02" is not this connection's identity "CAR-S01" \(client certificate CN\)/);
  assert.is(await metric(mtls, 'ingestion_identity_mismatch_total{credential="certificate"}'), 1);
  assert.is(await mtls.ingestion.redis.exists('car:CAR-S02'), 0);
  const events = await readTopic(mtls.topic, 2);
  assert.equal(events.map((e) => e.key), ['CAR-S01', 'CAR-S01']);
  s.call.end();
  assert.is((await s.ended).code, 0);
});

test('mutual TLS with a bearer token beside the certificate: it must be valid and name the same car', async () => {
  const c = tlsClient(mtls.address, { car: 'CAR-S01' });
  const expired = await stream(c, bearer(await mintToken(signing, { subject: 'CAR-S01', scopes: ['vehicle'], ttlSeconds: -60 }))).ended;
  assert.is(expired.code, GrpcStatus.UNAUTHENTICATED, expired.details);
  const other = await stream(c, bearer(await mintToken(signing, { subject: 'CAR-S02', scopes: ['vehicle'] }))).ended;
  assert.is(other.code, GrpcStatus.PERMISSION_DENIED, other.details);
  assert.match(other.details, /sub "CAR-S02" is not the client certificate's CN "CAR-S01"/);
  const both = stream(c, bearer(await mintToken(signing, { subject: 'CAR-S01', scopes: ['vehicle'] })));
  both.call.write(carStatus('CAR-S01', 20));
  await waitFor('an answer with certificate and token', () => both.responses.length === 1, 10_000);
  assert.is(both.responses[0]!.status, BookingStatus.BOOKING_UNKNOWN);
  both.call.end();
});

test('rotation: new certificate files are served to new handshakes while a connected car keeps streaming', async () => {
  const s = stream(tlsClient(mtls.address, { car: 'CAR-S01' }));
  s.call.write(carStatus('CAR-S01', 10));
  await waitFor('first answer', () => s.responses.length === 1, 10_000);
  const before = await servedSerial(mtls.ingestion.grpcPort);
  // A new server certificate (a new key too) from the same CA, written over the files in use.
  const next = join(work, 'next');
  mkdirSync(next);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', join(next, 'server-key.pem'));
  openssl('req', '-new', '-key', join(next, 'server-key.pem'), '-subj', '/CN=localhost', '-out', join(next, 'server.csr'));
  writeFileSync(join(next, 'server.ext'), 'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', join(next, 'server.csr'), '-CA', join(certs, 'ca.pem'), '-CAkey', join(certs, 'ca-key.pem'), '-CAcreateserial',
    '-days', '30', '-extfile', join(next, 'server.ext'), '-out', join(next, 'rotated.pem'));
  copyFileSync(join(next, 'server-key.pem'), join(work, 'server-key.pem'));
  copyFileSync(join(next, 'rotated.pem'), join(work, 'server.pem'));
  await waitFor('the files reloaded', async () => (await metric(mtls, 'ingestion_tls_reloads_total')) >= 1, 10_000);
  const after = await servedSerial(mtls.ingestion.grpcPort);
  assert.is.not(after, before);
  for (let i = 11; i < 16; i++) s.call.write(carStatus('CAR-S01', i));
  await waitFor('answers after the rotation on the old connection', () => s.responses.length === 6, 10_000);
  assert.ok(s.responses.every((r) => r.status === BookingStatus.BOOKING_UNKNOWN));
  // And a new car connects with the rotated certificate.
  const fresh = stream(tlsClient(mtls.address, { car: 'CAR-S02' }));
  fresh.call.write(carStatus('CAR-S02', 1));
  await waitFor('a new connection after the rotation', () => fresh.responses.length === 1, 10_000);
  assert.is(fresh.responses[0]!.status, BookingStatus.BOOKING_UNKNOWN);
  s.call.end();
  fresh.call.end();
});

test('JWT: expired, not yet valid, wrongly signed, wrong audience, alg none, an operator\'s scope and x-api-token are refused before any handler runs', async () => {
  const c = tlsClient(jwtPort.address);
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const cases: Array<[string, Metadata, number, RegExp]> = [
    ['expired', bearer(await mintToken(signing, { subject: 'CAR-J1', scopes: ['vehicle'], ttlSeconds: -60 })), GrpcStatus.UNAUTHENTICATED, /expired/],
    ['not yet valid', bearer(await mintToken(signing, { subject: 'CAR-J1', scopes: ['vehicle'], notBeforeSeconds: 600 })), GrpcStatus.UNAUTHENTICATED, /not yet valid/],
    ['wrong key', bearer(await mintToken(strangerKey, { subject: 'CAR-J1', scopes: ['vehicle'] })), GrpcStatus.UNAUTHENTICATED, /signature/],
    ['wrong audience', bearer(await mintToken(signing, { subject: 'CAR-J1', scopes: ['vehicle'], audience: 'elsewhere' })), GrpcStatus.UNAUTHENTICATED, /aud/],
    ['alg none', bearer(`${b64({ alg: 'none' })}.${b64({ sub: 'CAR-J1', scope: 'vehicle', iss: 'greenlane', aud: 'greenlane', exp: now + 600 })}.`), GrpcStatus.UNAUTHENTICATED, /refused/],
    ['operator scope', bearer(await mintToken(signing, { subject: 'alice', scopes: ['operator:read', 'operator:command'] })), GrpcStatus.PERMISSION_DENIED, /scope "vehicle"/],
    ['no credential', new Metadata(), GrpcStatus.UNAUTHENTICATED, /missing credentials/],
  ];
  const legacy = new Metadata();
  legacy.set('x-api-token', 'greenlane-secret-token');
  cases.push(['x-api-token switched off', legacy, GrpcStatus.UNAUTHENTICATED, /API_TOKENS unset/]);
  const acceptedBefore = await metric(jwtPort, 'ingestion_messages_accepted_total');
  for (const [name, metadata, code, details] of cases) {
    const s = stream(c, metadata);
    s.call.write(carStatus('CAR-J1', 1));
    const ended = await s.ended;
    assert.is(ended.code, code, `${name}: ${ended.details}`);
    assert.match(ended.details, details, name);
    assert.equal(s.responses, [], name);
  }
  assert.is(await metric(jwtPort, 'ingestion_messages_accepted_total'), acceptedBefore);
  assert.is(await jwtPort.ingestion.redis.exists('car:CAR-J1'), 0);
  assert.ok((await metric(jwtPort, 'ingestion_auth_refused_total{reason="jwt_expired"}')) >= 1);
  assert.ok((await metric(jwtPort, 'ingestion_auth_refused_total{reason="jwt_scope"}')) >= 1);
});

test('JWT: a vehicle token speaks for its sub only, and its stream ends UNAUTHENTICATED when it expires', async () => {
  const c = tlsClient(jwtPort.address);
  const s = stream(c, bearer(await mintToken(signing, { subject: 'CAR-J2', scopes: ['vehicle'], ttlSeconds: 3 })));
  s.call.write(carStatus('CAR-J2', 1));
  s.call.write(carStatus('CAR-J3', 2));
  await waitFor('two answers', () => s.responses.length === 2, 10_000);
  assert.is(s.responses[0]!.status, BookingStatus.BOOKING_UNKNOWN);
  assert.is(s.responses[1]!.status, BookingStatus.BOOKING_FAILED);
  assert.match(s.responses[1]!.message, /not this connection's identity "CAR-J2" \(token sub\)/);
  const started = Date.now();
  const ended = await s.ended;
  assert.is(ended.code, GrpcStatus.UNAUTHENTICATED);
  assert.match(ended.details, /token expired; reconnect with a new token/);
  assert.ok(Date.now() - started < 6000, `ended ${Date.now() - started} ms after the answers`);
  assert.is(await metric(jwtPort, 'ingestion_streams_credential_expired_total'), 1);
  // The car reconnects with a new token and goes on.
  const again = stream(c, bearer(await mintToken(signing, { subject: 'CAR-J2', scopes: ['vehicle'] })));
  again.call.write(carStatus('CAR-J2', 3));
  await waitFor('answer after reconnecting', () => again.responses.length === 1, 10_000);
  assert.is(again.responses[0]!.status, BookingStatus.BOOKING_UNKNOWN);
  again.call.end();
});

test('rate limits: a car over its rate gets "rate limited" answers while another car keeps every message; new streams past the address limit are refused with a retry hint', async () => {
  const c = tlsClient(jwtPort.address);
  const flooder = stream(c, bearer(await mintToken(signing, { subject: 'CAR-FLOOD', scopes: ['vehicle'] })));
  const calm = stream(c, bearer(await mintToken(signing, { subject: 'CAR-CALM', scopes: ['vehicle'] })));
  for (let i = 0; i < 200; i++) flooder.call.write(carStatus('CAR-FLOOD', i));
  for (let i = 0; i < 10; i++) {
    calm.call.write(carStatus('CAR-CALM', i));
    await new Promise((r) => setTimeout(r, 100));
  }
  await waitFor('every answer', () => flooder.responses.length === 200 && calm.responses.length === 10, 15_000);
  const limited = flooder.responses.filter((r) => r.status === BookingStatus.BOOKING_FAILED);
  const stored = flooder.responses.filter((r) => r.status === BookingStatus.BOOKING_UNKNOWN);
  assert.ok(stored.length >= 20 && stored.length < 60, `flooder stored ${stored.length}`);
  assert.is(limited.length + stored.length, 200);
  assert.match(limited[0]!.message, /^rate limited: not stored: CAR-FLOOD is over 20 messages\/s \(burst 20\); retry after \d+ ms$/);
  assert.ok(calm.responses.every((r) => r.status === BookingStatus.BOOKING_UNKNOWN), 'the calm car keeps every message');
  assert.is(await metric(jwtPort, 'ingestion_rate_limited_total{limit="car"}'), limited.length);
  flooder.call.end();
  calm.call.end();

  // Each test above opened streams from 127.0.0.1: open fresh ones until the bucket (burst 12, 1/s) is spent.
  const results: Array<{ code: number; details: string }> = [];
  for (let i = 0; i < 14; i++) {
    const s = stream(c, bearer(await mintToken(signing, { subject: `CAR-N${i}`, scopes: ['vehicle'] })));
    s.call.write(carStatus(`CAR-N${i}`, 1));
    const first = await Promise.race([s.ended, waitFor('answer', () => s.responses.length === 1, 5000).then(() => ({ code: -1, details: 'answered' }))]);
    results.push(first);
    s.call.end();
  }
  const refused = results.filter((r) => r.code === GrpcStatus.RESOURCE_EXHAUSTED);
  assert.ok(refused.length >= 1, JSON.stringify(results));
  assert.match(refused[0]!.details, /too many new streams from 127\.0\.0\.1 \(over 1\/s, burst 12\); retry after \d+ ms/);
  assert.ok((await metric(jwtPort, 'ingestion_rate_limited_total{limit="stream"}')) >= 1);
});

test.run();
