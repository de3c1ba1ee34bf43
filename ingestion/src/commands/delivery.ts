/**
 * Commands on this instance: a car's commands-capable stream claims the car (its queued commands
 * come at once), the command API publishes a new command to the one instance holding the car, and
 * the car's answers are recorded. Each command is marked SENT in Redis before it is written to the
 * stream, so a crash in between leaves it SENT: the car gets it again when it reconnects, or it
 * times out. A car's deliveries run one after another, in the order the commands were issued.
 */
import { COMMAND_KEYS, CommandStore, type CommandToDeliver, type Logger, type RedisClient } from '@greenlane/common';
import { CommandOutcome, type CarStatus, type VehicleCommand } from '@greenlane/common/gen/fleet/fleet';
import type { IngestionMetrics } from '../metrics.js';
import { toWire } from './wire.js';

export interface CommandDeliveryDeps {
  redis: RedisClient;
  instance: string;
  log: Logger;
  metrics: IngestionMetrics;
  /** Writes the command on the car's stream if a commands-capable stream of it is open here. */
  write: (carId: string, command: VehicleCommand) => boolean;
  /** The cars whose commands-capable streams are open here (to claim again after a reconnect). */
  cars: () => Iterable<string>;
}

export class CommandDelivery {
  private readonly store: CommandStore;
  private readonly subscriber: RedisClient;
  /** Per car, the tail of its chain of deliveries. */
  private readonly chains = new Map<string, Promise<void>>();
  private closed = false;

  constructor(private readonly deps: CommandDeliveryDeps) {
    this.store = new CommandStore(deps.redis);
    this.subscriber = deps.redis.duplicate();
  }

  async start(): Promise<void> {
    this.subscriber.on('error', (error: Error) => this.deps.log.warn({ err: error.message }, 'commands subscriber error'));
    let connectedOnce = false;
    // Commands published while the subscriber was away were not heard: claim every car again.
    this.subscriber.on('ready', () => {
      if (connectedOnce) for (const car of this.deps.cars()) this.carConnected(car);
      connectedOnce = true;
    });
    await this.subscriber.connect();
    await this.subscriber.subscribe(COMMAND_KEYS.instanceChannel(this.deps.instance), (message) => this.published(message));
  }

  /** A commands-capable stream of `carId` opened here (or switched to this car). */
  carConnected(carId: string): void {
    this.chain(carId, async () => {
      const ids = await this.store.claim(carId, this.deps.instance);
      for (const id of ids) await this.deliver(id, carId);
    });
  }

  /** The car's last commands-capable stream here closed. */
  carDisconnected(carId: string): void {
    this.chain(carId, () => this.store.release(carId, this.deps.instance));
  }

  /** A CarStatus carrying the car's answer to a command (validated). */
  result(status: CarStatus): void {
    const r = status.commandResult!;
    const accepted = r.outcome === CommandOutcome.COMMAND_ACCEPTED;
    this.store.recordResult(r.commandId, status.carId, accepted, r.reason).then(
      (outcome) => {
        this.deps.metrics.commandResults.inc({ outcome: outcome.status?.toLowerCase() ?? outcome.ignored ?? 'unknown' });
        if (outcome.ignored !== undefined && outcome.ignored !== 'final') {
          this.deps.log.warn({ car_id: status.carId, command_id: r.commandId, why: outcome.ignored }, 'a car answered a command it was not sent');
        }
      },
      (error: unknown) => {
        this.deps.metrics.commandResults.inc({ outcome: 'store_error' });
        // The car's answer is lost with this error; the command times out and the operator sees it.
        this.deps.log.error({ err: error, car_id: status.carId, command_id: r.commandId }, 'could not record a command result');
      },
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.chains.values()]);
    await this.subscriber.quit().catch(() => undefined);
  }

  private published(message: string): void {
    const tab = message.indexOf('\t');
    if (tab <= 0) return void this.deps.log.warn({ message: message.slice(0, 100) }, 'unreadable command notice');
    const id = message.slice(0, tab);
    const carId = message.slice(tab + 1);
    this.chain(carId, () => this.deliver(id, carId));
  }

  private async deliver(id: string, carId: string): Promise<void> {
    const { deliver, skipped } = await this.store.markSent(id, carId, this.deps.instance);
    if (deliver === undefined) {
      this.deps.metrics.commandsSent.inc({ result: `skipped_${skipped ?? 'unknown'}` });
      return;
    }
    const written = this.deps.write(carId, toWire(deliver as CommandToDeliver));
    this.deps.metrics.commandsSent.inc({ result: written ? 'written' : 'car_gone' });
  }

  private chain(carId: string, step: () => Promise<void>): void {
    if (this.closed) return;
    const previous = this.chains.get(carId) ?? Promise.resolve();
    const next = previous
      .then(step)
      .catch((error: unknown) => {
        // Redis away: the command stays queued (or SENT) in Redis; the car's next connection, or
        // the subscriber's reconnect, claims it again.
        this.deps.log.warn({ err: (error as Error).message, car_id: carId }, 'command delivery failed; it stays queued');
      })
      .finally(() => {
        if (this.chains.get(carId) === next) this.chains.delete(carId);
      });
    this.chains.set(carId, next);
  }
}
