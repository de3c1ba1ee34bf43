import { pino, type Logger } from 'pino';

export type { Logger };

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * One structured logger per program; LOG_LEVEL sets its threshold (default info). A LOG_LEVEL pino
 * does not know stops the program at once with exit code 2 and a line naming the variable: there
 * is no logger yet to say it through, and pino's own error is a stack trace that never names it.
 */
export function createLogger(name: string, env: Record<string, string | undefined> = process.env): Logger {
  const level = env.LOG_LEVEL ?? 'info';
  if (!LEVELS.includes(level)) {
    process.stderr.write(`${name}: LOG_LEVEL=${JSON.stringify(level)} is invalid: expected one of ${LEVELS.join(', ')}\n`);
    process.exit(2);
  }
  return pino({ name, level, base: { service: name, pid: process.pid } });
}
