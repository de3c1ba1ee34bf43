import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@greenlane/common';
import { createGridClient, type GridClient } from '@greenlane/common/grid-client';
import { createGridServer } from '../src/server.js';

const test = suite('grid mock over a real socket');
const NOW = Date.UTC(2026, 0, 15, 19, 5);
const server = createGridServer({ timeZone: 'UTC', log: createLogger('grid-mock-test'), now: () => NOW });
let base = '';
let client: GridClient;

test.before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = createGridClient({ baseUrl: base });
});
test.after(async () => {
  await client.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('GET /api/pricing?at= answers the contract fields for that instant', async () => {
  const at = Date.UTC(2026, 0, 15, 18, 7);
  const res = await fetch(`${base}/api/pricing?at=${at}`);
  assert.is(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', 'application/json');
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(
    { timestamp: body.timestamp, price_per_kwh: body.price_per_kwh, grid_load: body.grid_load, energy_source: body.energy_source, hour: body.hour },
    { timestamp: at, price_per_kwh: 0.36, grid_load: 'High', energy_source: 'Solar', hour: 18 },
  );
});

test('without at, the server prices now', async () => {
  const body = (await (await fetch(`${base}/api/pricing`)).json()) as { timestamp: number; energy_source: string; hour: number };
  assert.is(body.timestamp, NOW);
  assert.is(body.hour, 19);
  assert.is(body.energy_source, 'Wind');
});

test('a bad at is a 400 with a JSON error naming it', async () => {
  for (const bad of ['abc', '1.5', '', '99999999999999999999']) {
    const res = await fetch(`${base}/api/pricing?at=${encodeURIComponent(bad)}`);
    assert.is(res.status, 400, `at=${bad}`);
    const body = (await res.json()) as { error: string };
    assert.match(body.error, 'at=');
  }
});

test('GET /health answers ok; unknown paths 404', async () => {
  const res = await fetch(`${base}/health`);
  assert.is(res.status, 200);
  assert.is(((await res.json()) as { status: string }).status, 'ok');
  assert.is((await fetch(`${base}/nope`)).status, 404);
});

test('the shared grid client reads the same prices and reports health', async () => {
  const p = await client.price(Date.UTC(2026, 0, 15, 2, 0));
  assert.equal([p.price_per_kwh, p.grid_load, p.energy_source, p.hour], [0.1, 'Low', 'Grid', 2]);
  assert.is(await client.health(), true);
  const down = createGridClient({ baseUrl: 'http://127.0.0.1:1', timeoutMs: 500 });
  assert.is(await down.health(), false);
  try {
    await down.price(0);
    assert.unreachable('a refused connection must throw');
  } catch (error) {
    assert.match((error as Error).message, 'grid http://127.0.0.1:1');
  }
  await down.close();
});

test.run();
