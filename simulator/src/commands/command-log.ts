/**
 * --command-log: one JSON line per command a car carried out, `{"command_id","car_id","type","at"}`,
 * so a checker can prove none was carried out twice and none by a car it was not for.
 */
import { createWriteStream } from 'node:fs';

export interface CarriedOut {
  commandId: string;
  /** The car that carried it out (its own id). */
  carId: string;
  type: string;
  at: number;
}

export function commandLogLine(c: CarriedOut): string {
  return JSON.stringify({ command_id: c.commandId, car_id: c.carId, type: c.type, at: c.at }) + '\n';
}

export interface CommandLog {
  /** Appends lines already formatted by commandLogLine (load mode's workers send them in chunks). */
  write(lines: string): void;
  record(c: CarriedOut): void;
  /** Flushes and closes the file. */
  close(): Promise<void>;
}

export function openCommandLog(path: string): CommandLog {
  const out = createWriteStream(path, { flags: 'a' });
  let failed: Error | undefined;
  out.on('error', (error) => (failed ??= error));
  const write = (lines: string) => {
    if (lines !== '' && failed === undefined) out.write(lines);
  };
  return {
    write,
    record: (c) => write(commandLogLine(c)),
    close: () =>
      new Promise((resolve, reject) => {
        if (failed !== undefined) return reject(failed);
        out.end((error?: Error | null) => (error ? reject(error) : resolve()));
      }),
  };
}
