import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '@greenlane/common';
import { parseDurationMs, parseOptions } from '../src/options.js';
import { parseStations } from '../src/car/stations.js';

test('defaults follow the contract and the mode', () => {
  const realistic = parseOptions({}, {});
  assert.is(realistic.mode, 'realistic');
  assert.is(realistic.target, '127.0.0.1:50051');
  assert.is(realistic.token, 'greenlane-secret-token');
  assert.is(realistic.intervalMs, 2000);
  assert.is(realistic.cars, 10);
  assert.is(realistic.durationSec, 0);
  assert.is(realistic.carPrefix, 'CAR-');
  const load = parseOptions({ mode: 'load' }, {});
  assert.is(load.cars, 100);
  assert.is(load.durationSec, 10);
  assert.is(load.rate, undefined);
  assert.is(load.inflight, 1);
});

test('flags override the environment, the environment overrides defaults', () => {
  const env = { INGESTION_TARGET: 'ing:1', API_TOKEN: 'env-token', SIM_CARS: '7', SIM_SEED: '5', SIM_RATE: '1000' };
  const fromEnv = parseOptions({}, env);
  assert.equal([fromEnv.target, fromEnv.token, fromEnv.cars, fromEnv.seed, fromEnv.rate], ['ing:1', 'env-token', 7, 5, 1000]);
  const fromFlags = parseOptions({ target: 'x:2', token: 'flag', cars: '3', seed: '9', rate: '50', json: true }, env);
  assert.equal([fromFlags.target, fromFlags.token, fromFlags.cars, fromFlags.seed, fromFlags.rate, fromFlags.json], ['x:2', 'flag', 3, 9, 50, true]);
});

test('durations: bare --interval is milliseconds, bare --duration seconds, units accepted', () => {
  assert.is(parseOptions({ interval: '2000' }, {}).intervalMs, 2000);
  assert.is(parseOptions({ interval: '1.5s' }, {}).intervalMs, 1500);
  assert.is(parseOptions({ duration: '30' }, {}).durationSec, 30);
  assert.is(parseOptions({ duration: '2m' }, {}).durationSec, 120);
  assert.is(parseOptions({ warmup: '2' }, {}).warmupSec, 2);
  assert.is(parseOptions({}, { SIM_WARMUP: '500ms' }).warmupSec, 0.5);
  assert.is(parseOptions({}, {}).warmupSec, 0);
  assert.is(parseDurationMs('250ms'), 250);
  assert.is(parseDurationMs('soon'), undefined);
});

test('a bad value names the flag or the variable it came from', () => {
  const fails = (flags: Record<string, string>, env: Record<string, string>, name: string) => {
    try {
      parseOptions(flags, env);
    } catch (error) {
      assert.instance(error, ConfigError);
      assert.is((error as ConfigError).variable, name);
      return;
    }
    assert.unreachable(`accepted ${JSON.stringify({ flags, env })}`);
  };
  fails({ cars: '0' }, {}, '--cars');
  fails({}, { SIM_CARS: 'many' }, 'SIM_CARS');
  fails({ mode: 'fast' }, {}, '--mode');
  fails({}, { INGESTION_TARGET: 'nohost' }, 'INGESTION_TARGET');
  fails({ rate: '-1' }, {}, '--rate');
  fails({ interval: 'often' }, {}, '--interval');
});

test('commands: realistic cars always obey; load cars only with --commands (or SIM_COMMANDS); --command-log needs them', () => {
  assert.is(parseOptions({}, {}).commands, true);
  assert.is(parseOptions({ mode: 'load' }, {}).commands, false);
  assert.is(parseOptions({ mode: 'load', commands: true }, {}).commands, true);
  assert.is(parseOptions({ mode: 'load' }, { SIM_COMMANDS: '1' }).commands, true);
  assert.is(parseOptions({ mode: 'load' }, { SIM_COMMANDS: 'false' }).commands, false);
  assert.is(parseOptions({ 'command-log': '/tmp/c.log' }, {}).commandLog, '/tmp/c.log');
  assert.is(parseOptions({ mode: 'load', commands: true }, { SIM_COMMAND_LOG: '/tmp/d.log' }).commandLog, '/tmp/d.log');
  const refused = (flags: Record<string, string | boolean>, env: Record<string, string>, name: string) => {
    try {
      parseOptions(flags, env);
      assert.unreachable('accepted');
    } catch (error) {
      assert.instance(error, ConfigError);
      assert.match((error as Error).message, name);
    }
  };
  refused({ mode: 'load', 'command-log': '/tmp/c.log' }, {}, '--command-log');
  refused({ mode: 'load' }, { SIM_COMMANDS: 'maybe' }, 'SIM_COMMANDS');
});

test('the station registry: an array of {id, lat, lon} or {stations: [...]}', () => {
  const text = '[{"id":"ST-001","name":"Battery Park","lat":40.7033,"lon":-74.017,"slots":4},{"id":"bad"}]';
  const stations = parseStations(text);
  assert.equal([...stations.entries()], [['ST-001', { lat: 40.7033, lon: -74.017 }]]);
  assert.is(parseStations('{"stations":[{"station_id":"S","latitude":1,"longitude":2}]}').get('S')?.lon, 2);
  assert.throws(() => parseStations('{"nope":1}'));
});

test.run();
