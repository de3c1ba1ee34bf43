import { createRequire } from 'node:module';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Partitioners } from 'kafkajs';
import { FastDefaultPartitioner, murmur2 } from '../src/kafka-partitioner.js';

const require = createRequire(import.meta.url);
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer | string) => number;

const keys: Array<string | Buffer> = ['', 'a', 'ab', 'abc', 'abcd', 'abcde', 'CAR-001', 'LOAD-00042', 'é⚡東京', 'X'.repeat(64), Buffer.from([0, 255, 128, 7, 1])];
for (let i = 0; i < 3000; i++) keys.push(`CAR-${i}-${(i * 2654435761) % 1e9}`);

test('murmur2 equals kafkajs\'s (the Java client\'s) for every key', () => {
  for (const key of keys) assert.is(murmur2(key), kafkajsMurmur2(key), String(key));
});

test('the same partition as kafkajs\'s DefaultPartitioner, whatever the partition count; an explicit partition wins', () => {
  const ours = FastDefaultPartitioner();
  const theirs = Partitioners.DefaultPartitioner();
  for (const n of [1, 3, 6, 12, 100]) {
    const partitionMetadata = Array.from({ length: n }, (_, p) => ({ partitionId: p, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
    for (const key of keys) {
      const args = { topic: 'fleet-events', partitionMetadata, message: { key, value: 'v' } };
      assert.is(ours(args), theirs(args));
    }
    assert.is(ours({ topic: 'fleet-events', partitionMetadata, message: { key: 'k', value: 'v', partition: n - 1 } }), n - 1);
  }
});

test.run();
