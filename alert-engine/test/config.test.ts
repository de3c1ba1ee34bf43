/** Settings: documented defaults, every bad value refused naming its variable (no servers). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unrefusedConfig } from '@greenlane/common/testing';
import { ConfigError } from '@greenlane/common';
import { ENVIRONMENT, loadConfig } from '../src/config.js';
import { inside, loadServiceArea } from '../src/rules/service-area.js';

test('defaults: the thresholds of issue 16', () => {
  const c = loadConfig({});
  assert.equal(c.rules, { batteryLowPct: 20, batteryCriticalPct: 15, batteryHysteresisPct: 1, overspeedKmh: 100, overspeedSeconds: 10, stallMinutes: 5, areaMarginM: 150, noShowClearMinutes: 30, refreshSeconds: 30, offlineSlackMs: 2000 });
  assert.is(c.alertsTopic, 'fleet-alerts');
  assert.is(c.topic, 'fleet-events');
  assert.is(c.addr, '0.0.0.0:9468');
  assert.is(c.redisPrefix, 'alerts:');
});

test('every variable the program reads is documented in --help', () => {
  const documented = new Set(ENVIRONMENT.map(([name]) => name));
  for (const name of ['ALERT_OVERSPEED_KMH', 'ALERT_OVERSPEED_SECONDS', 'ALERT_STALL_MINUTES', 'ALERT_SERVICE_AREA_FILE', 'ALERT_BATTERY_LOW_PCT', 'ALERT_BATTERY_CRITICAL_PCT', 'ALERT_REFRESH_SECONDS', 'ALERT_NO_SHOW_CLEAR_MINUTES', 'FLEET_ALERTS_TOPIC', 'REDIS_URL', 'OPERATOR_TOKENS']) {
    assert.ok(documented.has(name), name);
  }
});

test('bad values are refused with a ConfigError naming the variable', () => {
  assert.equal(unrefusedConfig(loadConfig, [
    ['ALERT_OVERSPEED_KMH', 'fast'], ['ALERT_OVERSPEED_KMH', '0'], ['ALERT_OVERSPEED_SECONDS', '-1'], ['ALERT_STALL_MINUTES', '0'],
    ['ALERT_BATTERY_LOW_PCT', '120'], ['ALERT_BATTERY_CRITICAL_PCT', '30'], ['ALERT_REFRESH_SECONDS', 'often'], ['ALERT_SERVICE_AREA_MARGIN_M', '-5'],
    ['ALERT_NO_SHOW_CLEAR_MINUTES', '0'], ['REDIS_URL', 'http://x'], ['KAFKA_BROKERS', 'nope'], ['ALERT_ADDR', 'x'], ['ALERT_REDIS_PREFIX', 'has space'],
    ['PRESENCE_PREFIX', 'a b'], ['FLEET_ALERTS_PARTITIONS', '0'], ['ALERT_FROM_BEGINNING', 'maybe'], ['ALERT_DB_SCHEMA', 'Bad-Schema'], ['ALERT_DONE_RETENTION_S', '0'], ['ALERT_CLEARED_RETENTION_S', 'week'],
  ]), []);
});

test('ALERT_SERVICE_AREA_FILE: a GeoJSON polygon with a hole, a MultiPolygon; a bad file names the variable', () => {
  const dir = mkdtempSync(join(tmpdir(), 'alert-area-'));
  const square = (x: number, y: number, d: number) => [[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]];
  const holed = join(dir, 'holed.geojson');
  writeFileSync(holed, JSON.stringify({ type: 'Feature', properties: {}, geometry: { type: 'Polygon', coordinates: [square(0, 0, 10), square(4, 4, 2)] } }));
  const area = loadServiceArea(holed);
  assert.ok(inside(area, 1, 1));
  assert.not.ok(inside(area, 5, 5), 'in the hole');
  assert.not.ok(inside(area, 11, 1));
  const multi = join(dir, 'multi.geojson');
  writeFileSync(multi, JSON.stringify({ type: 'MultiPolygon', coordinates: [[square(0, 0, 1)], [square(5, 5, 1)]] }));
  assert.ok(inside(loadServiceArea(multi), 5.5, 5.5));
  assert.not.ok(inside(loadServiceArea(multi), 3, 3));
  for (const [name, text] of [['point.json', '{"type":"Point","coordinates":[1,2]}'], ['junk.json', 'nope'], ['short.json', '{"type":"Polygon","coordinates":[[[0,0],[1,1],[0,0]]]}']]) {
    const file = join(dir, name!);
    writeFileSync(file, text!);
    try {
      loadServiceArea(file);
      assert.unreachable(`${name} accepted`);
    } catch (error) {
      assert.instance(error, ConfigError, String(error));
      assert.is((error as ConfigError).variable, 'ALERT_SERVICE_AREA_FILE');
    }
  }
  try {
    loadServiceArea(join(dir, 'missing.json'));
    assert.unreachable('a missing file accepted');
  } catch (error) {
    assert.is((error as ConfigError).variable, 'ALERT_SERVICE_AREA_FILE');
  }
});

test('the default area is the simulator\'s Manhattan outline, vertex for vertex', async () => {
  const { MANHATTAN_OUTLINE } = (await import(new URL('../../../simulator/dist/src/manhattan/outline.js', import.meta.url).href)) as { MANHATTAN_OUTLINE: Array<[number, number]> };
  const area = loadServiceArea(undefined);
  assert.is(area.polygons.length, 1);
  assert.equal(area.polygons[0]![0], MANHATTAN_OUTLINE.map((p) => [p[0], p[1]]));
});

test.run();
