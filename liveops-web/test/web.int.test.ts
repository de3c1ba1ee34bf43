/// <reference lib="dom" />
/**
 * The live map end to end in a real browser: the compiled service against the real Kafka broker
 * (a topic of its own) and Redis (a database of its own, for station slots), Debian's Chromium
 * driven by playwright-core. The test produces a known stream of telemetry and booking events
 * (what the ingestion writes for CarStatus messages) and reads the page's state.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Producer } from 'kafkajs';
import { connectRedis, createKafka, createLogger, ensureTopics } from '@greenlane/common';
import { testServers, uniqueName, waitFor } from '@greenlane/common/testing';
import { freePort } from '@greenlane/common/testing-programs';
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

const serviceEnv = () => ({
  KAFKA_BROKERS: testServers.kafkaBrokers.join(','),
  FLEET_EVENTS_TOPIC: topic,
  FLEET_ALERTS_TOPIC: alertsTopic,
  REDIS_URL: REDIS_DB,
  OPERATOR_TOKENS: `other-token,${TOKEN}`,
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
  await producer?.disconnect();
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic, alertsTopic] }).catch(() => undefined);
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
  const doc = (await (await fetch(`${service.base}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
  assert.match(doc.openapi, /^3\./);
  for (const path of ['/ws', '/api/v1/cars/{id}', '/api/v1/stations', '/api/v1/alerts', '/health', '/ready', '/metrics']) assert.ok(doc.paths[path], path);
  const health = (await (await fetch(`${service.base}/health`)).json()) as { status: string };
  assert.is(health.status, 'ok');

  const { spawnSync } = await import('node:child_process');
  const { SERVICE } = await import('./helpers.js');
  const help = spawnSync(process.execPath, [SERVICE, '--help'], { encoding: 'utf8' });
  assert.is(help.status, 0);
  assert.match(help.stdout, /OPERATOR_TOKENS/);
  assert.match(help.stdout, /LIVEOPS_WEB_TICK_MS/);
  const bad = spawnSync(process.execPath, [SERVICE], { encoding: 'utf8', env: { ...process.env, LIVEOPS_WEB_TICK_MS: 'fast', LIVEOPS_WEB_ADDR: '127.0.0.1:0' }, timeout: 30_000 });
  assert.is(bad.status, 2);
  assert.match(bad.stdout + bad.stderr, /"variable":"LIVEOPS_WEB_TICK_MS"/);
  assert.match(bad.stdout + bad.stderr, /LIVEOPS_WEB_TICK_MS=\\"fast\\" is invalid: expected an integer from 20 to 10000/);
});

test.run();
