/**
 * The piscina task: one whole Kafka batch in (packed values), its charging samples and poison out.
 * Runs on a worker thread so JSON parsing, validation and hashing never block the main thread's I/O.
 */
import { decodeBatch, type DecodedBatch } from './decode.js';

export interface DecodeTask {
  buf: Uint8Array;
  lengths: Int32Array;
}

export default function decode(task: DecodeTask): DecodedBatch {
  return decodeBatch(task.buf, task.lengths);
}
