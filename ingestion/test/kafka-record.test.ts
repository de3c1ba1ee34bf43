import { createRequire } from 'node:module';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { agrees, fastRecordEncoder, installFastRecordEncoder, type RecordInput } from '../src/kafka-record.js';

const require = createRequire(import.meta.url);
const RECORD = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const original = require(RECORD) as Parameters<typeof fastRecordEncoder>[0];
const fast = fastRecordEncoder(original);

test('byte for byte what kafkajs writes, over the varint boundaries and every kind of key and value', () => {
  const records: RecordInput[] = [];
  const deltas = [0, 1, 63, 64, 8191, 8192, 1_048_575, 1_048_576, 2 ** 31 - 1, 2 ** 31, 2 ** 40 + 3, -1, -64, -65, -(2 ** 35)];
  const offsets = [0, 1, 63, 64, 127, 128, 8191, 8192, 65_535, 1_000_000];
  const values = [null, '', 'a', 'é⚡東京🚗', 'x'.repeat(63), 'x'.repeat(64), 'x'.repeat(8192), Buffer.from([0, 1, 2, 255]), Buffer.alloc(0)];
  for (const timestampDelta of deltas) for (const offsetDelta of offsets) records.push({ timestampDelta, offsetDelta, key: 'CAR-1', value: '{"a":1}' });
  for (const key of values) for (const value of values) records.push({ offsetDelta: 5, timestampDelta: 9, key, value });
  records.push({ key: 'defaults only' });
  for (const r of records) assert.equal([...fast(r).buffer], [...original(r).buffer], JSON.stringify({ ...r, value: String(r.value).slice(0, 20) }));
});

test('a record with headers is left to kafkajs', () => {
  const r = { offsetDelta: 2, timestampDelta: 3, key: 'k', value: 'v', headers: { reason: 'x', multi: ['a', 'b'] } };
  assert.ok(fast(r).buffer.equals(original(r).buffer));
  assert.ok(agrees(original, fast));
});

test('installed in place of kafkajs record module, which kafkajs then loads', () => {
  assert.is(installFastRecordEncoder(), undefined);
  const installed = require(RECORD) as typeof original;
  assert.is.not(installed, original);
  assert.ok(agrees(original, installed));
});

test.run();
