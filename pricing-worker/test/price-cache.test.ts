import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { GridPrice } from '@greenlane/common/grid-client';
import { PERIOD_MS, createPriceCache, periodOf } from '../src/price-cache.js';

const T = Date.UTC(2026, 0, 15, 18);

function fakeGrid(opts: { failFirst?: number } = {}) {
  const calls: number[] = [];
  let failures = opts.failFirst ?? 0;
  const pending: Array<() => void> = [];
  return {
    calls,
    release: () => pending.splice(0).forEach((go) => go()),
    async price(atMs: number): Promise<GridPrice> {
      calls.push(atMs);
      await new Promise<void>((resolve) => pending.push(resolve));
      if (failures-- > 0) throw new Error('grid down');
      return { timestamp: atMs, price_per_kwh: periodOf(atMs) / 1e6, grid_load: 'Low', energy_source: 'Grid', hour: 0 };
    },
  };
}

test('concurrent requests for one period share one fetch; later ones hit the cache', async () => {
  const grid = fakeGrid();
  const cache = createPriceCache(grid);
  const a = cache.priceAt(T + 1);
  const b = cache.priceAt(T + PERIOD_MS - 1);
  const c = cache.pricesFor(Float64Array.from([T + 5, T + 10, T + 20]));
  await new Promise((resolve) => setImmediate(resolve));
  grid.release();
  const [pa, pb, pc] = await Promise.all([a, b, c]);
  assert.equal(grid.calls, [T], 'one fetch, at the period start');
  assert.is(pa, pb);
  assert.equal(Array.from(pc), [pa, pa, pa]);
  assert.equal(cache.stats, { hits: 2, misses: 1 });
});

test('pricesFor fetches each distinct period once and maps prices back in order', async () => {
  const grid = fakeGrid();
  const cache = createPriceCache(grid);
  const times = Float64Array.from([T, T + PERIOD_MS, T + 1, T + 2 * PERIOD_MS + 7, T + PERIOD_MS + 3]);
  const pending = cache.pricesFor(times);
  await new Promise((resolve) => setImmediate(resolve));
  grid.release();
  const prices = await pending;
  assert.equal(grid.calls, [T, T + PERIOD_MS, T + 2 * PERIOD_MS]);
  assert.equal(Array.from(prices), Array.from(times, (t) => periodOf(t) / 1e6));
});

test('a failed fetch is not cached: the next request fetches again', async () => {
  const grid = fakeGrid({ failFirst: 1 });
  const cache = createPriceCache(grid);
  const first = cache.priceAt(T);
  await new Promise((resolve) => setImmediate(resolve));
  grid.release();
  assert.is(await first.then(() => 'resolved', (error: Error) => error.message), 'grid down');
  const second = cache.priceAt(T);
  await new Promise((resolve) => setImmediate(resolve));
  grid.release();
  assert.is(await second, periodOf(T) / 1e6);
  assert.is(grid.calls.length, 2);
});

test('the cache is bounded: the oldest period goes first', async () => {
  const grid = fakeGrid();
  const cache = createPriceCache(grid, { maxPeriods: 2 });
  const all = [cache.priceAt(T), cache.priceAt(T + PERIOD_MS), cache.priceAt(T + 2 * PERIOD_MS)];
  await new Promise((resolve) => setImmediate(resolve));
  grid.release();
  await Promise.all(all);
  assert.is(cache.size, 2);
  const again = cache.priceAt(T);
  await new Promise((resolve) => setImmediate(resolve));
  grid.release();
  await again;
  assert.is(grid.calls.length, 4);
});

test.run();
