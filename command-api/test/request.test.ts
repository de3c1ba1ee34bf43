import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { commandTypeOf, DEFAULT_TTL_MS, parseCommandRequest, RequestError } from '../src/request.js';

const parse = (body: unknown) => parseCommandRequest(body, 10_000);
function refused(body: unknown, field: string, message: RegExp): void {
  try {
    parse(body);
  } catch (error) {
    assert.instance(error, RequestError);
    assert.is((error as RequestError).field, field);
    assert.match((error as Error).message, message);
    return;
  }
  assert.unreachable(`accepted ${JSON.stringify(body)}`);
}

test('type names in any case, with - or _', () => {
  for (const name of ['emergency-stop', 'EMERGENCY_STOP', 'Emergency_Stop', ' emergency-stop ']) assert.is(commandTypeOf(name), 'EMERGENCY_STOP');
  assert.is(commandTypeOf('self-destruct'), undefined);
});

test('defaults: ttl by type, timeout from the configuration', () => {
  assert.equal(parse({ type: 'emergency-stop' }), { type: 'EMERGENCY_STOP', ttlMs: DEFAULT_TTL_MS.EMERGENCY_STOP, timeoutMs: 10_000 });
  assert.ok(DEFAULT_TTL_MS.EMERGENCY_STOP < DEFAULT_TTL_MS.REROUTE);
  assert.equal(parse({ type: 'REROUTE', latitude: 40.7, longitude: -74, ttl_ms: 5000, timeout_ms: 2000 }), { type: 'REROUTE', ttlMs: 5000, timeoutMs: 2000, latitude: 40.7, longitude: -74 });
  assert.equal(parse({ type: 'start_charging', station_id: 'ST-1' }), { type: 'START_CHARGING', ttlMs: DEFAULT_TTL_MS.START_CHARGING, timeoutMs: 10_000, station_id: 'ST-1' });
});

test('each fault names its field', () => {
  refused([], 'body', /JSON object/);
  refused({}, 'type', /missing type/);
  refused({ type: 7 }, 'type', /missing type/);
  refused({ type: 'warp' }, 'type', /unknown type "warp"/);
  refused({ type: 'RESUME', colour: 'red' }, 'colour', /unknown field "colour"/);
  refused({ type: 'REROUTE', longitude: 1 }, 'latitude', /missing latitude/);
  refused({ type: 'REROUTE', latitude: 86, longitude: 1 }, 'latitude', /invalid latitude=86/);
  refused({ type: 'REROUTE', latitude: 0, longitude: 0 }, 'latitude', /position not set/);
  refused({ type: 'RETURN_TO_BASE', latitude: 40, longitude: '-74' }, 'longitude', /must be a number/);
  refused({ type: 'RESUME', latitude: 40 }, 'latitude', /takes no point/);
  refused({ type: 'START_CHARGING' }, 'station_id', /missing station_id/);
  refused({ type: 'STOP_CHARGING', station_id: 'ST 1' }, 'station_id', /invalid "ST 1"/);
  refused({ type: 'EMERGENCY_STOP', station_id: 'ST-1' }, 'station_id', /takes no station_id/);
  refused({ type: 'RESUME', ttl_ms: 1.5 }, 'ttl_ms', /integer/);
  refused({ type: 'RESUME', timeout_ms: 0 }, 'timeout_ms', /from 100/);
});

test.run();
