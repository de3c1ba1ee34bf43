/**
 * grpc-js writes its own diagnostics to the console, outside pino, and some carry what a caller
 * sent: a metadata value it refused is logged in full ("Failed to add metadata entry
 * authorization: Bearer eyJ..."), which would put a car's token in the log. This sends them
 * through the program's pino logger instead (its redaction and scrubbing apply), with the value
 * of a refused metadata entry dropped.
 */
import { format } from 'node:util';
import { setLogger } from '@grpc/grpc-js';
import type { Logger } from './logger.js';

const METADATA_ENTRY = /^(Failed to add metadata entry [^:\s]*):/;

/**
 * A grpc-js diagnostic line without any metadata value it quoted: after the key of a refused
 * entry, both the value and grpc-js's error (which quotes the value again) go.
 */
export function withoutMetadataValues(line: string): string {
  const match = METADATA_ENTRY.exec(line);
  if (match === null) return line;
  return `${match[1]}: [redacted] (not a valid header value; the call goes on without it)`;
}

export function routeGrpcLogs(log: Logger): void {
  const child = log.child({ component: 'grpc-js' });
  const write = (level: 'warn' | 'info' | 'debug') => (...args: unknown[]) => child[level](withoutMetadataValues(format(...args)));
  setLogger({ error: write('warn'), info: write('info'), debug: write('debug') } as unknown as Console);
}
