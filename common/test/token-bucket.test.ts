import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TokenBuckets } from '../src/token-bucket.js';

test('a key spends its burst at once, then its rate; other keys are unaffected', () => {
  let now = 0;
  const buckets = new TokenBuckets({ ratePerSecond: 10, burst: 5 }, () => now);
  for (let i = 0; i < 5; i++) assert.ok(buckets.take('CAR-001').ok);
  const refused = buckets.take('CAR-001');
  assert.is(refused.ok, false);
  if (!refused.ok) assert.is(refused.retryAfterMs, 100);
  assert.ok(buckets.take('CAR-002').ok);
  now = 100;
  assert.ok(buckets.take('CAR-001').ok);
  assert.is(buckets.take('CAR-001').ok, false);
});

test('rate 0 is unlimited, and idle keys are forgotten', () => {
  let now = 0;
  assert.ok(new TokenBuckets({ ratePerSecond: 0, burst: 0 }).take('x').ok);
  const buckets = new TokenBuckets({ ratePerSecond: 100, burst: 10 }, () => now);
  buckets.take('a');
  buckets.take('b');
  assert.is(buckets.size, 2);
  now = 20_000;
  buckets.take('c');
  assert.is(buckets.size, 1);
});

test.run();
