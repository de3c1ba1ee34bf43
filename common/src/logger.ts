import { pino, type Logger } from 'pino';

export type { Logger };

/** One structured logger per program; LOG_LEVEL sets its threshold (default info). */
export function createLogger(name: string, env: Record<string, string | undefined> = process.env): Logger {
  return pino({ name, level: env.LOG_LEVEL ?? 'info', base: { service: name, pid: process.pid } });
}
