/**
 * The wire contract: buf lint, no breaking change against the committed contract nor against the
 * one published in shared/CONTRACTS.md, and generated TypeScript that matches the proto.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BookingStatus, CarStatus, BookingResponse } from '../src/gen/fleet/fleet.js';

const root = new URL('../../../', import.meta.url).pathname;
const buf = join(root, 'node_modules/.bin/buf');
const run = (args: string[], cwd = root) => execFileSync(buf, args, { cwd, encoding: 'utf8', stdio: 'pipe' });

function failureText(error: unknown): string {
  const e = error as { stdout?: string; stderr?: string; message: string };
  return `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message;
}

test('buf lint passes with only the contract-forced exceptions', () => {
  try {
    run(['lint']);
    run(['format', '--diff', '--exit-code']);
  } catch (error) {
    assert.unreachable(`buf lint/format failed:\n${failureText(error)}`);
  }
});

test('no breaking change against the contract committed in git', () => {
  try {
    run(['breaking', '--against', '.git#ref=HEAD']);
  } catch (error) {
    assert.unreachable(`breaking change against HEAD:\n${failureText(error)}`);
  }
});

test('no breaking change against the contract published in shared/CONTRACTS.md', () => {
  const contracts = [process.env.GREENLANE_SHARED, join(root, '../shared'), join(root, 'shared')]
    .filter((p): p is string => p !== undefined)
    .map((dir) => join(dir, 'CONTRACTS.md'))
    .find((file) => existsSync(file));
  // A clone without shared/ beside it checks against the copy committed with the tests.
  let proto: string | undefined;
  if (contracts === undefined) {
    proto = readFileSync(join(root, 'common/test/fixtures/published-contract.proto'), 'utf8');
  } else {
    proto = /```proto\n([\s\S]*?)```/.exec(readFileSync(contracts, 'utf8'))?.[1];
    assert.ok(proto, `${contracts} has no \`\`\`proto block`);
  }
  const published = mkdtempSync(join(tmpdir(), 'contract-'));
  mkdirSync(join(published, 'fleet'));
  writeFileSync(join(published, 'fleet/fleet.proto'), proto);
  try {
    run(['breaking', 'proto', '--against', published]);
  } catch (error) {
    assert.unreachable(`breaking change against the published contract (${contracts ?? 'committed copy'}):\n${failureText(error)}`);
  }
});

test('the committed copy of the published contract is the one in shared/CONTRACTS.md, when that is here', () => {
  const contracts = [process.env.GREENLANE_SHARED, join(root, '../shared'), join(root, 'shared')]
    .filter((p): p is string => p !== undefined)
    .map((dir) => join(dir, 'CONTRACTS.md'))
    .find((file) => existsSync(file));
  const copy = readFileSync(join(root, 'common/test/fixtures/published-contract.proto'), 'utf8');
  assert.ok(copy.includes('package fleet;') && copy.includes('service FleetService'), 'the copy holds the fleet contract');
  if (contracts !== undefined) {
    const proto = /```proto\n([\s\S]*?)```/.exec(readFileSync(contracts, 'utf8'))?.[1] ?? '';
    assert.ok(copy.endsWith(proto), `common/test/fixtures/published-contract.proto differs from ${contracts}: copy its proto block again`);
  }
});

test('generated TypeScript is what `make proto` produces now (not stale, not edited)', () => {
  const out = mkdtempSync(join(tmpdir(), 'gen-'));
  const template = readFileSync(join(root, 'buf.gen.yaml'), 'utf8').replace('out: common/src/gen', `out: ${out}`);
  run(['generate', '--template', template]);
  const committed = join(root, 'common/src/gen/fleet');
  const files = readdirSync(join(out, 'fleet'));
  assert.equal(files.sort(), readdirSync(committed).sort());
  for (const file of files) {
    assert.fixture(readFileSync(join(committed, file), 'utf8'), readFileSync(join(out, 'fleet', file), 'utf8'), `${file} is stale: run make proto`);
  }
});

test('CarStatus with the GreenLane additions round-trips through the generated codec', () => {
  const status = CarStatus.fromPartial({
    carId: 'CAR-001', latitude: 40.7234, longitude: -73.9876, batteryLevel: 85.3, velocity: 45.2,
    timestamp: 1701532800000, stationId: 'ST-01', charging: true, chargeEnergyKwh: 3.5, pluggedInAt: 1701532000000,
    bookingRequest: { carId: 'CAR-001', stationId: '', expectedArrival: 1701533000000, batteryLevel: 12 },
  });
  const decoded = CarStatus.decode(CarStatus.encode(status).finish());
  assert.equal(decoded, status);
  const response = BookingResponse.decode(BookingResponse.encode(BookingResponse.fromPartial({ status: BookingStatus.BOOKING_CONFIRMED, priceRate: 0.31 })).finish());
  assert.is(response.status, BookingStatus.BOOKING_CONFIRMED);
  assert.is(response.priceRate, 0.31);
});

test('a client that sends only the original six fields is understood (additions default to empty)', () => {
  const legacy = CarStatus.encode(CarStatus.fromPartial({ carId: 'CAR-002', latitude: 40.7, longitude: -73.95, batteryLevel: 50, velocity: 10, timestamp: 1 })).finish();
  const decoded = CarStatus.decode(legacy);
  assert.is(decoded.stationId, '');
  assert.is(decoded.charging, false);
  assert.is(decoded.bookingRequest, undefined);
});

test.run();
