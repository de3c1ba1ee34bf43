import type { Logger } from './logger.js';
import { ConfigError } from './config.js';

/**
 * Runs `stop` once on the first SIGINT or SIGTERM, then exits 0 (1 if stopping failed); a second
 * signal while stopping exits at once, so an operator can always get out.
 */
export function onShutdown(log: Logger, stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal while stopping: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    stop(signal).then(
      () => {
        log.info('stopped cleanly');
        // A program that stops itself after a fatal error has set exitCode first.
        process.exit(process.exitCode ?? 0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', handle);
  process.once('SIGTERM', handle);
}

/** Start-up failures: a bad variable exits 2 naming it; anything else exits 1 with the error. */
export function exitOnStartupError(log: Logger, error: unknown): never {
  if (error instanceof ConfigError) {
    log.fatal({ variable: error.variable }, error.message);
    process.exit(2);
  }
  log.fatal({ err: error }, 'could not start');
  process.exit(1);
}
