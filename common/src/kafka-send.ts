/**
 * A produce that resolves only once every message is written. kafkajs 2.2.4's send() can resolve
 * without writing some of them: it keeps each broker's answer across its retries, and when the
 * partitions of a broker that failed mid-request move to brokers that had already answered for
 * their own partitions, the retry finds nothing left to send (chaos/kafkajs-leader-loss.mjs shows
 * it: every kill -9 of a leading node lost the request in flight to it, though acknowledged).
 *
 * So the partitioner records which partition it gave each message, and after send() the messages
 * whose partition is missing from the answer are sent again, until none is. They were not written
 * (their request failed, and kafkajs rolled back their idempotence sequence), so sending them again
 * repeats nothing; a car's events stay in order, as they all go to one partition.
 */
import { Partitioners, type ICustomPartitioner, type Kafka, type Message, type Producer, type ProducerConfig, type ProducerRecord, type RecordMetadata } from 'kafkajs';

export interface PartitionTracker {
  /** For `kafka.producer({ createPartitioner })`: `base` decides, the tracker remembers. */
  createPartitioner: ICustomPartitioner;
  partitionOf(message: Message): number | undefined;
}

export function trackPartitions(base: ICustomPartitioner = Partitioners.DefaultPartitioner): PartitionTracker {
  // Kept on the message itself, under a symbol of this tracker's own: a WeakMap entry per message
  // cost about 3 times as much, 0.3 against 0.1 µs a message (ingestion/bench/partition-tracking.mjs).
  const slot = Symbol('partition');
  type Tracked = Message & { [slot]?: number };
  return {
    createPartitioner: () => {
      const decide = base();
      return (args) => {
        const partition = decide(args);
        (args.message as Tracked)[slot] = partition;
        return partition;
      };
    },
    partitionOf: (message) => (message as Tracked)[slot],
  };
}

/** send(), then again for the messages of every partition the answer lacks; returns every partition's metadata. */
export async function sendCompletely(
  producer: Pick<Producer, 'send'>,
  record: ProducerRecord,
  tracker: PartitionTracker,
  onResend: (messages: number, partitions: number[]) => void = () => {},
): Promise<RecordMetadata[]> {
  const answers: RecordMetadata[] = [];
  let pending = record.messages;
  for (;;) {
    const written = await producer.send({ ...record, messages: pending });
    answers.push(...written);
    const partitions = new Set(written.filter((r) => r.topicName === record.topic).map((r) => r.partition));
    const lost = pending.filter((m) => !partitions.has(tracker.partitionOf(m) ?? -1));
    if (lost.length === 0) return answers;
    onResend(lost.length, [...new Set(lost.map((m) => tracker.partitionOf(m) ?? -1))].sort((a, b) => a - b));
    pending = lost;
  }
}

/** A kafkajs producer whose send() is sendCompletely: for the services that use send() as it is. */
export function completeProducer(kafka: Kafka, config: ProducerConfig = {}): Producer {
  const tracker = trackPartitions(config.createPartitioner ?? Partitioners.DefaultPartitioner);
  const producer = kafka.producer({ ...config, createPartitioner: tracker.createPartitioner });
  const send = producer.send.bind(producer);
  return { ...producer, send: (record) => sendCompletely({ send }, record, tracker) };
}
