/**
 * The outbox relay: every entry of commands:log goes to the `fleet-commands` topic (key = car id),
 * in order, and is acknowledged in Redis only once Kafka has it. A consumer group shares the log
 * among the API's instances; entries a dead instance had read but not relayed are claimed by
 * another after CLAIM_IDLE_MS. An entry may reach the topic twice (a crash between Kafka's ack and
 * Redis's); its `event_id` (the log entry's id) is the same both times, so consumers drop repeats.
 */
import type { Producer } from 'kafkajs';
import { COMMAND_KEYS, statusChangeOf, type Logger, type RedisClient } from '@greenlane/common';

export const RELAY_GROUP = 'fleet-commands-relay';
const CLAIM_IDLE_MS = 10_000;
const BATCH = 500;

type Entry = { id: string; message: Record<string, string> };

/** A log entry as the value of a fleet-commands event. */
export function commandEvent(entry: Entry): string {
  const change = statusChangeOf(entry.message);
  return JSON.stringify({ event_type: 'command_status', event_id: `${change.command_id}:${entry.id}`, ...change, latency_ms: change.at - change.issued_at });
}

export interface RelayEvents {
  relayed(n: number): void;
  failed(): void;
}

export class CommandRelay {
  private readonly client: RedisClient;
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private lastClaimAt = 0;
  /** When the oldest entry not yet relayed was read (0: none waiting), for the lag gauge. */
  lagMs = 0;

  constructor(
    redis: RedisClient,
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly consumer: string,
    private readonly events: RelayEvents,
    private readonly log: Logger,
  ) {
    this.client = redis.duplicate();
  }

  async start(): Promise<void> {
    this.client.on('error', (error: Error) => this.log.warn({ err: error.message }, 'command relay: redis error'));
    await this.client.connect();
    await this.ensureGroup();
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.client.quit().catch(() => undefined);
  }

  private async ensureGroup(): Promise<void> {
    try {
      await this.client.xGroupCreate(COMMAND_KEYS.log, RELAY_GROUP, '0', { MKSTREAM: true });
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
  }

  private async run(): Promise<void> {
    // Own entries first (read before a failure, not yet relayed), then new ones.
    let backlog = true;
    while (this.running) {
      try {
        const entries = backlog ? await this.read('0', 0) : [...(await this.claimAbandoned()), ...(await this.read('>', 500))];
        if (backlog && entries.length === 0) {
          backlog = false;
          continue;
        }
        if (entries.length === 0) continue;
        await this.relay(entries);
      } catch (error) {
        if (!this.running) break;
        if (String((error as Error).message).includes('NOGROUP')) await this.ensureGroup().catch(() => undefined);
        this.events.failed();
        this.log.warn({ err: (error as Error).message }, 'command relay: failed; retrying what was read');
        backlog = true;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  private async read(id: string, block: number): Promise<Entry[]> {
    const reply = (await this.client.xReadGroup(RELAY_GROUP, this.consumer, { key: COMMAND_KEYS.log, id }, block > 0 ? { COUNT: BATCH, BLOCK: block } : { COUNT: BATCH })) as Array<{
      messages: Array<Entry | null>;
    }> | null;
    return (reply?.[0]?.messages ?? []).filter((m): m is Entry => m !== null && m.message !== null);
  }

  /** Entries another consumer read and never acknowledged (it died), every few seconds. */
  private async claimAbandoned(): Promise<Entry[]> {
    if (Date.now() - this.lastClaimAt < CLAIM_IDLE_MS / 2) return [];
    this.lastClaimAt = Date.now();
    const claimed = (await this.client.xAutoClaim(COMMAND_KEYS.log, RELAY_GROUP, this.consumer, CLAIM_IDLE_MS, '0-0', { COUNT: BATCH })) as {
      messages: Array<Entry | null>;
    };
    return claimed.messages.filter((m): m is Entry => m !== null && m.message !== null);
  }

  private async relay(entries: Entry[]): Promise<void> {
    this.lagMs = Math.max(0, Date.now() - Number(entries[0]!.id.split('-')[0]));
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: entries.map((e) => ({ key: e.message.car_id ?? '', value: commandEvent(e) })),
    });
    await this.client.xAck(COMMAND_KEYS.log, RELAY_GROUP, entries.map((e) => e.id));
    this.events.relayed(entries.length);
    this.lagMs = 0;
  }
}
