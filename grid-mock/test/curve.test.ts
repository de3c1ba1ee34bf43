import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PERIOD_MS, priceAt, tariff } from '../src/curve.js';

const DAY = Date.UTC(2026, 0, 15); // a Thursday, 00:00 UTC
const at = (h: number, m = 0) => DAY + (h * 60 + m) * 60_000;
const dayOfPeriods = (tz = 'UTC') => Array.from({ length: 96 }, (_, q) => priceAt(DAY + q * PERIOD_MS, tz));

test('the published price is highest at 18:00 and lowest at 02:00', () => {
  const day = dayOfPeriods();
  const max = Math.max(...day.map((p) => p.price_per_kwh));
  const min = Math.min(...day.map((p) => p.price_per_kwh));
  assert.is(priceAt(at(18)).price_per_kwh, max);
  assert.is(priceAt(at(2)).price_per_kwh, min);
  assert.is(day.filter((p) => p.price_per_kwh === max).length, 1, 'one peak period');
  assert.is(day.filter((p) => p.price_per_kwh === min).length, 1, 'one trough period');
  assert.is(max, 0.36);
  assert.is(min, 0.1);
});

test('the tariff swings 0.15 around 0.25: 0.40 at 18:00, 0.10 at 02:00, continuous', () => {
  assert.ok(Math.abs(tariff(18) - 0.4) < 1e-12);
  assert.ok(Math.abs(tariff(2) - 0.1) < 1e-12);
  for (let h = 0; h < 24; h += 0.25) {
    assert.ok(tariff(h) >= 0.1 - 1e-12 && tariff(h) <= 0.4 + 1e-12, `tariff(${h}) in [0.10, 0.40]`);
  }
  for (const edge of [2, 18, 0, 24]) {
    assert.ok(Math.abs(tariff(edge - 1e-9) - tariff((edge + 1e-9) % 24)) < 1e-6, `continuous at ${edge}`);
  }
});

test('energy sources: Solar 08:00-18:59, Wind 19:00-22:59, Grid otherwise', () => {
  const expect: Array<[number, number, string]> = [
    [7, 59, 'Grid'], [8, 0, 'Solar'], [12, 30, 'Solar'], [18, 59, 'Solar'],
    [19, 0, 'Wind'], [22, 59, 'Wind'], [23, 0, 'Grid'], [0, 0, 'Grid'], [2, 0, 'Grid'],
  ];
  for (const [h, m, source] of expect) assert.is(priceAt(at(h, m)).energy_source, source, `${h}:${m}`);
});

test('Solar hours are 10% below the tariff; other hours are the tariff', () => {
  const round = (x: number) => Math.round(x * 10_000) / 10_000;
  assert.is(priceAt(at(12)).price_per_kwh, round(tariff(12) * 0.9));
  assert.is(priceAt(at(18)).price_per_kwh, round(0.4 * 0.9));
  assert.is(priceAt(at(20)).price_per_kwh, round(tariff(20)));
  assert.is(priceAt(at(3)).price_per_kwh, round(tariff(3)));
});

test('load bands follow the published price: High > 0.35, Medium > 0.25, else Low', () => {
  for (const p of dayOfPeriods()) {
    const band = p.price_per_kwh > 0.35 ? 'High' : p.price_per_kwh > 0.25 ? 'Medium' : 'Low';
    assert.is(p.grid_load, band, `at hour ${p.hour}: ${p.price_per_kwh}`);
  }
  assert.is(priceAt(at(18)).grid_load, 'High');
  assert.is(priceAt(at(14)).grid_load, 'Medium');
  assert.is(priceAt(at(2)).grid_load, 'Low');
});

test('deterministic per instant and constant within each 15-minute period', () => {
  const t = at(17, 37) + 12_345;
  assert.equal(priceAt(t), priceAt(t));
  const p = priceAt(t);
  assert.is(p.timestamp, t);
  assert.is(p.period_start, at(17, 30));
  assert.is(p.period_end, at(17, 45));
  assert.is(priceAt(at(17, 30)).price_per_kwh, p.price_per_kwh);
  assert.is(priceAt(at(17, 45) - 1).price_per_kwh, p.price_per_kwh);
  assert.is.not(priceAt(at(17, 45)).price_per_kwh, p.price_per_kwh);
});

test('the time zone moves the curve to local time', () => {
  // 12:30 UTC is 18:00 in Kolkata (UTC+5:30); 20:30 UTC is 02:00 there.
  const peak = priceAt(at(12, 30), 'Asia/Kolkata');
  assert.is(peak.hour, 18);
  assert.is(peak.price_per_kwh, 0.36);
  assert.is(priceAt(at(20, 30), 'Asia/Kolkata').price_per_kwh, 0.1);
  // New York in January is UTC-5: 23:00 UTC is 18:00 local.
  assert.is(priceAt(at(23), 'America/New_York').price_per_kwh, 0.36);
  assert.is(priceAt(at(23), 'America/New_York').hour, 18);
});

test.run();
