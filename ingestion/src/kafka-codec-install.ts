/**
 * Puts the faster encoders of kafka-codec.ts and kafka-produce-request.ts in place of kafkajs's own
 * modules, each only after a self-check shows it writes exactly what kafkajs's writes on samples.
 * kafkajs stays the client: it loads these modules lazily, on the first produce, and then finds the
 * replacements in the require cache.
 */
import { createRequire } from 'node:module';
import { agrees, crc32c, fastRecordEncoder, SAMPLE_BUFFERS, type RecordEncoder } from './kafka-codec.js';
import { fastProduceRequest, produceRequestsAgree, type ProduceRequestModule } from './kafka-produce-request.js';

export const RECORD_MODULE = 'kafkajs/src/protocol/recordBatch/record/v0/index.js';
export const CRC32C_MODULE = 'kafkajs/src/protocol/recordBatch/crc32C/index.js';
export const PRODUCE_REQUEST_MODULE = 'kafkajs/src/protocol/requests/produce/v3/request.js';

const require = createRequire(import.meta.url);

/** Puts `make(original)` in place of a kafkajs module if `agree(original, replacement)`; else says why not. */
async function replaceModule<T>(name: string, make: (original: T) => T, agree: (original: T, replacement: T) => boolean | Promise<boolean>): Promise<string | undefined> {
  try {
    const path = require.resolve(name);
    const original = require(path) as T;
    const replacement = make(original);
    if (!(await agree(original, replacement))) return `${name}: this kafkajs computes it differently; keeping its own`;
    const cached = require.cache[path];
    if (cached === undefined) return `${name}: not in the require cache`;
    cached.exports = replacement;
    return undefined;
  } catch (error) {
    return `${name}: not found (${(error as Error).message}); keeping kafkajs's own`;
  }
}

/**
 * The fast record encoder, CRC and produce request in place of kafkajs's, before kafkajs first
 * loads them (on the first produce). The record encoder and CRC go first: kafkajs's own produce
 * request, which the self-check compares with, then uses them too. Returns what could not be
 * replaced, and why.
 */
export async function installFastKafkaCodec(): Promise<string[]> {
  const problems = [
    await replaceModule<RecordEncoder>(RECORD_MODULE, fastRecordEncoder, (original, fast) => agrees(original, fast)),
    await replaceModule<(buf: Buffer) => number>(CRC32C_MODULE, () => crc32c, (original, fast) => SAMPLE_BUFFERS.every((b) => original(b) === fast(b))),
    await replaceModule<ProduceRequestModule>(PRODUCE_REQUEST_MODULE, fastProduceRequest, produceRequestsAgree),
  ];
  return problems.filter((p): p is string => p !== undefined);
}
