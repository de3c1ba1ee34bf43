/**
 * On a TimescaleDB without a job scheduler (the embedded build has no background workers) the
 * compression, retention and aggregate-refresh policies are registered but never run: the writer
 * runs them itself (`CALL run_job`), one at a time, every `intervalMs`. On a server with a
 * scheduler it leaves them to it.
 */
import type pg from 'pg';
import type { Logger } from '@greenlane/common';
import type { Metrics } from './metrics.js';

export interface JobRunner {
  /** Runs every job once now (tests, and the first round). */
  runAll(): Promise<number>;
  stop(): Promise<void>;
}

export function startJobRunner(opts: {
  jobs: number[];
  intervalMs: number;
  withDb: <T>(fn: (client: pg.ClientBase) => Promise<T>) => Promise<T>;
  log: Logger;
  metrics: Metrics;
}): JobRunner {
  let running: Promise<number> | undefined;
  let stopped = false;
  const runAll = async (): Promise<number> => {
    let ok = 0;
    for (const job of opts.jobs) {
      if (stopped) break;
      try {
        await opts.withDb((client) => client.query('CALL run_job($1)', [job]));
        opts.metrics.jobRuns.inc({ outcome: 'ok' });
        ok++;
      } catch (error) {
        opts.metrics.jobRuns.inc({ outcome: 'failed' });
        opts.log.warn({ job, err: (error as Error).message }, 'TimescaleDB job failed; next round in the next interval');
      }
    }
    return ok;
  };
  const tick = () => {
    if (running || stopped) return;
    running = runAll().finally(() => (running = undefined));
  };
  const timer = opts.jobs.length > 0 && opts.intervalMs > 0 ? setInterval(tick, opts.intervalMs) : undefined;
  timer?.unref();
  return {
    runAll,
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
