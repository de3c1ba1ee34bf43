/**
 * Unsigned base-128 varints (protobuf's and Kafka's), for the hand-written encoders of the hot path
 * (ack-encoding.ts, kafka-codec.ts). Exact for every integer up to 2^53, where 32-bit shifts would not be.
 */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes `n` at `at`; returns where it ends. */
export function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}
