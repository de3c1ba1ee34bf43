/**
 * A one-pass stand-in for kafkajs's produce request (`requests/produce/v3/request`, whose encoding
 * v4 to v7 reuse), byte for byte what kafkajs writes for uncompressed records without headers.
 *
 * Why: kafkajs builds the request from nested Encoders. Each record goes through a spread of its
 * message into a new object, its own buffer, then is copied into the batch, the batch into the
 * partition, the partition into the topic and the topic into the request, each Encoder zero-filled
 * and grown by doubling. Measured in isolation (bench/kafka-encode.mjs) that assembly cost more per
 * event than encoding the records. Here the whole body is measured first and written into one
 * buffer of its exact size. Anything else (compression, headers, an empty partition) is left to
 * kafkajs's own encoder, as is everything when the self-check at start finds a difference.
 */
import { createRequire } from 'node:module';
import { crc32c, hasHeaders, measureRecord, writeRecord, type Bytes, type RecordLayout } from './kafka-codec.js';

/** kafkajs's 64-bit integer: what its Encoder.writeInt64 writes. */
interface KafkaLong {
  getHighBits(): number;
  getLowBits(): number;
}
interface LongModule {
  fromValue(value: unknown): KafkaLong;
  fromInt(value: number): KafkaLong;
}
/** kafkajs's Encoder, as far as a request's caller uses it. */
interface EncoderLike {
  buf: Buffer;
  offset: number;
}
type EncoderClass = new (initialSize?: number) => EncoderLike;

export interface ProduceMessage {
  key?: Bytes;
  value?: Bytes;
  timestamp?: number | string | null;
  headers?: Record<string, unknown>;
}
export interface ProducePartition {
  partition: number;
  firstSequence?: number;
  messages: ProduceMessage[];
}
export interface ProduceTopic {
  topic: string;
  partitions: ProducePartition[];
}
export interface ProduceArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: ProduceTopic[];
}
export interface ProduceRequest {
  apiKey: number;
  apiVersion: number;
  apiName: string;
  expectResponse: () => boolean;
  encode: () => Promise<EncoderLike>;
}
export type ProduceRequestModule = (args: ProduceArgs) => ProduceRequest;

const require = createRequire(import.meta.url);
const Long = require('kafkajs/src/utils/long') as LongModule;
const Encoder = require('kafkajs/src/protocol/encoder') as EncoderClass;

const MAGIC_BYTE = 2;
const TRANSACTIONAL_MASK = 16;
/** partition, record set size, first offset, batch length, leader epoch, magic, CRC. */
const PARTITION_HEAD = 4 + 4 + 8 + 4 + 4 + 1 + 4;
/** attributes, last offset delta, first and max timestamp, producer id and epoch, first sequence, record count. */
const BATCH_BODY_HEAD = 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4;

/** What only kafkajs's own encoder writes. */
export function needsKafkajs(args: ProduceArgs): boolean {
  if ((args.compression ?? 0) !== 0) return true;
  for (const { partitions } of args.topicData) {
    for (const { messages } of partitions) {
      if (messages.length === 0) return true;
      for (const m of messages) if (hasHeaders(m.headers)) return true;
    }
  }
  return false;
}

/** A partition's batch, measured: its timestamps (as kafkajs picks them) and each record's layout. */
interface PartitionPlan {
  firstTimestamp: number | string;
  maxTimestamp: number | string;
  records: RecordLayout[];
  recordBytes: number;
}

function planPartition(messages: ProduceMessage[], dateNow: number): PartitionPlan {
  // kafkajs's choice, kept exactly: the timestamps given, sorted as strings; none given, now.
  let firstTimestamp: number | string = dateNow;
  let maxTimestamp: number | string = dateNow;
  if (messages.some((m) => m.timestamp != null)) {
    const given = messages.map((m) => m.timestamp).filter((t): t is number | string => t != null).sort();
    firstTimestamp = given[0]!;
    maxTimestamp = given[given.length - 1]!;
  }
  const records: RecordLayout[] = new Array(messages.length);
  let recordBytes = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const delta = ((m.timestamp || dateNow) as number) - (firstTimestamp as number);
    const layout = measureRecord(m.key, m.value, i, delta);
    records[i] = layout;
    recordBytes += layout.size;
  }
  return { firstTimestamp, maxTimestamp, records, recordBytes };
}

function writeInt64(buf: Buffer, at: number, value: unknown): number {
  const long = Long.fromValue(value);
  buf.writeInt32BE(long.getHighBits(), at);
  buf.writeInt32BE(long.getLowBits(), at + 4);
  return at + 8;
}

/** The request body kafkajs's produce v3 encoder writes, in one buffer. */
export function encodeProduceBody(args: ProduceArgs): Buffer {
  const { acks, timeout, transactionalId = null, producerId = Long.fromInt(-1), producerEpoch = 0, topicData } = args;
  const dateNow = Date.now();
  const plans: PartitionPlan[][] = [];
  let size = 2 + (transactionalId === null ? 0 : Buffer.byteLength(transactionalId)) + 2 + 4 + 4;
  for (const { topic, partitions } of topicData) {
    const topicPlans: PartitionPlan[] = [];
    size += 2 + Buffer.byteLength(topic) + 4;
    for (const { messages } of partitions) {
      const plan = planPartition(messages, dateNow);
      topicPlans.push(plan);
      size += PARTITION_HEAD + BATCH_BODY_HEAD + plan.recordBytes;
    }
    plans.push(topicPlans);
  }

  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  if (transactionalId === null) at = buf.writeInt16BE(-1, at);
  else {
    at = buf.writeInt16BE(Buffer.byteLength(transactionalId), at);
    at += buf.write(transactionalId, at, 'utf8');
  }
  at = buf.writeInt16BE(acks, at);
  at = buf.writeInt32BE(timeout, at);
  at = buf.writeInt32BE(topicData.length, at);
  const attributes = transactionalId ? TRANSACTIONAL_MASK : 0;
  topicData.forEach(({ topic, partitions }, t) => {
    at = buf.writeInt16BE(Buffer.byteLength(topic), at);
    at += buf.write(topic, at, 'utf8');
    at = buf.writeInt32BE(partitions.length, at);
    partitions.forEach(({ partition, firstSequence = 0, messages }, p) => {
      const plan = plans[t]![p]!;
      const batchBody = BATCH_BODY_HEAD + plan.recordBytes;
      const batch = 4 + 1 + 4 + batchBody;
      at = buf.writeInt32BE(partition, at);
      at = buf.writeInt32BE(8 + 4 + batch, at); // the record set: first offset, the batch as bytes
      at = writeInt64(buf, at, 0);
      at = buf.writeInt32BE(batch, at);
      at = buf.writeInt32BE(0, at); // partition leader epoch
      at = buf.writeInt8(MAGIC_BYTE, at);
      const crcAt = at;
      at += 4;
      const bodyAt = at;
      at = buf.writeInt16BE(attributes, at);
      at = buf.writeInt32BE(messages.length - 1, at); // last offset delta
      at = writeInt64(buf, at, plan.firstTimestamp);
      at = writeInt64(buf, at, plan.maxTimestamp);
      at = writeInt64(buf, at, producerId);
      at = buf.writeInt16BE(producerEpoch, at);
      at = buf.writeInt32BE(firstSequence, at);
      at = buf.writeInt32BE(messages.length, at);
      for (let i = 0; i < messages.length; i++) at = writeRecord(buf, at, messages[i]!.key, messages[i]!.value, plan.records[i]!);
      buf.writeUInt32BE(crc32c(buf.subarray(bodyAt, at)), crcAt);
    });
  });
  if (at !== size) throw new Error(`produce request measured ${size} bytes but wrote ${at}`);
  return buf;
}

/** kafkajs's produce request module, with its encode done in one pass wherever it can be. */
export function fastProduceRequest(original: ProduceRequestModule): ProduceRequestModule {
  return (args) => {
    const request = original(args);
    if (needsKafkajs(args)) return request;
    return {
      ...request,
      encode: async () => {
        // An Encoder of kafkajs's own, so its caller (the request header's writeEncoder) takes it as one.
        const body = encodeProduceBody(args);
        const encoder = new Encoder(0);
        encoder.buf = body;
        encoder.offset = body.length;
        return encoder;
      },
    };
  };
}

/** Requests both encoders must agree on before the fast one is used: every field and edge it writes. */
export function sampleProduceArgs(): ProduceArgs[] {
  const value = '{"event_id":"9f86d081884c7d659a2feaa0c55ad015","event_type":"telemetry","car_id":"CAR-1","lat":40.75}';
  const messages = (n: number, p: number): ProduceMessage[] => Array.from({ length: n }, (_, i) => ({ key: `CAR-${p}-${i}`, value }));
  return [
    { acks: -1, timeout: 30_000, topicData: [{ topic: 'fleet-events', partitions: [{ partition: 0, messages: messages(1, 0) }] }] },
    {
      acks: 1, timeout: 5000, producerId: Long.fromValue('123456789012'), producerEpoch: 7,
      topicData: [
        { topic: 'fleet-events', partitions: [0, 3, 5].map((p) => ({ partition: p, firstSequence: p * 100, messages: messages(40 + p, p) })) },
        { topic: 'tópico-ü', partitions: [{ partition: 2, messages: [{ key: null, value: 'é ⚡ 東京' }, { key: Buffer.from([1, 2, 3]), value: Buffer.alloc(0) }, { key: '', value: null }] }] },
      ],
    },
    {
      acks: -1, timeout: 1000, transactionalId: 'tx-1', producerId: Long.fromInt(42), producerEpoch: 1,
      topicData: [{ topic: 't', partitions: [{ partition: 1, messages: [{ key: 'a', value: 'x'.repeat(20_000), timestamp: 1_700_000_000_500 }, { key: 'b', value: 'y', timestamp: 1_700_000_000_123 }, { key: 'c', value: 'z' }] }] }],
    },
    { acks: -1, timeout: 30_000, topicData: [{ topic: 'fleet-events', partitions: [{ partition: 4, messages: messages(300, 4) }] }] },
  ];
}

/** True when `fast` encodes every sample request exactly as `original` does (the clock held still for both). */
export async function produceRequestsAgree(original: ProduceRequestModule, fast: ProduceRequestModule, samples = sampleProduceArgs()): Promise<boolean> {
  const now = Date.now;
  const fixed = now();
  Date.now = () => fixed;
  try {
    for (const args of samples) {
      const a = await original(args).encode();
      const b = await fast(args).encode();
      if (!a.buf.subarray(0, a.offset).equals(b.buf.subarray(0, b.offset))) return false;
    }
    return true;
  } finally {
    Date.now = now;
  }
}
