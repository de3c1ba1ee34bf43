// First, as in the storage thread: before anything loads kafkajs.
import { GROUPING_MODULE, groupingProblem, groupingsAgree, groupMessagesPerPartition } from '../src/kafka-grouping-preload.js';
import { createRequire } from 'node:module';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Kafka, Partitioners } from 'kafkajs';

const require = createRequire(import.meta.url);

test('installed before kafkajs loaded its producer, which then finds it', () => {
  assert.is(groupingProblem, undefined);
  assert.ok(new Kafka({ brokers: ['127.0.0.1:1'] }).producer({ createPartitioner: Partitioners.DefaultPartitioner })); // kafkajs loads its producer modules
  assert.is(require(require.resolve(GROUPING_MODULE)), groupMessagesPerPartition);
});

test('groups as kafkajs does: each partition its messages in order, under its number', () => {
  // kafkajs's own, loaded afresh beside the installed one.
  const path = require.resolve(GROUPING_MODULE);
  const installed = require.cache[path]!;
  delete require.cache[path];
  const original = require(path);
  require.cache[path] = installed;
  assert.is.not(original, groupMessagesPerPartition);
  assert.ok(groupingsAgree(original, groupMessagesPerPartition));
  const messages = ['a', 'b', 'c', 'd', 'e'].map((key) => ({ key }));
  const byLetter = ({ message }: { message: { key: string } }) => (message.key.charCodeAt(0) % 2 === 0 ? 4 : 1);
  assert.equal(groupMessagesPerPartition({ topic: 't', partitionMetadata: [0, 1, 2, 3, 4], messages, partitioner: byLetter }), {
    1: [messages[0], messages[2], messages[4]],
    4: [messages[1], messages[3]],
  });
  assert.equal(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner: byLetter }), {});
});

test('a grouping that differs from kafkajs is told apart', () => {
  const reversed: typeof groupMessagesPerPartition = (args) => {
    const out = groupMessagesPerPartition(args);
    for (const k of Object.keys(out)) out[Number(k)]!.reverse();
    return out;
  };
  assert.not.ok(groupingsAgree(groupMessagesPerPartition, reversed));
});

test.run();
