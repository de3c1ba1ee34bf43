/**
 * Commands end to end on the real servers: two ingestion instances and the command API as child
 * processes (as production runs them), Redis and Kafka of `make up`, and cars that are real gRPC
 * clients of the ingestion (this file's TestCar).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintToken, type MintOptions, type SigningKey } from '@greenlane/common/jwt-mint';
import { DEVELOPMENT_OPERATOR_TOKEN } from '@greenlane/common/operator-auth';
import { credentials, Metadata, type ClientDuplexStream } from '@grpc/grpc-js';
import { Kafka, logLevel } from 'kafkajs';
import { connectRedis, createLogger, type RedisClient } from '@greenlane/common';
import { freePort, spawnProgram, waitReady, type Child } from '@greenlane/common/testing-programs';
import { testServers, uniqueName, waitFor } from '@greenlane/common/testing';
import { CommandOutcome, CommandType, FleetServiceClient, type BookingResponse, type CarStatus, type VehicleCommand } from '@greenlane/common/gen/fleet/fleet';

const VEHICLE_TOKEN = 'commands-test-vehicle-token';
const OPERATOR_TOKEN = 'commands-test-operator-token';
/** Redis database of these tests (ingestion's own tests use 1-9). */
const DB = 11;
const redisUrl = (() => {
  const url = new URL(testServers.redisUrl);
  url.pathname = `/${DB}`;
  return url.toString();
})();
const log = createLogger('command-api-test', { LOG_LEVEL: 'warn' });
const eventsTopic = uniqueName('commands-test-events');
const commandsTopic = uniqueName('commands-test-commands');

let redis: RedisClient;
const children: Child[] = [];
const ingestion: Array<{ grpc: string; instance: string }> = [];
let api = '';
/** A second command API, JWTs only (no OPERATOR_TOKENS) and a tight rate: 1/s, bursts of 3. */
let limitedApi = '';

/** An ES256 key published as a JWKS file (what `make certs` writes), and one the JWKS does not hold. */
const jwtDir = mkdtempSync(join(tmpdir(), 'command-api-jwt-'));
const JWKS = join(jwtDir, 'jwks.json');
const keyPair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { signing: { key: privateKey, alg: 'ES256', kid: 'test-1' } as SigningKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid: 'test-1', alg: 'ES256', use: 'sig' } };
};
const issuerKey = keyPair();
const strangerKey = keyPair();
writeFileSync(JWKS, JSON.stringify({ keys: [issuerKey.jwk] }));
const jwt = (subject: string, scopes: string[], extra: Partial<MintOptions> = {}, key = issuerKey.signing) => mintToken(key, { subject, scopes, ttlSeconds: 600, ...extra });

/** A car: a real client of the ingestion; answers each command (accepted) unless told to stay silent, and carries out each id once. */
class TestCar {
  call: ClientDuplexStream<CarStatus, BookingResponse> | undefined;
  readonly received: VehicleCommand[] = [];
  readonly acks: BookingResponse[] = [];
  readonly executed = new Set<string>();
  silent = false;
  private client: FleetServiceClient | undefined;
  private seq = 0;

  constructor(readonly carId: string, private readonly capable = true) {}

  connect(target: string): void {
    this.client = new FleetServiceClient(target, credentials.createInsecure());
    const metadata = new Metadata();
    metadata.set('x-api-token', VEHICLE_TOKEN);
    if (this.capable) metadata.set('x-greenlane-capabilities', 'telemetry,commands');
    this.call = this.client.streamTelemetry(metadata);
    this.call.on('data', (r: BookingResponse) => {
      if (r.command === undefined) return void this.acks.push(r);
      this.received.push(r.command);
      if (this.silent) return;
      const first = !this.executed.has(r.command.commandId);
      this.executed.add(r.command.commandId);
      this.send({ commandId: r.command.commandId, outcome: CommandOutcome.COMMAND_ACCEPTED, reason: first ? 'done' : 'already done' });
    });
    this.call.on('error', () => undefined);
  }

  send(commandResult?: CarStatus['commandResult']): void {
    this.call!.write(status(this.carId, this.seq++, commandResult));
  }

  disconnect(): void {
    this.call?.cancel();
    this.client?.close();
    this.call = undefined;
  }
}

function status(carId: string, i: number, commandResult?: CarStatus['commandResult']): CarStatus {
  return {
    carId, latitude: 40.75, longitude: -73.98, batteryLevel: 60, velocity: 20, timestamp: Date.now() - 1000 + i,
    stationId: '', charging: false, chargeEnergyKwh: 0, pluggedInAt: 0, bookingRequest: undefined, commandResult,
  };
}

async function call(method: string, path: string, body?: unknown, token: string | null = OPERATOR_TOKEN, raw?: string, base = api): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${path}`, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

async function issue(carId: string, body: Record<string, unknown>): Promise<any> {
  const r = await call('POST', `/v1/cars/${carId}/commands`, body);
  assert.is(r.status, 202, JSON.stringify(r.body));
  return r.body;
}

async function waitFinal(id: string): Promise<any> {
  for (;;) {
    const r = await call('GET', `/v1/commands/${id}/wait?timeout_ms=10000`);
    assert.is(r.status, 200);
    if (r.body.final) return r.body;
  }
}

/** A car that has streamed once (so the API knows it) and is now offline. */
async function knownOfflineCar(prefix: string): Promise<TestCar> {
  const car = new TestCar(uniqueName(prefix));
  car.connect(ingestion[0]!.grpc);
  car.send();
  await waitFor('first ack', () => car.acks.length > 0);
  car.disconnect();
  await waitFor('the stream to let go of the car', async () => (await redis.get(`car:${car.carId}:stream`)) === null);
  return car;
}

test.before(async () => {
  redis = await connectRedis(redisUrl, log);
  await redis.flushDb();
  for (const instance of ['ing-a', 'ing-b']) {
    const grpc = `127.0.0.1:${await freePort()}`;
    const http = `127.0.0.1:${await freePort()}`;
    const child = spawnProgram('ingestion/dist/src/main.js', {
      INGESTION_ADDR: grpc, INGESTION_HTTP_ADDR: http, REDIS_URL: redisUrl, KAFKA_BROKERS: testServers.kafkaBrokers.join(','),
      FLEET_EVENTS_TOPIC: eventsTopic, API_TOKENS: VEHICLE_TOKEN, INGESTION_BOOKINGS: 'false', INGESTION_INSTANCE_ID: instance, LOG_LEVEL: 'warn',
    });
    children.push(child);
    await waitReady(child, `ingestion ${instance}`, `http://${http}/ready`);
    ingestion.push({ grpc, instance });
  }
  const addr = `127.0.0.1:${await freePort()}`;
  const child = spawnProgram('command-api/dist/src/main.js', {
    COMMAND_API_ADDR: addr, REDIS_URL: redisUrl, KAFKA_BROKERS: testServers.kafkaBrokers.join(','), FLEET_COMMANDS_TOPIC: commandsTopic,
    OPERATOR_TOKENS: OPERATOR_TOKEN, AUTH_JWKS: JWKS, COMMANDS_TIMEOUT_MS: '3000', COMMANDS_SWEEP_MS: '50', COMMANDS_MAX_PENDING_PER_CAR: '3', COMMANDS_MAX_BODY_BYTES: '1024', LOG_LEVEL: 'warn',
  });
  children.push(child);
  api = `http://${addr}`;
  const limitedAddr = `127.0.0.1:${await freePort()}`;
  const limited = spawnProgram('command-api/dist/src/main.js', {
    COMMAND_API_ADDR: limitedAddr, REDIS_URL: redisUrl, KAFKA_BROKERS: testServers.kafkaBrokers.join(','), FLEET_COMMANDS_TOPIC: commandsTopic,
    // One token every 5 s: none comes back while a test spends the burst, however slow the machine.
    AUTH_JWKS: JWKS, OPERATOR_RATE: '0.2', OPERATOR_BURST: '3', LOG_LEVEL: 'warn',
  });
  children.push(limited);
  limitedApi = `http://${limitedAddr}`;
  await waitReady(child, 'command API', `${api}/ready`);
  await waitReady(limited, 'rate-limited command API', `${limitedApi}/ready`);
});

test.after(async () => {
  for (const child of children) child.signal('SIGTERM');
  await Promise.all(children.map((c) => c.exited));
  await redis.quit();
  const admin = new Kafka({ brokers: testServers.kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [eventsTopic, commandsTopic] }).catch(() => undefined);
  await admin.disconnect();
});

test('a command reaches the car on the other instance, once, and succeeds; a car beside it gets nothing', async () => {
  const target = new TestCar(uniqueName('CAR-B'));
  const bystander = new TestCar(uniqueName('CAR-A'));
  target.connect(ingestion[1]!.grpc);
  bystander.connect(ingestion[0]!.grpc);
  target.send();
  bystander.send();
  await waitFor('both cars held', async () => (await redis.get(`car:${target.carId}:stream`)) === 'ing-b' && (await redis.get(`car:${bystander.carId}:stream`)) === 'ing-a');

  const issued = await issue(target.carId, { type: 'emergency-stop' });
  assert.is(issued.status, 'QUEUED');
  assert.is(issued.type, 'EMERGENCY_STOP');
  const done = await waitFinal(issued.command_id);
  assert.is(done.status, 'SUCCEEDED');
  assert.is(done.instance, 'ing-b');
  assert.is(done.deliveries, 1);
  assert.ok(done.sent_at >= done.issued_at && done.delivered_at >= done.sent_at, JSON.stringify(done));
  assert.is(target.received.length, 1);
  assert.is(target.received[0]!.type, CommandType.EMERGENCY_STOP);
  assert.is(target.received[0]!.carId, target.carId);
  assert.is(bystander.received.length, 0);
  target.disconnect();
  bystander.disconnect();
});

test('a client that never declared the capability gets no command, and exactly one answer per CarStatus', async () => {
  const old = new TestCar(uniqueName('CAR-OLD'), false);
  old.connect(ingestion[0]!.grpc);
  old.send();
  await waitFor('first ack', () => old.acks.length === 1);
  const issued = await issue(old.carId, { type: 'EMERGENCY_STOP', ttl_ms: 400 });
  for (let i = 0; i < 3; i++) old.send();
  const done = await waitFinal(issued.command_id);
  assert.is(done.status, 'EXPIRED');
  await waitFor('all acks', () => old.acks.length === 4);
  assert.is(old.received.length, 0);
  old.disconnect();
});

test('an offline car gets its command when it reconnects, to either instance', async () => {
  const car = await knownOfflineCar('CAR-OFF');
  const issued = await issue(car.carId, { type: 'REROUTE', latitude: 40.7580, longitude: -73.9855 });
  assert.is((await call('GET', `/v1/commands/${issued.command_id}`)).body.status, 'QUEUED');
  car.connect(ingestion[1]!.grpc);
  car.send();
  const done = await waitFinal(issued.command_id);
  assert.is(done.status, 'SUCCEEDED');
  assert.is(car.received.length, 1);
  assert.is(car.received[0]!.type, CommandType.REROUTE);
  assert.is(car.received[0]!.latitude, 40.758);
  car.disconnect();
});

test('an expired command is never delivered and ends EXPIRED', async () => {
  const car = await knownOfflineCar('CAR-EXP');
  const issued = await issue(car.carId, { type: 'EMERGENCY_STOP', ttl_ms: 300 });
  const done = await waitFinal(issued.command_id);
  assert.is(done.status, 'EXPIRED');
  car.connect(ingestion[0]!.grpc);
  car.send();
  car.send();
  await waitFor('acks', () => car.acks.length >= 2);
  assert.is(car.received.length, 0);
  car.disconnect();
});

test('a command the car never answers ends TIMED_OUT', async () => {
  const car = new TestCar(uniqueName('CAR-MUTE'));
  car.silent = true;
  car.connect(ingestion[0]!.grpc);
  car.send();
  await waitFor('car held', async () => (await redis.get(`car:${car.carId}:stream`)) === 'ing-a');
  const issued = await issue(car.carId, { type: 'RESUME', timeout_ms: 500 });
  const done = await waitFinal(issued.command_id);
  assert.is(done.status, 'TIMED_OUT');
  assert.is(car.received.length, 1);
  assert.match(done.reason, /did not answer within 500 ms/);
  car.disconnect();
});

test('a car that reconnects while a command is in flight gets it again and carries it out once', async () => {
  const car = new TestCar(uniqueName('CAR-RE'));
  car.silent = true;
  car.connect(ingestion[0]!.grpc);
  car.send();
  await waitFor('car held', async () => (await redis.get(`car:${car.carId}:stream`)) === 'ing-a');
  const issued = await issue(car.carId, { type: 'RETURN_TO_BASE', latitude: 40.71, longitude: -74.0, timeout_ms: 5000 });
  await waitFor('first delivery', () => car.received.length === 1);
  car.executed.add(car.received[0]!.commandId); // it started, then lost its connection before answering
  car.disconnect();
  car.silent = false;
  car.connect(ingestion[1]!.grpc);
  car.send();
  const done = await waitFinal(issued.command_id);
  assert.is(done.status, 'SUCCEEDED');
  assert.is(done.deliveries, 2);
  assert.equal(car.received.map((c) => c.commandId), [issued.command_id, issued.command_id]);
  assert.is(car.executed.size, 1);
  car.disconnect();
});

test('a car rejecting a command makes it FAILED with its reason; a malformed result is refused naming the field', async () => {
  const car = new TestCar(uniqueName('CAR-NO'));
  car.silent = true;
  car.connect(ingestion[0]!.grpc);
  car.send();
  await waitFor('car held', async () => (await redis.get(`car:${car.carId}:stream`)) === 'ing-a');
  const issued = await issue(car.carId, { type: 'START_CHARGING', station_id: 'ST-1' });
  await waitFor('delivery', () => car.received.length === 1);
  car.send({ commandId: '', outcome: CommandOutcome.COMMAND_ACCEPTED, reason: '' });
  await waitFor('the refusal', () => car.acks.find((a) => a.message.includes('command_result.command_id')));
  car.send({ commandId: issued.command_id, outcome: CommandOutcome.COMMAND_REJECTED, reason: 'not plugged in at ST-1' });
  const done = await waitFinal(issued.command_id);
  assert.is(done.status, 'FAILED');
  assert.is(done.reason, 'not plugged in at ST-1');
  car.disconnect();
});

test('every status change is on fleet-commands, in order, keyed by the car', async () => {
  const car = new TestCar(uniqueName('CAR-LOG'));
  car.connect(ingestion[1]!.grpc);
  car.send();
  await waitFor('car held', async () => (await redis.get(`car:${car.carId}:stream`)) === 'ing-b');
  const issued = await issue(car.carId, { type: 'EMERGENCY_STOP' });
  await waitFinal(issued.command_id);
  const consumer = new Kafka({ brokers: testServers.kafkaBrokers, logLevel: logLevel.NOTHING }).consumer({ groupId: uniqueName('commands-test-reader') });
  await consumer.connect();
  await consumer.subscribe({ topic: commandsTopic, fromBeginning: true });
  const seen: any[] = [];
  await consumer.run({
    eachMessage: async ({ message }) => {
      const event = JSON.parse(message.value!.toString());
      if (event.command_id === issued.command_id) seen.push({ key: message.key!.toString(), ...event });
    },
  });
  await waitFor('four changes on the topic', () => seen.length >= 4, 30_000);
  await consumer.disconnect();
  assert.equal(seen.map((e) => e.status), ['QUEUED', 'SENT', 'DELIVERED', 'SUCCEEDED']);
  assert.ok(seen.every((e) => e.key === car.carId && e.event_type === 'command_status' && e.command === 'EMERGENCY_STOP'));
  assert.is(seen[1].instance, 'ing-b');
  car.disconnect();
});

test('bad requests are refused with the reason, and counted', async () => {
  const car = await knownOfflineCar('CAR-BAD');
  const path = `/v1/cars/${car.carId}/commands`;
  assert.is((await call('POST', path, { type: 'EMERGENCY_STOP' }, null)).status, 401);
  assert.is((await call('POST', path, { type: 'EMERGENCY_STOP' }, VEHICLE_TOKEN)).status, 401);
  const unknownCar = await call('POST', `/v1/cars/${uniqueName('NEVER')}/commands`, { type: 'EMERGENCY_STOP' });
  assert.is(unknownCar.status, 404);
  assert.match(unknownCar.body.error, /never sent telemetry/);
  const badType = await call('POST', path, { type: 'SELF_DESTRUCT' });
  assert.is(badType.status, 400);
  assert.match(badType.body.error, /unknown type "SELF_DESTRUCT"/);
  const noPoint = await call('POST', path, { type: 'REROUTE', latitude: 40.7 });
  assert.is(noPoint.status, 400);
  assert.match(noPoint.body.error, /missing longitude/);
  assert.match((await call('POST', path, { type: 'REROUTE', latitude: 91, longitude: 0 })).body.error, /invalid latitude=91/);
  assert.match((await call('POST', path, undefined, OPERATOR_TOKEN, '{"type": ')).body.error, /malformed JSON/);
  assert.is((await call('POST', path, undefined, OPERATOR_TOKEN, JSON.stringify({ type: 'RESUME', station_id: 'x'.repeat(2000) }))).status, 413);
  for (let i = 0; i < 3; i++) await issue(car.carId, { type: 'RESUME', ttl_ms: 60_000 });
  const tooMany = await call('POST', path, { type: 'RESUME' });
  assert.is(tooMany.status, 429);
  assert.match(tooMany.body.error, /already has 3 unfinished commands/);
  assert.is((await call('GET', `/v1/commands/${uniqueName('nope')}`)).status, 404);
  const badPercent = await call('GET', '/v1/commands/%E9/wait');
  assert.is(badPercent.status, 400);
  assert.match(badPercent.body.error, /malformed percent-encoding/);
  // A body streamed without a length, over the limit: answered 413, not cut off.
  const chunks = new ReadableStream({
    start(controller) {
      for (let i = 0; i < 64; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(1024)));
      controller.close();
    },
  });
  const streamed = await fetch(`${api}${path}`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR_TOKEN}` }, body: chunks, duplex: 'half' } as RequestInit);
  assert.is(streamed.status, 413);
  const listed = await call('GET', `${path}?limit=10`);
  assert.is(listed.body.commands.length, 3);
  const metrics = await (await fetch(`${api}/metrics`)).text();
  for (const reason of ['token_missing', 'token_wrong', 'unknown_car', 'bad_type', 'bad_longitude', 'bad_latitude', 'bad_json', 'too_large', 'too_many_pending', 'unknown_command', 'bad_id']) {
    assert.match(metrics, new RegExp(`command_api_requests_refused_total\\{reason="${reason}"\\} [1-9]`), reason);
  }
});

test('JWTs: operator:read reads but cannot command (403), operator:command commands, neither implies the other', async () => {
  const car = await knownOfflineCar('CAR-JWT');
  const path = `/v1/cars/${car.carId}/commands`;
  const reader = await jwt('ana', ['operator:read']);
  const commander = await jwt('bo', ['operator:command']);
  const both = await jwt('cy', ['operator:read', 'operator:command']);
  const issued = await call('POST', path, { type: 'RESUME', ttl_ms: 60_000 }, commander);
  assert.is(issued.status, 202, JSON.stringify(issued.body));
  const read = await call('GET', `/v1/commands/${issued.body.command_id}`, undefined, reader);
  assert.is(read.status, 200);
  assert.is(read.body.status, 'QUEUED');
  assert.is((await call('GET', `${path}?limit=5`, undefined, reader)).body.commands.length, 1);
  const denied = await call('POST', path, { type: 'EMERGENCY_STOP' }, reader);
  assert.is(denied.status, 403);
  assert.match(denied.body.error, /needs the scope operator:command; the token of ana holds operator:read/);
  assert.match(denied.headers.get('www-authenticate')!, /error="insufficient_scope", scope="operator:command"/);
  // Command does not imply read: following a command needs operator:read too.
  assert.is((await call('GET', `/v1/commands/${issued.body.command_id}/wait?timeout_ms=0`, undefined, commander)).status, 403);
  assert.is((await call('GET', `/v1/commands/${issued.body.command_id}/wait?timeout_ms=0`, undefined, both)).status, 200);
  // The static token still does both.
  assert.is((await call('GET', `/v1/commands/${issued.body.command_id}`)).status, 200);
  assert.is((await call('GET', '/v1/commands/nope', undefined, DEVELOPMENT_OPERATOR_TOKEN)).status, 401, 'no development token once OPERATOR_TOKENS is set');
});

test("a vehicle's JWT is refused 403 on every route; expired, wrong-key, wrong-audience JWTs 401 saying why", async () => {
  const car = await knownOfflineCar('CAR-VEH');
  const vehicle = await jwt(car.carId, ['vehicle']);
  for (const [method, path] of [['POST', `/v1/cars/${car.carId}/commands`], ['GET', `/v1/cars/${car.carId}/commands`], ['GET', '/v1/commands/x'], ['GET', '/v1/commands/x/wait']] as const) {
    const r = await call(method, path, method === 'POST' ? { type: 'EMERGENCY_STOP' } : undefined, vehicle);
    assert.is(r.status, 403, `${method} ${path}`);
    assert.match(r.body.error, /vehicle token/);
  }
  const cases: Array<[string, string, RegExp]> = [
    ['expired', await jwt('ana', ['operator:read'], { ttlSeconds: -120 }), /token expired/],
    ['wrong key', await jwt('ana', ['operator:read'], {}, strangerKey.signing), /signature/],
    ['wrong audience', await jwt('ana', ['operator:read'], { audience: 'somebody-else' }), /claim aud/],
  ];
  for (const [what, token, why] of cases) {
    const r = await call('GET', '/v1/commands/x', undefined, token);
    assert.is(r.status, 401, what);
    assert.match(r.body.error, why, what);
    assert.match(r.headers.get('www-authenticate')!, /^Bearer realm="greenlane-commands", error="invalid_token", error_description="/, what);
  }
  const missing = await call('GET', '/v1/commands/x', undefined, null);
  assert.is(missing.headers.get('www-authenticate'), 'Bearer realm="greenlane-commands"');
  const metrics = await (await fetch(`${api}/metrics`)).text();
  for (const reason of ['vehicle_token', 'insufficient_scope', 'token_expired', 'token_signature', 'token_claims']) {
    assert.match(metrics, new RegExp(`command_api_requests_refused_total\\{reason="${reason}"\\} [1-9]`), reason);
  }
});

test('a rate per identity: a token over its burst gets 429 with Retry-After, another keeps getting 200; JWTs only there', async () => {
  const ana = await jwt('ana-limited', ['operator:read']);
  const bo = await jwt('bo-limited', ['operator:read']);
  for (let i = 0; i < 3; i++) assert.is((await call('GET', '/v1/commands/x', undefined, ana, undefined, limitedApi)).status, 404, `request ${i}`);
  const limited = await call('GET', '/v1/commands/x', undefined, ana, undefined, limitedApi);
  assert.is(limited.status, 429);
  assert.match(limited.body.error, /too many requests from ana-limited: at most 0\.2\/s/);
  assert.ok(Number(limited.headers.get('retry-after')) >= 1, String(limited.headers.get('retry-after')));
  assert.is((await call('GET', '/v1/commands/x', undefined, bo, undefined, limitedApi)).status, 404, 'another identity is not limited');
  await new Promise((r) => setTimeout(r, 1000 * Number(limited.headers.get('retry-after'))));
  assert.is((await call('GET', '/v1/commands/x', undefined, ana, undefined, limitedApi)).status, 404, 'back after Retry-After');
  // AUTH_JWKS set, OPERATOR_TOKENS unset: no static token, not even the development one.
  assert.is((await call('GET', '/v1/commands/x', undefined, DEVELOPMENT_OPERATOR_TOKEN, undefined, limitedApi)).status, 401);
  const metrics = await (await fetch(`${limitedApi}/metrics`)).text();
  assert.match(metrics, /command_api_http_rate_limited_total\{route="get"\} 1\b/);
});

test('the OpenAPI document is served and names every route', async () => {
  const doc = (await (await fetch(`${api}/openapi.json`)).json()) as any;
  assert.is(doc.openapi, '3.0.3');
  for (const path of ['/v1/cars/{car_id}/commands', '/v1/commands/{command_id}', '/v1/commands/{command_id}/wait']) assert.ok(doc.paths[path], path);
  // The security scheme and each operation's scope, as the server enforces them.
  assert.equal([doc.components.securitySchemes.bearerAuth.scheme, doc.components.securitySchemes.bearerAuth.bearerFormat], ['bearer', 'JWT']);
  assert.equal(doc.security, [{ bearerAuth: [] }]);
  const scopes: Record<string, string> = {
    'post /v1/cars/{car_id}/commands': 'operator:command', 'get /v1/cars/{car_id}/commands': 'operator:read',
    'get /v1/commands/{command_id}': 'operator:read', 'get /v1/commands/{command_id}/wait': 'operator:read',
  };
  for (const [key, scope] of Object.entries(scopes)) {
    const [method, path] = key.split(' ') as [string, string];
    const op = doc.paths[path][method];
    assert.equal(op['x-required-scopes'], [scope], key);
    assert.match(op.description, new RegExp(`Scope: \`${scope}\``), key);
    for (const status of ['401', '403', '429']) assert.ok(op.responses[status], `${key} ${status}`);
  }
});

test.run();
