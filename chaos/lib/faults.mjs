/**
 * The faults a chaos run injects, in this order by default. Each returns when the fault has been
 * undone (the thing is restarted); `restoredAt` marks that instant for the recovery figures. What a
 * fault returns (if anything) is kept with it in run.json as `detail`, for its checker.
 */
import { infraStop, infraUp, sleep } from './stack.mjs';
import { alertEngineKill } from './alerts-check.mjs';
import { ingestionLost } from './presence-check.mjs';

export const FAULTS = {
  /** kill -9 the ingestion (the first one in scale-out mode) and restart it at once, as a supervisor would. */
  'ingestion-kill': async ({ services }) => {
    const target = services.ingestion[0];
    await target.kill9();
    await target.start();
  },
  /**
   * kill -9 one pricing worker of two; the other takes its partitions once the group notices
   * (session timeout, 10 s in chaos runs). Restarted after 15 s, when the takeover has happened.
   */
  'pricing-kill': async ({ services }) => {
    const target = services.pricing[1];
    await target.kill9();
    await sleep(15_000);
    await target.start();
  },
  /** Stop the Kafka broker (clean shutdown), leave it down 10 s, start it again. */
  'kafka-stop': async ({ cfg, outageMs }) => {
    await infraStop(cfg, 'kafka');
    await sleep(outageMs);
    await infraUp(cfg);
  },
  /** Restart PostgreSQL (fast shutdown, start). */
  'postgres-restart': async ({ cfg }) => {
    await infraStop(cfg, 'postgres');
    await infraUp(cfg);
  },
  /** Stop the grid mock, leave it down 10 s, start it again. */
  'grid-stop': async ({ services, outageMs }) => {
    await services.grid.stop();
    await sleep(outageMs);
    await services.grid.start();
  },
  /**
   * kill -9 the command API and restart it at once: POSTs in flight get no answer (the driver sends
   * them again), the status changes it had read from commands:log but not yet relayed are relayed
   * by its successor first, once the dead one's relay lease runs out (10 s); deadlines are swept
   * again once it is back.
   */
  'command-api-kill': async ({ services }) => {
    await services.commandApi.kill9();
    await services.commandApi.start();
  },
  /** Restart Redis (SIGTERM: it writes its append-only file and exits; start). */
  'redis-restart': async ({ cfg }) => {
    await infraStop(cfg, 'redis');
    await infraUp(cfg);
  },
  /**
   * kill -9 the alert engine, restarted at once: its state (Redis, one script per batch with the
   * partition's offset) must survive, nothing active raised again (lib/alerts-check.mjs).
   */
  'alert-engine-kill': alertEngineKill,
  /**
   * kill -9 the second ingestion, left down for two presence timeouts, then started again: its
   * cars that reconnect through the other instance must not flap, the others go offline as
   * instance_lost within two timeouts (lib/presence-check.mjs). Needs the second ingestion, which
   * the run starts for it.
   */
  'ingestion-lost': ingestionLost,
};

export const ALL_FAULTS = Object.keys(FAULTS);
