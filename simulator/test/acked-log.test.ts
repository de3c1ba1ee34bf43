import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CarStatus } from '@greenlane/common/gen/fleet/fleet';
import { ConfigError } from '@greenlane/common';
import { ackedLine, openAckedLog } from '../src/acked-log.js';
import { parseOptions } from '../src/options.js';
import { startEchoServer } from '../src/echo-server.js';
import { runRealistic } from '../src/realistic/run-realistic.js';

test('--acked-log is a realistic-mode option, by flag or SIM_ACKED_LOG', () => {
  assert.is(parseOptions({ 'acked-log': '/tmp/a.log' }, {}).ackedLog, '/tmp/a.log');
  assert.is(parseOptions({}, { SIM_ACKED_LOG: '/tmp/b.log' }).ackedLog, '/tmp/b.log');
  assert.is(parseOptions({}, {}).ackedLog, undefined);
  assert.throws(() => parseOptions({ mode: 'load', 'acked-log': '/tmp/a.log' }, {}), (e: unknown) => e instanceof ConfigError && /--acked-log/.test(String((e as Error).message)));
});

test('a line names the CarStatus by car and timestamp, then the ack instant', () => {
  assert.is(ackedLine({ carId: 'CAR-7', timestamp: 1701532800000 } as CarStatus, 1701532800123), 'CAR-7 1701532800000 1701532800123\n');
});

test('every CarStatus acknowledged in a realistic run is in the log, once', async () => {
  const echo = await startEchoServer('127.0.0.1:0');
  const path = join(mkdtempSync(join(tmpdir(), 'acked-log-')), 'acked.log');
  const log = openAckedLog(path);
  try {
    const summary = await runRealistic({
      target: `127.0.0.1:${echo.port}`,
      token: 't',
      cars: 5,
      intervalMs: 50,
      durationSec: 1,
      channels: 2,
      seed: 3,
      carPrefix: 'ACKLOG-',
      stations: new Map(),
      onAck: (status) => log.record(status),
    });
    await log.close();
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    assert.ok(summary.acked > 0);
    assert.is(lines.length, summary.acked);
    const keys = new Set(lines.map((l) => l.split(' ').slice(0, 2).join(' ')));
    assert.is(keys.size, lines.length, 'no CarStatus logged twice');
    for (const line of lines) assert.match(line, /^ACKLOG-\d+ \d{13} \d{13}$/);
  } finally {
    await echo.close();
  }
});

test.run();
