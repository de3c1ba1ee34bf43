/**
 * The outbox relay: every entry of commands:log goes to the `fleet-commands` topic (key = car id),
 * in order, and is acknowledged in Redis only once Kafka has it.
 *
 * One relay at a time: the log is one ordered stream, and two readers sharing it would put a car's
 * SENT on the topic before its QUEUED whenever the second one's batch left first. Every API
 * instance runs a relay; the one holding the lease `commands:relay:leader` relays, the others
 * wait to take over. The group's consumer is the role (`relay`), not the instance, so a new
 * leader first relays what the old one had read and not acknowledged, then new entries.
 *
 * An entry may reach the topic twice (a crash between Kafka's ack and Redis's, or a leader paused
 * past its lease while the next one starts); its `event_id` (the log entry's id) is the same both
 * times, so consumers drop repeats.
 */
import type { Producer } from 'kafkajs';
import { COMMAND_KEYS, statusChangeOf, type Logger, type RedisClient } from '@greenlane/common';
import { RedisScript } from '@greenlane/common/redis-script';
import { WakeableSleep } from '@greenlane/common/wakeable-sleep';

export const RELAY_GROUP = 'fleet-commands-relay';
export const RELAY_LEASE_KEY = 'commands:relay:leader';
/** The group consumer every leader reads as. */
const RELAY_CONSUMER = 'relay';
const DEFAULT_LEASE_MS = 10_000;
const BATCH = 500;

/** 2: taken now, 1: renewed, 0: another instance holds it. */
const HOLD_LEASE = new RedisScript(`
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0`);
const RELEASE_LEASE = new RedisScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`);

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

export interface RelayOptions {
  /** How long a leader's lease lasts unrenewed: how long a crashed leader holds up the topic. */
  leaseMs?: number;
}

export class CommandRelay {
  private readonly client: RedisClient;
  private readonly leaseMs: number;
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private leaseRenewedAt = 0;
  private readonly pauses = new WakeableSleep();
  /**
   * Read the group's pending entries before new ones: at take-over, after a failure, and at each
   * renewal, for what a leader paused past its lease read after this one had taken over.
   */
  private backlog = true;
  /** Whether this instance relays now (it holds the lease). */
  leader = false;
  /** When the oldest entry not yet relayed was read (0: none waiting), for the lag gauge. */
  lagMs = 0;

  constructor(
    redis: RedisClient,
    private readonly producer: Producer,
    private readonly topic: string,
    /** This instance's name, as the lease's holder. */
    private readonly instance: string,
    private readonly events: RelayEvents,
    private readonly log: Logger,
    options: RelayOptions = {},
  ) {
    this.client = redis.duplicate();
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  }

  async start(): Promise<void> {
    this.client.on('error', (error: Error) => this.log.warn({ err: error.message }, 'command relay: redis error'));
    await this.client.connect();
    await this.ensureGroup();
    this.running = true;
    this.loop = this.run();
  }

  /** Stops relaying and hands the lease back: a standby takes over at its next try (within a third of the lease). */
  async stop(): Promise<void> {
    this.running = false;
    this.pauses.close();
    await this.loop;
    if (this.leader) await RELEASE_LEASE.run(this.client, [RELAY_LEASE_KEY], [this.instance]).catch(() => undefined);
    this.leader = false;
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
    while (this.running) {
      try {
        if (!(await this.holdLease())) {
          await this.pauses.sleep(this.leaseMs / 3);
          continue;
        }
        const backlog = this.backlog;
        const entries = await this.read(backlog ? '0' : '>', backlog ? 0 : 500);
        if (backlog && entries.length === 0) {
          this.backlog = false;
          continue;
        }
        if (entries.length === 0) continue;
        // The lease must still be ours when the batch leaves, not only when it was read.
        if (!(await this.holdLease())) continue;
        await this.relay(entries);
      } catch (error) {
        if (!this.running) break;
        if (String((error as Error).message).includes('NOGROUP')) await this.ensureGroup().catch(() => undefined);
        this.events.failed();
        this.log.warn({ err: (error as Error).message }, 'command relay: failed; retrying what was read');
        this.backlog = true;
        await this.pauses.sleep(500);
      }
    }
  }

  /** True while this instance holds the lease; renews it once a third of it has passed. */
  private async holdLease(): Promise<boolean> {
    if (this.leader && Date.now() - this.leaseRenewedAt < this.leaseMs / 3) return true;
    const askedAt = Date.now();
    const held = Number(await HOLD_LEASE.run(this.client, [RELAY_LEASE_KEY], [this.instance, String(this.leaseMs)]));
    const was = this.leader;
    this.leader = held > 0;
    if (this.leader) {
      this.leaseRenewedAt = askedAt;
      this.backlog = true;
    }
    if (held === 2) {
      await this.adoptPending();
      this.log.info('command relay: leader (this instance relays commands:log)');
    } else if (was && !this.leader) {
      this.log.warn('command relay: lease lost to another instance; standing by');
    }
    return this.leader;
  }

  /**
   * A new leader takes every entry still pending in the group: the previous leader's, and any read
   * under an instance's own name by a relay older than the lease.
   */
  private async adoptPending(): Promise<void> {
    let cursor = '0-0';
    do {
      const claimed = (await this.client.xAutoClaim(COMMAND_KEYS.log, RELAY_GROUP, RELAY_CONSUMER, 0, cursor, { COUNT: BATCH })) as { nextId: string };
      cursor = claimed.nextId;
    } while (cursor !== '0-0');
  }

  /**
   * XREADGROUP sent as is: node-redis's parsing of its reply throws on a pending entry whose data
   * the log's MAXLEN trimmed away (it comes back as an id without fields), which would stop the
   * relay for good. Such entries have nothing left to relay: they are acknowledged, so they leave
   * the pending list.
   */
  private async read(id: string, block: number): Promise<Entry[]> {
    const command = ['XREADGROUP', 'GROUP', RELAY_GROUP, RELAY_CONSUMER, 'COUNT', String(BATCH), ...(block > 0 ? ['BLOCK', String(block)] : []), 'STREAMS', COMMAND_KEYS.log, id];
    const reply = (await this.client.sendCommand(command)) as Array<[string, Array<[string, string[] | null]>]> | null;
    const entries: Entry[] = [];
    const trimmed: string[] = [];
    for (const [entryId, fields] of reply?.[0]?.[1] ?? []) {
      if (fields === null) {
        trimmed.push(entryId);
        continue;
      }
      const message: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) message[fields[i]!] = fields[i + 1]!;
      entries.push({ id: entryId, message });
    }
    if (trimmed.length > 0) await this.client.xAck(COMMAND_KEYS.log, RELAY_GROUP, trimmed);
    return entries;
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
