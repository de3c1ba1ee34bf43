import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Message, PartitionerArgs, ProducerRecord, RecordMetadata } from 'kafkajs';
import { sendCompletely, trackPartitions } from '../src/kafka-send.js';

/** A partitioner by the key's last digit, over 3 partitions. */
const byLastDigit = () => (args: PartitionerArgs) => Number(String(args.message.key).slice(-1)) % 3;

/** What kafkajs's send does, for the logic above it: partitions each message, answers for `answering(attempt)`. */
function sender(partition: (args: PartitionerArgs) => number, answering: (attempt: number) => number[]) {
  const sent: string[][] = [];
  return {
    sent,
    send: async (record: ProducerRecord): Promise<RecordMetadata[]> => {
      for (const message of record.messages) partition({ topic: record.topic, partitionMetadata: [], message });
      sent.push(record.messages.map((m) => String(m.key)));
      return answering(sent.length).map((p) => ({ topicName: record.topic, partition: p, errorCode: 0 }));
    },
  };
}

test('the tracker remembers the partition it gave each message, and no other tracker sees it', () => {
  const a = trackPartitions(byLastDigit);
  const b = trackPartitions(byLastDigit);
  const message: Message = { key: 'CAR-5', value: '{}' };
  assert.is(a.partitionOf(message), undefined);
  assert.is(a.createPartitioner()({ topic: 't', partitionMetadata: [], message }), 2);
  assert.is(a.partitionOf(message), 2);
  assert.is(b.partitionOf(message), undefined);
});

test('messages of a partition missing from the answer are sent again, in order, until every one is answered', async () => {
  const tracker = trackPartitions(byLastDigit);
  // The first answer lacks partition 1 (a broker that failed mid-request); the second has it.
  const producer = sender(tracker.createPartitioner(), (attempt) => (attempt === 1 ? [0, 2] : [1]));
  const messages = ['CAR-1', 'CAR-2', 'CAR-3', 'CAR-4', 'CAR-7'].map((key) => ({ key, value: '{}' }));
  const resent: Array<[number, number[]]> = [];
  const answers = await sendCompletely(producer, { topic: 't', messages }, tracker, (n, partitions) => resent.push([n, partitions]));
  assert.equal(producer.sent, [['CAR-1', 'CAR-2', 'CAR-3', 'CAR-4', 'CAR-7'], ['CAR-1', 'CAR-4', 'CAR-7']]);
  assert.equal(resent, [[3, [1]]]);
  assert.equal(answers.map((r) => r.partition).sort(), [0, 1, 2]);
});

test.run();
