import { pino, type Logger } from 'pino';

/**
 * The simulator is a command-line program whose stdout carries its results (--json summary), so
 * its logs go to stderr.
 */
export function createStderrLogger(name: string, env: Record<string, string | undefined> = process.env): Logger {
  return pino({ name, level: env.LOG_LEVEL ?? 'info', base: { service: name, pid: process.pid } }, pino.destination(2));
}
