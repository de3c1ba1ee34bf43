/// <reference lib="dom" />
/**
 * The live map end to end in a real browser: the compiled service against the real Kafka broker
 * (a topic of its own) and Redis (a database of its own, for station slots), Debian's Chromium
 * driven by playwright-core. The test produces a known stream of telemetry and booking events
 * (what the ingestion writes for CarStatus messages) and reads the page's state.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Producer } from 'kafkajs';
import { connectRedis, createKafka, createLogger, ensureTopics } from '@greenlane/common';
import { testServers, uniqueName, waitFor } from '@greenlane/common/testing';
import { freePort, spawnProgram, waitReady, type Child } from '@greenlane/common/testing-programs';
import { credentials, Metadata, type ClientDuplexStream } from '@grpc/grpc-js';
import { CommandOutcome, FleetServiceClient, type BookingResponse, type CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { mintToken, type MintOptions, type SigningKey } from '@greenlane/common/jwt-mint';
import { SCREENSHOTS, launchChromium, startService, type RunningService } from './helpers.js';

const test = suite('live web map in Chromium');
const topic = uniqueName('liveops-web-it');
const alertsTopic = uniqueName('liveops-web-it-alerts');
const TOKEN = 'test-operator-token';
const REDIS_DB = `${testServers.redisUrl}/13`;
const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'liveops-web-test', log: createLogger('liveops-web-test', { LOG_LEVEL: 'silent' }), quiet: true });
let producer: Producer;
/** Every car but CAR-EDGE keeps reporting (the same place) while the tests run: only CAR-EDGE goes silent. */
let keepAlive: NodeJS.Timeout | undefined;
let port: number;
let service: RunningService;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const requested: string[] = [];
const foreign: string[] = [];

/** The command API and an ingestion (for a car that takes commands), real programs; a Redis database of these tests. */
const commandsTopic = uniqueName('liveops-web-it-commands');

/** Operators' JWTs: an ES256 key published as a JWKS file, which this service and the command API both trust. */
const keyPair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { signing: { key: privateKey, alg: 'ES256', kid: 'web-test-1' } as SigningKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid: 'web-test-1', alg: 'ES256', use: 'sig' } };
};
const issuerKey = keyPair();
const strangerKey = keyPair().signing;
const JWKS = join(mkdtempSync(join(tmpdir(), 'liveops-web-jwt-')), 'jwks.json');
writeFileSync(JWKS, JSON.stringify({ keys: [issuerKey.jwk] }));
const jwt = (subject: string, scopes: string[], extra: Partial<MintOptions> = {}, key = issuerKey.signing) => mintToken(key, { subject, scopes, ttlSeconds: 600, ...extra });

/** The status a WebSocket upgrade to /ws is answered with (101 when it opens; then closed), and its headers. */
function upgrade(headers: Record<string, string> = {}, base = service.base): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws`, { headers });
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    ws.on('open', () => {
      ws.close();
      resolve({ status: 101, headers: {} });
    });
    ws.on('error', (error) => reject(error));
  });
}
const VEHICLE_TOKEN = 'liveops-web-test-vehicle-token';
const children: Child[] = [];
let commandApi = '';
let ingestionGrpc = '';

/** A car: a real gRPC client of the ingestion that declares the commands capability and accepts every command. */
class TestCar {
  readonly received: string[] = [];
  private call: ClientDuplexStream<CarStatus, BookingResponse> | undefined;
  private client: FleetServiceClient | undefined;
  private seq = 0;
  constructor(readonly carId: string) {}
  connect(target: string): void {
    this.client = new FleetServiceClient(target, credentials.createInsecure());
    const metadata = new Metadata();
    metadata.set('x-api-token', VEHICLE_TOKEN);
    metadata.set('x-greenlane-capabilities', 'telemetry,commands');
    this.call = this.client.streamTelemetry(metadata);
    this.call.on('data', (r: BookingResponse) => {
      if (r.command === undefined) return;
      this.received.push(r.command.commandId);
      this.send({ commandId: r.command.commandId, outcome: CommandOutcome.COMMAND_ACCEPTED, reason: 'stopped' });
    });
    this.call.on('error', () => undefined);
  }
  send(commandResult?: CarStatus['commandResult']): void {
    this.call!.write({
      carId: this.carId, latitude: 40.7527, longitude: -73.9772, batteryLevel: 66, velocity: 12, timestamp: Date.now() - 1000 + this.seq++,
      stationId: '', charging: false, chargeEnergyKwh: 0, pluggedInAt: 0, bookingRequest: undefined, commandResult,
    });
  }
  disconnect(): void {
    this.call?.cancel();
    this.client?.close();
  }
}

const serviceEnv = () => ({
  COMMAND_API_URL: commandApi,
  KAFKA_BROKERS: testServers.kafkaBrokers.join(','),
  FLEET_EVENTS_TOPIC: topic,
  FLEET_ALERTS_TOPIC: alertsTopic,
  REDIS_URL: REDIS_DB,
  OPERATOR_TOKENS: `other-token,${TOKEN}`,
  AUTH_JWKS: JWKS,
  LIVEOPS_WEB_OFFLINE_AFTER_MS: '15000',
  LIVEOPS_WEB_FROM_BEGINNING: 'true',
  LIVEOPS_WEB_STATIONS_POLL_MS: '200',
});

let clock = Date.now();
function telemetry(car: string, lat: number, lon: number, battery: number, velocity: number, extra: Record<string, unknown> = {}) {
  clock += 1;
  return { key: car, value: JSON.stringify({ car_id: car, lat, lon, battery, velocity, timestamp: clock, event_type: 'telemetry', event_id: uniqueName('e'), ...extra }) };
}

const PLACES = {
  'CAR-GREEN': { lat: 40.7812, lon: -73.9665, battery: 85.3, velocity: 45.2, colour: 'green' }, // Central Park, no station near
  'CAR-YELLOW': { lat: 40.7359, lon: -73.9911, battery: 35, velocity: 0, colour: 'yellow' }, // Union Square, stopped
  'CAR-RED': { lat: 40.8116, lon: -73.9465, battery: 12.1, velocity: 8.3, colour: 'red' }, // Harlem, critical
  'CAR-EDGE': { lat: 40.7066, lon: -74.0091, battery: 20, velocity: 10, colour: 'yellow' }, // Wall Street, exactly 20 %
} as const;

type CarState = { lat: number; lon: number; battery: number; colour: string; stopped: boolean; offline: boolean; alert: boolean; charging: boolean; plugged: boolean; x: number; y: number };

async function car(id: string): Promise<CarState | undefined> {
  return page.evaluate((carId) => (window as unknown as { liveops: { car(id: string): unknown } }).liveops.car(carId), id) as Promise<CarState | undefined>;
}

async function pageStats(): Promise<{ connection: string; reconnects: number; frames: number; snapshots: number }> {
  return page.evaluate(() => (window as unknown as { liveops: { stats: { connection: string; reconnects: number; frames: number; snapshots: number } } }).liveops.stats);
}

test.before(async () => {
  await ensureTopics(kafka, [{ topic, numPartitions: 3 }, { topic: alertsTopic, numPartitions: 1 }]);
  producer = kafka.producer();
  await producer.connect();
  const redis = await connectRedis(REDIS_DB, createLogger('liveops-web-test', { LOG_LEVEL: 'silent' }));
  await redis.set('station:ST-017:capacity', '3');
  await redis.set('station:ST-026:capacity', '0');
  await redis.quit();
  const ingestionHttp = `127.0.0.1:${await freePort()}`;
  ingestionGrpc = `127.0.0.1:${await freePort()}`;
  const ingestion = spawnProgram('ingestion/dist/src/main.js', {
    INGESTION_ADDR: ingestionGrpc, INGESTION_HTTP_ADDR: ingestionHttp, REDIS_URL: REDIS_DB, KAFKA_BROKERS: testServers.kafkaBrokers.join(','),
    FLEET_EVENTS_TOPIC: topic, API_TOKENS: VEHICLE_TOKEN, INGESTION_BOOKINGS: 'false', INGESTION_INSTANCE_ID: 'liveops-web-it', LOG_LEVEL: 'warn',
  });
  children.push(ingestion);
  await waitReady(ingestion, 'ingestion', `http://${ingestionHttp}/ready`);
  const commandAddr = `127.0.0.1:${await freePort()}`;
  const api = spawnProgram('command-api/dist/src/main.js', {
    COMMAND_API_ADDR: commandAddr, REDIS_URL: REDIS_DB, KAFKA_BROKERS: testServers.kafkaBrokers.join(','), FLEET_COMMANDS_TOPIC: commandsTopic,
    OPERATOR_TOKENS: TOKEN, AUTH_JWKS: JWKS, COMMANDS_TIMEOUT_MS: '5000', LOG_LEVEL: 'warn',
  });
  children.push(api);
  commandApi = `http://${commandAddr}`;
  await waitReady(api, 'command API', `${commandApi}/ready`);
  port = await freePort();
  service = await startService(port, serviceEnv());
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // Every request must go to 127.0.0.1: anything else is recorded (and fails the test) and never leaves.
  await context.route('**/*', async (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') return route.continue();
    foreign.push(url.href);
    return route.abort();
  });
  context.on('request', (r) => requested.push(r.url()));
  page = await context.newPage();
  page.on('websocket', (ws) => requested.push(ws.url()));
});

test.after(async () => {
  clearInterval(keepAlive);
  await browser?.close();
  await service?.stop();
  for (const child of children) child.signal('SIGTERM');
  await Promise.all(children.map((c) => c.exited));
  await producer?.disconnect();
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic, alertsTopic, commandsTopic] }).catch(() => undefined);
  await admin.disconnect();
});

test('without an operator token the page asks for one and the WebSocket is refused', async () => {
  await page.goto(`${service.base}/`);
  await page.waitForSelector('#signin:not([hidden])');
  assert.is((await pageStats()).connection, 'unauthorized');
  const refused = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => reject(new Error('opened without a token')));
    ws.on('error', () => undefined);
  });
  assert.is(refused, 401);
  const wrong = await fetch(`${service.base}/api/v1/alerts`, { headers: { authorization: 'Bearer nope' } });
  assert.is(wrong.status, 401);
  const right = await fetch(`${service.base}/api/v1/alerts`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.is(right.status, 200);
});

test('signed in through ?token=, the cars of a known stream are at their places, in their colours', async () => {
  const messages = Object.entries(PLACES).map(([id, p]) => telemetry(id, p.lat, p.lon, p.battery, p.velocity));
  // Five moves since the last tick: only the newest position counts.
  for (let i = 0; i < 5; i++) messages.push(telemetry('CAR-MOVING', 40.77 + i * 0.002, -73.975 + i * 0.001, 60, 30));
  messages.push(telemetry('CAR-PLUGGED', 40.7359, -73.9911, 45, 0, { station_id: 'ST-017', charging: true, charge_energy_kwh: 2.5, plugged_in_at: clock }));
  messages.push({
    key: 'CAR-PLUGGED',
    value: JSON.stringify({ event_type: 'booking_confirmed', event_id: uniqueName('b'), car_id: 'CAR-PLUGGED', booking_id: 'B-42', station_id: 'ST-017', price_rate: 0.31, timestamp: clock }),
  });
  await producer.send({ topic, messages });
  keepAlive = setInterval(() => {
    const again = Object.entries(PLACES).filter(([id]) => id !== 'CAR-EDGE').map(([id, p]) => telemetry(id, p.lat, p.lon, p.battery, p.velocity));
    again.push(telemetry('CAR-MOVING', 40.778, -73.971, 60, 30));
    void producer.send({ topic, messages: again }).catch(() => undefined);
  }, 1000);

  await page.goto(`${service.base}/?token=${TOKEN}`);
  assert.is(new URL(page.url()).search, '', 'the token left the address bar');
  assert.ok((await context.cookies()).some((c) => c.name === 'greenlane_operator' && c.httpOnly), 'an HttpOnly cookie holds the token');
  await waitFor('the page to be connected', async () => (await pageStats()).connection === 'open', 30_000);

  for (const [id, p] of Object.entries(PLACES)) {
    const c = await waitFor(`${id} on the page`, () => car(id), 30_000);
    assert.ok(Math.abs(c.lat - p.lat) < 1e-6 && Math.abs(c.lon - p.lon) < 1e-6, `${id} at ${c.lat},${c.lon}`);
    assert.is(c.colour, p.colour, id);
    assert.is(c.stopped, p.velocity === 0, `${id} stopped`);
    assert.is(c.alert, p.battery < 15, `${id} alert`);
    assert.ok(c.x > 0 && c.x < 1280 - 320 && c.y > 0 && c.y < 900, `${id} drawn inside the map at ${c.x},${c.y}`);
  }
  const moving = await waitFor('CAR-MOVING at its newest position', async () => {
    const c = await car('CAR-MOVING');
    return c && Math.abs(c.lat - 40.778) < 1e-6 ? c : undefined;
  });
  assert.ok(Math.abs(moving.lon - -73.971) < 1e-6);
  const plugged = (await waitFor('CAR-PLUGGED', () => car('CAR-PLUGGED')))!;
  assert.ok(plugged.charging && plugged.plugged);

  // The pixels agree: the filled green dot is drawn where the page says the car is.
  const pixel = await page.evaluate(({ x, y }) => {
    const canvas = document.getElementById('map') as HTMLCanvasElement;
    const dpr = window.devicePixelRatio || 1;
    return Array.from(canvas.getContext('2d')!.getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data);
  }, (await car('CAR-GREEN'))!);
  assert.equal(pixel.slice(0, 3), [0x2e, 0xcc, 0x40], `pixel at CAR-GREEN: ${pixel}`);

  // The alert list and the status line.
  await page.waitForSelector('#alerts li[data-car="CAR-RED"]');
  await page.waitForFunction(() => /open.*6 cars.*1 alerts.*60 stations/s.test(document.getElementById('status')?.textContent ?? ''));
  assert.match((await page.textContent('#status'))!, /events\/s/);

  // Stations with free/total slots, free slots from Redis.
  const stations = await waitFor('station slots from Redis', async () => {
    const list = (await page.evaluate(() => (window as unknown as { liveops: { stations(): Array<{ id: string; free?: number; slots: number }> } }).liveops.stations())) ?? [];
    const st = list.find((s) => s.id === 'ST-017');
    return st?.free === 3 ? list : undefined;
  });
  assert.is(stations.length, 60);
  assert.is(stations.find((s) => s.id === 'ST-017')!.slots, 6);
  assert.is(stations.find((s) => s.id === 'ST-026')!.free, 0);

  // The side panel: click the red car on the map.
  const red = (await car('CAR-RED'))!;
  const box = (await page.locator('#map').boundingBox())!;
  await page.mouse.click(box.x + red.x, box.y + red.y);
  await page.waitForFunction(() => document.getElementById('panel-title')?.textContent === 'CAR-RED');
  await page.waitForFunction(() => (document.getElementById('panel-values')?.textContent ?? '').includes('12.1 %'));
  await page.evaluate(() => (window as unknown as { liveops: { select(id: string): void } }).liveops.select('CAR-PLUGGED'));
  await page.waitForFunction(() => (document.getElementById('panel-booking')?.textContent ?? '').includes('confirmed at ST-017'));
  assert.match((await page.textContent('#panel-values'))!, /ST-017 \(charging\)/);
  await page.screenshot({ path: join(SCREENSHOTS, 'liveops-web-cars.png') });
});

test("the alert engine's alerts (fleet-alerts) are listed and highlight their car until cleared", async () => {
  const alert = (transition: string) => ({
    key: 'CAR-YELLOW',
    value: JSON.stringify({ event_type: `alert_${transition}`, event_id: uniqueName('a'), alert_id: 'AL-OVERSPEED-1', car_id: 'CAR-YELLOW', rule: 'overspeed', severity: 'warning', at: clock, raised_at: clock, values: { velocity: 131 } }),
  });
  assert.is((await car('CAR-YELLOW'))!.alert, false);
  await producer.send({ topic: alertsTopic, messages: [alert('raised')] });
  await page.waitForSelector('#alerts li[data-car="CAR-YELLOW"][data-kind="overspeed"]');
  await waitFor('CAR-YELLOW highlighted', async () => (await car('CAR-YELLOW'))?.alert === true);
  assert.match((await page.textContent('#alerts'))!, /CAR-YELLOW: overspeed \(warning\)/);
  await page.screenshot({ path: join(SCREENSHOTS, 'liveops-web-alerts.png') });
  await producer.send({ topic: alertsTopic, messages: [alert('cleared')] });
  await waitFor('the alert cleared', async () => (await car('CAR-YELLOW'))?.alert === false && (await page.$('#alerts li[data-car="CAR-YELLOW"]')) === null);
});

test("operators' commands through the service to the real command API: 401 without a token, its 404 for an unknown car, 400 as it says", async () => {
  const post = (car: string, body: string, headers: Record<string, string>) => fetch(`${service.base}/api/v1/cars/${car}/commands`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const none = await post('CAR-NOBODY', '{"type":"EMERGENCY_STOP"}', {});
  assert.is(none.status, 401);
  const unknown = await post(uniqueName('CAR-NOBODY'), '{"type":"EMERGENCY_STOP"}', { authorization: `Bearer ${TOKEN}` });
  assert.is(unknown.status, 404);
  assert.match(((await unknown.json()) as { error: string }).error, /telemetry|unknown|never/i);
  // The other accepted token of this service is not one of the command API's: its 401 comes back.
  const other = await post('CAR-GREEN', '{"type":"EMERGENCY_STOP"}', { authorization: 'Bearer other-token' });
  assert.is(other.status, 401);
  const bad = await post('CAR-GREEN', '{"type":"FLY"}', { authorization: `Bearer ${TOKEN}` });
  assert.is(bad.status, 400);
  const big = await post('CAR-GREEN', JSON.stringify({ type: 'EMERGENCY_STOP', pad: 'x'.repeat(20_000) }), { authorization: `Bearer ${TOKEN}` });
  assert.is(big.status, 413);
  const wrongWait = await fetch(`${service.base}/api/v1/commands/nope/wait?timeout_ms=0`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.is(wrongWait.status, 404);

  // The command API not there: a 502 that says so.
  const deadPort = await freePort();
  const orphan = await startService(await freePort(), { ...serviceEnv(), REDIS_URL: 'none', COMMAND_API_URL: `http://127.0.0.1:${deadPort}`, LIVEOPS_WEB_FROM_BEGINNING: 'false' });
  try {
    const r = await fetch(`${orphan.base}/api/v1/cars/CAR-GREEN/commands`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: '{"type":"RESUME"}' });
    assert.is(r.status, 502);
    assert.match(((await r.json()) as { error: string }).error, new RegExp(`COMMAND_API_URL=http://127.0.0.1:${deadPort}\\) is unreachable: ECONNREFUSED`));
  } finally {
    await orphan.stop();
  }
});

test('a JWT with operator:read signs a browser in (the cookie no longer than the JWT) and reads; it cannot send commands', async () => {
  const reader = await jwt('ana', ['operator:read'], { ttlSeconds: 900 });
  const other = await browser.newContext({ viewport: { width: 800, height: 600 } });
  try {
    const tab = await other.newPage();
    await tab.goto(`${service.base}/?token=${reader}`);
    assert.is(new URL(tab.url()).search, '', 'the JWT left the address bar');
    const cookie = (await other.cookies()).find((c) => c.name === 'greenlane_operator');
    assert.ok(cookie?.httpOnly, 'an HttpOnly cookie holds the JWT');
    assert.ok(cookie!.expires > 0 && cookie!.expires <= Date.now() / 1000 + 901, `the cookie expires with the JWT: ${cookie!.expires}`);
    await tab.waitForFunction(() => (window as unknown as { liveops: { stats: { connection: string } } }).liveops.stats.connection === 'open', undefined, { timeout: 30_000 });
  } finally {
    await other.close();
  }
  assert.is((await fetch(`${service.base}/api/v1/cars`, { headers: { authorization: `Bearer ${reader}` } })).status, 200);
  const denied = await fetch(`${service.base}/api/v1/cars/CAR-GREEN/commands`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${reader}` }, body: '{"type":"EMERGENCY_STOP"}' });
  assert.is(denied.status, 403);
  assert.match(((await denied.json()) as { error: string }).error, /needs the scope operator:command/);
  assert.match(denied.headers.get('www-authenticate')!, /error="insufficient_scope", scope="operator:command"/);
});

test('JWTs through the proxy: operator:command (and read) reach the real command API; command alone cannot read the map; a vehicle token 403; bad JWTs 401', async () => {
  const operator = await jwt('bo', ['operator:read', 'operator:command']);
  const unknown = await fetch(`${service.base}/api/v1/cars/${uniqueName('CAR-NOBODY')}/commands`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${operator}` }, body: '{"type":"EMERGENCY_STOP"}' });
  assert.is(unknown.status, 404, 'past both checks: the command API knows no such car');
  const commandOnly = await jwt('cy', ['operator:command']);
  assert.is((await fetch(`${service.base}/api/v1/alerts`, { headers: { authorization: `Bearer ${commandOnly}` } })).status, 403, 'operator:command does not imply operator:read');
  assert.is((await upgrade({ authorization: `Bearer ${commandOnly}` })).status, 403);
  assert.is((await fetch(`${service.base}/api/v1/commands/nope/wait?timeout_ms=0`, { headers: { authorization: `Bearer ${commandOnly}` } })).status, 403, 'following a command reads');
  const vehicle = await jwt('CAR-GREEN', ['vehicle']);
  const car = await fetch(`${service.base}/api/v1/alerts`, { headers: { authorization: `Bearer ${vehicle}` } });
  assert.is(car.status, 403);
  assert.match(((await car.json()) as { error: string }).error, /vehicle token/);
  assert.is((await upgrade({ authorization: `Bearer ${vehicle}` })).status, 403);
  assert.is((await fetch(`${service.base}/?token=${vehicle}`, { redirect: 'manual' })).status, 403, 'a car cannot sign a browser in');
  const bad: Array<[string, RegExp]> = [
    [await jwt('ana', ['operator:read'], { ttlSeconds: -120 }), /token expired/],
    [await jwt('ana', ['operator:read'], {}, strangerKey), /signature/],
    [await jwt('ana', ['operator:read'], { audience: 'not-us' }), /claim aud/],
  ];
  for (const [token, why] of bad) {
    const r = await fetch(`${service.base}/api/v1/stations`, { headers: { cookie: `greenlane_operator=${token}` } });
    assert.is(r.status, 401);
    assert.match(((await r.json()) as { error: string }).error, why);
    assert.match(r.headers.get('www-authenticate')!, /^Bearer realm="greenlane-operators", error="invalid_token", error_description="/);
    const ws = await upgrade({ cookie: `greenlane_operator=${token}` });
    assert.is(ws.status, 401);
    assert.match(String(ws.headers['www-authenticate']), /invalid_token/);
  }
});

test("a WebSocket opened with a JWT is closed when the JWT expires", async () => {
  const short = await jwt('dee', ['operator:read'], { ttlSeconds: 2 });
  const closed = await new Promise<{ code: number; reason: string; messages: number }>((resolve, reject) => {
    let messages = 0;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { authorization: `Bearer ${short}` } });
    ws.on('message', () => (messages += 1));
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString(), messages }));
    ws.on('error', reject);
    setTimeout(() => reject(new Error('still open 15 s after the JWT expired')), 17_000).unref();
  });
  assert.ok(closed.messages > 0, 'it read the map while the JWT was valid');
  assert.equal([closed.code, closed.reason], [1008, 'operator token expired']);
});

test('a rate per identity (the default, 20/s and bursts of 40): a flooding JWT gets 429 with Retry-After; the page\'s token keeps its 200s', async () => {
  const flood = await jwt('flooder', ['operator:read']);
  const answers = await Promise.all(Array.from({ length: 70 }, () => fetch(`${service.base}/api/v1/stations`, { headers: { authorization: `Bearer ${flood}` } })));
  const limited = answers.filter((a) => a.status === 429);
  assert.ok(limited.length >= 1 && answers.filter((a) => a.status === 200).length >= 40, answers.map((a) => a.status).join(','));
  assert.ok(Number(limited[0]!.headers.get('retry-after')) >= 1);
  assert.match(((await limited[0]!.json()) as { error: string }).error, /too many requests from flooder/);
  assert.is((await fetch(`${service.base}/api/v1/stations`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  const metrics = await (await fetch(`${service.base}/metrics`)).text();
  assert.match(metrics, /liveops_web_http_rate_limited_total\{route="api"\} [1-9]/);
});

test('a WebSocket upgrade spends from the same bucket as the API: once a JWT has spent its burst, its upgrade gets 429 with Retry-After', async () => {
  // One token every 10 s: nothing refills between the spending and the refused upgrade, however
  // slow the machine. At the default 20/s a token comes back every 50 ms, which a busy CI machine
  // can take between two requests.
  const slow = await startService(await freePort(), { ...serviceEnv(), OPERATOR_RATE: '0.1', OPERATOR_BURST: '2', LIVEOPS_WEB_FROM_BEGINNING: 'false' });
  try {
    const auth = { authorization: `Bearer ${await jwt('ws-flooder', ['operator:read'])}` };
    assert.is((await upgrade(auth, slow.base)).status, 101);
    assert.is((await fetch(`${slow.base}/api/v1/stations`, { headers: auth })).status, 200);
    const refused = await upgrade(auth, slow.base);
    assert.is(refused.status, 429);
    assert.ok(Number(refused.headers['retry-after']) >= 1, String(refused.headers['retry-after']));
    assert.is((await upgrade({ authorization: `Bearer ${TOKEN}` }, slow.base)).status, 101, 'another identity keeps its own bucket');
    const metrics = await (await fetch(`${slow.base}/metrics`)).text();
    assert.match(metrics, /liveops_web_http_rate_limited_total\{route="ws"\} 1\b/);
  } finally {
    await slow.stop();
  }
});

test('an emergency stop from the side panel reaches a real car through the ingestion; the panel shows SUCCEEDED', async () => {
  const testCar = new TestCar(uniqueName('CAR-CMD'));
  testCar.connect(ingestionGrpc);
  try {
    testCar.send();
    await waitFor(`${testCar.carId} on the page`, () => car(testCar.carId), 30_000);
    await page.evaluate((id) => (window as unknown as { liveops: { select(id: string): void } }).liveops.select(id), testCar.carId);
    await page.waitForFunction((id) => document.getElementById('panel-title')?.textContent === id, testCar.carId);
    assert.ok(await page.isDisabled('#commands button[data-command="START_CHARGING"]'), 'charging needs a station');
    // The command API knows the car once the ingestion has seen it: retry the first click until it is not a 404.
    const outcome = await waitFor('the command final', async () => {
      const list = (await page.evaluate(() => (window as unknown as { liveops: { commands(): Array<{ carId: string; status: string; reason?: string; final: boolean }> } }).liveops.commands())).filter((c) => c.carId === testCar.carId);
      if (list.length === 0 || (list[0]!.final && list[0]!.status === 'ERROR' && /^404/.test(list[0]!.reason ?? ''))) {
        await page.click('#commands button[data-command="EMERGENCY_STOP"]');
        return undefined;
      }
      return list[0]!.final ? list[0] : undefined;
    }, 30_000);
    assert.is(outcome!.status, 'SUCCEEDED', JSON.stringify(outcome));
    assert.is(outcome!.reason, 'stopped');
    assert.is(testCar.received.length, 1);
    await page.waitForSelector('#command-log li[data-status="SUCCEEDED"]');
    assert.match((await page.textContent('#command-log'))!, new RegExp(`${testCar.carId} EMERGENCY_STOP: SUCCEEDED \\(stopped\\)`));

    // REROUTE takes its point from a click on the map.
    await page.click('#commands button[data-command="REROUTE"]');
    const box = (await page.locator('#map').boundingBox())!;
    const green = (await car('CAR-GREEN'))!;
    await page.mouse.click(box.x + green.x + 30, box.y + green.y + 30);
    const reroute = await waitFor('the reroute final', async () => {
      const list = (await page.evaluate(() => (window as unknown as { liveops: { commands(): Array<{ carId: string; type: string; status: string; final: boolean }> } }).liveops.commands()));
      return list[0]?.type === 'REROUTE' && list[0].final ? list[0] : undefined;
    }, 30_000);
    assert.is(reroute!.status, 'SUCCEEDED', JSON.stringify(reroute));
    await page.screenshot({ path: join(SCREENSHOTS, 'liveops-web-command.png') });
  } finally {
    testCar.disconnect();
  }
});

test('a car that goes silent is shown offline', async () => {
  // Everyone else keeps talking (keepAlive); CAR-EDGE has said nothing since the first test.
  const offline = await waitFor('CAR-EDGE offline', async () => ((await car('CAR-EDGE'))?.offline ? car('CAR-EDGE') : undefined), 60_000);
  assert.is(offline!.colour, 'offline');
  assert.is((await car('CAR-GREEN'))!.offline, false);
});

test('every request of the page went to 127.0.0.1', () => {
  assert.equal(foreign, [], `requests to other hosts: ${foreign.join(', ')}`);
  const hosts = new Set(requested.map((u) => new URL(u).host));
  assert.equal([...hosts], [`127.0.0.1:${port}`]);
  for (const path of ['/app.js', '/style.css', '/basemap.json', '/ws']) assert.ok(requested.some((u) => new URL(u).pathname === path), `${path} requested`);
});

test('the page reconnects by itself after the service restarts, without a reload', async () => {
  await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'the same page'));
  const before = await pageStats();
  assert.is((await service.stop()), 0, 'the service stopped cleanly on SIGTERM');
  await waitFor('the page to notice', async () => (await pageStats()).connection === 'reconnecting', 20_000);
  service = await startService(port, serviceEnv());
  await producer.send({ topic, messages: [telemetry('CAR-AFTER', 40.79, -73.97, 77, 20)] });
  await waitFor('the page to reconnect and show the new car', async () => (await pageStats()).connection === 'open' && (await car('CAR-AFTER')) !== undefined, 60_000);
  const after = await pageStats();
  assert.ok(after.reconnects > before.reconnects);
  assert.ok(after.snapshots > before.snapshots, 'a new snapshot after reconnecting');
  assert.is(await page.evaluate(() => (window as unknown as { marker?: string }).marker), 'the same page');
  await page.screenshot({ path: join(SCREENSHOTS, 'liveops-web-reconnected.png') });
});

test('ops endpoints, the OpenAPI document, --help, and a bad variable named at start', async () => {
  const metrics = await (await fetch(`${service.base}/metrics`)).text();
  assert.match(metrics, /^liveops_web_browsers 1$/m);
  assert.match(metrics, /liveops_web_frames_sent_total\{kind="snapshot"\}/);
  const doc = (await (await fetch(`${service.base}/openapi.json`)).json()) as any;
  assert.match(doc.openapi, /^3\./);
  assert.equal([doc.components.securitySchemes.bearerAuth.scheme, doc.components.securitySchemes.bearerAuth.bearerFormat], ['bearer', 'JWT']);
  const scopes: Record<string, string> = {
    'get /ws': 'operator:read', 'get /api/v1/cars': 'operator:read', 'get /api/v1/cars/{id}': 'operator:read', 'get /api/v1/stations': 'operator:read',
    'get /api/v1/alerts': 'operator:read', 'post /api/v1/cars/{id}/commands': 'operator:command', 'get /api/v1/commands/{id}/wait': 'operator:read',
  };
  for (const [key, scope] of Object.entries(scopes)) {
    const [method, path] = key.split(' ') as [string, string];
    const op = doc.paths[path][method];
    assert.equal(op['x-required-scopes'], [scope], key);
    assert.match(op.description, new RegExp(`Scope: \`${scope}\``), key);
    for (const status of ['401', '403', '429']) assert.ok(op.responses[status], `${key} ${status}`);
  }
  for (const path of ['/ws', '/api/v1/cars/{id}', '/api/v1/stations', '/api/v1/alerts', '/api/v1/cars/{id}/commands', '/api/v1/commands/{id}/wait', '/health', '/ready', '/metrics']) assert.ok(doc.paths[path], path);
  const health = (await (await fetch(`${service.base}/health`)).json()) as { status: string };
  assert.is(health.status, 'ok');

  const { spawnSync } = await import('node:child_process');
  const { SERVICE } = await import('./helpers.js');
  const help = spawnSync(process.execPath, [SERVICE, '--help'], { encoding: 'utf8' });
  assert.is(help.status, 0);
  assert.match(help.stdout, /OPERATOR_TOKENS/);
  assert.match(help.stdout, /AUTH_JWKS/);
  assert.match(help.stdout, /OPERATOR_RATE/);
  assert.match(help.stdout, /LIVEOPS_WEB_TICK_MS/);
  assert.match(help.stdout, /COMMAND_API_URL/);
  const badUrl = spawnSync(process.execPath, [SERVICE], { encoding: 'utf8', env: { ...process.env, COMMAND_API_URL: 'ftp://x', LIVEOPS_WEB_ADDR: '127.0.0.1:0' }, timeout: 30_000 });
  assert.is(badUrl.status, 2);
  assert.match(badUrl.stdout + badUrl.stderr, /"variable":"COMMAND_API_URL"/);
  const bad = spawnSync(process.execPath, [SERVICE], { encoding: 'utf8', env: { ...process.env, LIVEOPS_WEB_TICK_MS: 'fast', LIVEOPS_WEB_ADDR: '127.0.0.1:0' }, timeout: 30_000 });
  assert.is(bad.status, 2);
  assert.match(bad.stdout + bad.stderr, /"variable":"LIVEOPS_WEB_TICK_MS"/);
  assert.match(bad.stdout + bad.stderr, /LIVEOPS_WEB_TICK_MS=\\"fast\\" is invalid: expected an integer from 20 to 10000/);
});

test.run();
