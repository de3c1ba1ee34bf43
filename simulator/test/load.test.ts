import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startEchoServer } from '../src/echo-server.js';
import { runLoad, split, workerConfigs, type LoadOptions } from '../src/load/run-load.js';

function options(overrides: Partial<LoadOptions>): LoadOptions {
  return {
    target: '127.0.0.1:1',
    token: 't',
    cars: 10,
    durationSec: 1,
    rate: undefined,
    inflight: 1,
    channels: 4,
    threads: 2,
    seed: 7,
    intervalMs: 2000,
    carPrefix: 'LOADTEST-',
    drainMs: 3000,
    ...overrides,
  };
}

test('split shares a total out evenly, remainder first', () => {
  assert.equal(split(10, 3), [4, 3, 3]);
  assert.equal(split(2, 4), [1, 1, 0, 0]);
});

test('workers get disjoint cars and channels covering the whole fleet', () => {
  const configs = workerConfigs(options({ cars: 7, threads: 3, channels: 5, rate: 700 }));
  assert.equal(configs.map((c) => [c.firstCar, c.cars]), [[0, 3], [3, 2], [5, 2]]);
  assert.equal(configs.map((c) => [c.firstChannel, c.channels]), [[0, 2], [2, 2], [4, 1]]);
  assert.equal(configs.map((c) => c.ratePerSec), [300, 200, 200]);
});

test('ack-paced load against the echo server: every message sent is acknowledged', async () => {
  const echo = await startEchoServer('127.0.0.1:0');
  try {
    const summary = await runLoad(options({ target: `127.0.0.1:${echo.port}`, cars: 6, inflight: 3, durationSec: 1 }));
    assert.ok(summary.sent > 0);
    assert.is(summary.acked, summary.sent);
    assert.is(summary.rejected, 0);
    assert.is(summary.failed, 0);
    assert.is(echo.acked(), summary.sent);
    assert.is(summary.channels, 4);
    assert.is(summary.threads, 2);
    assert.ok(summary.latencyMs.p50 > 0 && summary.latencyMs.p50 <= summary.latencyMs.p99);
    assert.ok(summary.latencyMs.p99 <= summary.latencyMs.p999 && summary.latencyMs.p999 <= summary.latencyMs.max);
  } finally {
    await echo.close();
  }
});

test('rate-paced load sends about the asked rate and counts every ack', async () => {
  const echo = await startEchoServer('127.0.0.1:0');
  try {
    const summary = await runLoad(options({ target: `127.0.0.1:${echo.port}`, cars: 4, rate: 200, durationSec: 1 }));
    // 200 msg/s for about one second; generous bounds, this is not a timing test.
    assert.ok(summary.sent >= 100 && summary.sent <= 400, `sent ${summary.sent}`);
    assert.is(summary.acked, summary.sent);
    assert.is(summary.rate, 200);
  } finally {
    await echo.close();
  }
});

test('warm-up: its messages are sent and acknowledged but counted apart from the measured ones', async () => {
  const echo = await startEchoServer('127.0.0.1:0');
  try {
    const summary = await runLoad(options({ target: `127.0.0.1:${echo.port}`, cars: 4, rate: 200, warmupSec: 1, durationSec: 1 }));
    // About 200 messages in each second; generous bounds, this is not a timing test.
    assert.ok(summary.warmupAcked >= 100 && summary.warmupAcked <= 300, `warm-up acked ${summary.warmupAcked}`);
    assert.ok(summary.acked >= 100 && summary.acked <= 300, `measured acked ${summary.acked}`);
    assert.is(summary.acked + summary.warmupAcked, summary.sent);
    assert.is(summary.failed, 0);
    assert.is(summary.warmupSec, 1);
    assert.is(echo.acked(), summary.sent);
    // The measured seconds exclude the warm-up.
    assert.ok(summary.durationSec >= 0.9 && summary.durationSec < 2, `measured ${summary.durationSec} s`);
  } finally {
    await echo.close();
  }
});

test('nothing listening: messages are counted as failed, none acknowledged', async () => {
  const summary = await runLoad(options({ target: '127.0.0.1:1', cars: 2, threads: 1, channels: 1, durationSec: 0.3, drainMs: 200 }));
  assert.is(summary.acked, 0);
  assert.ok(summary.sent > 0);
  assert.is(summary.failed, summary.sent);
});

test.run();
