import { createRequire } from 'node:module';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { agrees, crc32c, fastRecordEncoder, type RecordInput } from '../src/kafka-codec.js';
import { CRC32C_MODULE, installFastKafkaCodec, PRODUCE_REQUEST_MODULE, RECORD_MODULE } from '../src/kafka-codec-install.js';
import { fastProduceRequest, needsKafkajs, produceRequestsAgree, sampleProduceArgs, type ProduceArgs, type ProduceRequestModule } from '../src/kafka-produce-request.js';

const require = createRequire(import.meta.url);
const RECORD = require.resolve(RECORD_MODULE);
const CRC = require.resolve(CRC32C_MODULE);
const originalCrc = require(CRC) as (buf: Buffer) => number;
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

test('the CRC-32C kafkajs computes, over every length and the standard check value', () => {
  assert.is(crc32c(Buffer.from('123456789')), 0xe3069283);
  let seed = 1;
  for (let n = 0; n < 600; n++) {
    const buf = Buffer.alloc(n);
    for (let i = 0; i < n; i++) buf[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    assert.is(crc32c(buf), originalCrc(buf), `length ${n}`);
  }
});

const PRODUCE = require.resolve(PRODUCE_REQUEST_MODULE);
const originalProduce = require(PRODUCE) as ProduceRequestModule;
const fastProduce = fastProduceRequest(originalProduce);

test('the produce request: byte for byte what kafkajs writes, for every sample (topics, partitions, ids, timestamps, keys)', async () => {
  assert.ok(await produceRequestsAgree(originalProduce, fastProduce));
  // Each sample alone, so that a difference names its request.
  for (const args of sampleProduceArgs()) assert.ok(await produceRequestsAgree(originalProduce, fastProduce, [args]), JSON.stringify(args).slice(0, 200));
});

test('the produce request: many partitions of many records over the varint boundaries', async () => {
  const values = ['', 'v', 'x'.repeat(63), 'x'.repeat(64), 'x'.repeat(8191), 'x'.repeat(8192), 'é⚡東京🚗'];
  const args: ProduceArgs = {
    acks: -1, timeout: 30_000,
    topicData: [{ topic: 'fleet-events', partitions: Array.from({ length: 6 }, (_, p) => ({ partition: p, messages: Array.from({ length: 130 * (p + 1) }, (_, i) => ({ key: `CAR-${i}`, value: values[i % values.length]! })) })) }],
  };
  assert.ok(await produceRequestsAgree(originalProduce, fastProduce, [args]));
});

test('compression, headers and empty partitions are left to kafkajs, and come out as kafkajs writes them', async () => {
  const base = { acks: -1, timeout: 1000 };
  const withHeaders: ProduceArgs = { ...base, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: 'k', value: 'v', headers: { a: 'b' } }] }] }] };
  const empty: ProduceArgs = { ...base, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [] }] }] };
  const gzip: ProduceArgs = { ...base, compression: 1, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: 'k', value: 'v' }] }] }] };
  for (const args of [withHeaders, empty, gzip]) {
    assert.ok(needsKafkajs(args));
    assert.ok(await produceRequestsAgree(originalProduce, fastProduce, [args]));
  }
  assert.not.ok(needsKafkajs(sampleProduceArgs()[1]!));
});

test('installed in place of kafkajs modules, which kafkajs then loads', async () => {
  assert.equal(await installFastKafkaCodec(), []);
  const installed = require(RECORD) as typeof original;
  assert.is.not(installed, original);
  assert.ok(agrees(original, installed));
  assert.is(require(CRC), crc32c);
  const installedProduce = require(PRODUCE) as ProduceRequestModule;
  assert.is.not(installedProduce, originalProduce);
  assert.ok(await produceRequestsAgree(originalProduce, installedProduce));
});

test.run();
