import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Histogram, Registry } from 'prom-client';
import { HotHistogram } from '../src/hot-histogram.js';

const BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

test('/metrics shows it exactly as prom-client shows its own Histogram, for the same observations', async () => {
  const ours = new Registry();
  const theirs = new Registry();
  const hot = new HotHistogram('x_seconds', 'Some latency', BUCKETS, [ours]);
  const reference = new Histogram({ name: 'x_seconds', help: 'Some latency', buckets: BUCKETS, registers: [theirs] });
  assert.is(await ours.metrics(), await theirs.metrics(), 'before any observation');
  let seed = 7;
  // Bounds themselves (le is inclusive), values between, above every bound, zero and tiny ones.
  const values = [...BUCKETS, 0, 1e-9, 11, 1e6, ...Array.from({ length: 2000 }, () => ((seed = (seed * 48271) % 2147483647) / 2147483647) ** 3 * 3)];
  for (const v of values) {
    hot.observe(v);
    reference.observe(v);
  }
  assert.is(await ours.metrics(), await theirs.metrics());
  assert.is(JSON.stringify(await ours.getMetricsAsJSON()), JSON.stringify(await theirs.getMetricsAsJSON()));
  ours.resetMetrics();
  theirs.resetMetrics();
  assert.is(await ours.metrics(), await theirs.metrics(), 'after a reset');
  hot.observe(0.003);
  reference.observe(0.003);
  assert.is(await ours.metrics(), await theirs.metrics(), 'after a reset and an observation');
});

test('its figures: a value on a bound counts in that bound, and every bucket is cumulative', async () => {
  const registry = new Registry();
  const hot = new HotHistogram('y', 'y', [1, 2], [registry]);
  for (const v of [0.5, 1, 1.5, 2, 3]) hot.observe(v);
  const text = await registry.metrics();
  assert.match(text, 'y_bucket{le="1"} 2\n');
  assert.match(text, 'y_bucket{le="2"} 4\n');
  assert.match(text, 'y_bucket{le="+Inf"} 5\n');
  assert.match(text, 'y_sum 8\n');
  assert.match(text, 'y_count 5\n');
});

test.run();
