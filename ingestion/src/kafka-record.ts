/**
 * A faster encoder for kafkajs's Record (the v2 record format inside a record batch), byte for
 * byte what kafkajs's own `recordBatch/record/v0` writes.
 *
 * Why: encoding a produce request costs kafkajs about 8.7 µs per 180-byte event (measured in
 * isolation, bench/kafka-encode.mjs), as much as the gRPC transport of the message: every record
 * gets its own zero-filled 512-byte Encoder, and every varint a Buffer.from of a temporary array
 * and 64-bit Long arithmetic. Here a record is one exact-size allocation (from Node's buffer pool)
 * written in place. kafkajs stays the client; only this module of it is replaced, when the
 * storage thread starts, and only after a self-check shows both encoders agree on sample records
 * (a kafkajs that encodes records differently keeps its own encoder).
 */
import { createRequire } from 'node:module';

type Bytes = Buffer | string | null | undefined;

export interface RecordInput {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: Bytes;
  value?: Bytes;
  headers?: Record<string, unknown>;
}

/** What kafkajs's record batch needs of a record: an Encoder-like `buf` and its `buffer`. */
export interface EncodedRecord {
  buf: Buffer;
  buffer: Buffer;
}

type RecordEncoder = (record: RecordInput) => EncodedRecord;

/** Kafka's zig-zag varint of a 32-bit value, as kafkajs writes it. */
function zigZag32(value: number): number {
  return ((value << 1) ^ (value >> 31)) >>> 0;
}

/** Zig-zag of a 64-bit value, exact for |value| < 2^52 (every millisecond delta). */
function zigZag64(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

function uvarintSize(u: number): number {
  let size = 1;
  while (u >= 0x80) {
    u = Math.floor(u / 128);
    size++;
  }
  return size;
}

function writeUvarint(buf: Buffer, at: number, u: number): number {
  while (u >= 0x80) {
    buf[at++] = (u % 128) | 0x80;
    u = Math.floor(u / 128);
  }
  buf[at++] = u;
  return at;
}

function byteLength(value: Bytes): number {
  if (value == null) return -1;
  return Buffer.isBuffer(value) ? value.length : Buffer.byteLength(String(value), 'utf8');
}

function writeBytes(buf: Buffer, at: number, value: Bytes, length: number): number {
  at = writeUvarint(buf, at, zigZag32(length));
  if (length <= 0) return at;
  if (Buffer.isBuffer(value)) value.copy(buf, at);
  else buf.write(String(value), at, length, 'utf8');
  return at + length;
}

/** The fast encoder; a record with headers goes to kafkajs's own (GreenLane's never have any). */
export function fastRecordEncoder(original: RecordEncoder): RecordEncoder {
  return (record) => {
    if (record.headers !== undefined && Object.keys(record.headers).length > 0) return original(record);
    const { offsetDelta = 0, timestampDelta = 0, key, value } = record;
    const keyLength = byteLength(key);
    const valueLength = byteLength(value);
    const timestamp = zigZag64(timestampDelta);
    const offset = zigZag32(offsetDelta);
    const keyHeader = zigZag32(keyLength);
    const valueHeader = zigZag32(valueLength);
    const body =
      1 + uvarintSize(timestamp) + uvarintSize(offset) +
      uvarintSize(keyHeader) + Math.max(0, keyLength) +
      uvarintSize(valueHeader) + Math.max(0, valueLength) +
      1; // no headers: a varint 0
    const length = zigZag32(body);
    const buf = Buffer.allocUnsafe(uvarintSize(length) + body);
    let at = writeUvarint(buf, 0, length);
    buf[at++] = 0; // attributes
    at = writeUvarint(buf, at, timestamp);
    at = writeUvarint(buf, at, offset);
    at = writeBytes(buf, at, key, keyLength);
    at = writeBytes(buf, at, value, valueLength);
    buf[at++] = 0; // header count
    return { buf, buffer: buf };
  };
}

/** Records both encoders must agree on before the fast one is used. */
export const SAMPLE_RECORDS: RecordInput[] = [
  { offsetDelta: 0, timestampDelta: 0, key: 'CAR-001', value: '{"event_id":"x","car_id":"CAR-001","lat":40.7,"battery":85.3}' },
  { offsetDelta: 63, timestampDelta: 64, key: Buffer.from('CAR-002'), value: Buffer.from('é ⚡ 東京') },
  { offsetDelta: 300, timestampDelta: 1_700_000_000_123, key: null, value: 'v'.repeat(200) },
  { offsetDelta: 70_000, timestampDelta: -5, key: '', value: null },
  { offsetDelta: 1, timestampDelta: 2 ** 40 + 7, key: 'k', value: 'x'.repeat(20_000) },
];

/** True when `candidate` writes exactly what `original` writes for every sample record. */
export function agrees(original: RecordEncoder, candidate: RecordEncoder, samples: RecordInput[] = SAMPLE_RECORDS): boolean {
  return samples.every((r) => original(r).buffer.equals(candidate(r).buffer));
}

const RECORD_MODULE = 'kafkajs/src/protocol/recordBatch/record/v0/index.js';

/**
 * Puts the fast encoder in place of kafkajs's record module, before kafkajs first loads its produce
 * request (it does so lazily, on the first produce). Returns why not, when it is not installed.
 */
export function installFastRecordEncoder(): string | undefined {
  const require = createRequire(import.meta.url);
  try {
    const path = require.resolve(RECORD_MODULE);
    const original = require(path) as RecordEncoder;
    const fast = fastRecordEncoder(original);
    if (!agrees(original, fast)) return 'this kafkajs encodes records differently; keeping its own encoder';
    const cached = require.cache[path];
    if (cached === undefined) return 'kafkajs record module not in the require cache';
    cached.exports = fast;
    return undefined;
  } catch (error) {
    return `kafkajs record module not found (${(error as Error).message}); keeping its own encoder`;
  }
}
