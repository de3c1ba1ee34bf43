/**
 * --acked-log: one line per CarStatus the server acknowledged, `car_id timestamp acked_at_ms`, so a
 * checker can prove each of them reached the topic (car and timestamp name a CarStatus) and see
 * when acknowledgements stopped and resumed around a fault.
 */
import { createWriteStream } from 'node:fs';
import type { CarStatus } from '@greenlane/common/gen/fleet/fleet';

export interface AckedLog {
  record(status: CarStatus): void;
  /** Flushes and closes the file. */
  close(): Promise<void>;
}

export function ackedLine(status: CarStatus, ackedAtMs: number): string {
  return `${status.carId} ${status.timestamp} ${ackedAtMs}\n`;
}

export function openAckedLog(path: string): AckedLog {
  const out = createWriteStream(path, { flags: 'a' });
  // Lines are buffered and written in chunks: one write per ack would cost a syscall each.
  let buffered = '';
  const flush = () => {
    if (buffered !== '') out.write(buffered);
    buffered = '';
  };
  const timer = setInterval(flush, 200);
  return {
    record(status) {
      buffered += ackedLine(status, Date.now());
      if (buffered.length >= 64 * 1024) flush();
    },
    close() {
      clearInterval(timer);
      flush();
      return new Promise((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    },
  };
}
