/**
 * A side feed of the tail: `fleet-commands` (every change of an operator command's status), and
 * the same way `fleet-alerts` (the alert engine's alert events).
 * The command API (the alert engine) creates its topic at its start, so it may not exist yet: the feed then checks
 * again every few seconds, quietly, while the tail goes on with `fleet-events`; once it is there the
 * feed reads it from its beginning (everything in it is newer than the tail). A consumer of its own
 * (its own group), so a missing or failing topic never holds up the events.
 */
import type { Admin, Consumer, Kafka } from 'kafkajs';
import { WakeableSleep } from '@greenlane/common/wakeable-sleep';

export interface CommandsFeedOptions {
  kafka: Kafka;
  topic: string;
  /** Read the topic from its start even when it exists at once (--from-beginning). */
  fromBeginning: boolean;
  groupId: string;
  /** One Kafka value; resolves when the tail can take the next (JSON mode waits for stdout). */
  handle(value: string): Promise<void> | void;
  /** A line of the CLI's own. */
  say(text: string): void;
  /** What the topic carries, said once when the feed starts reading it [operators' commands]. */
  label?: string;
  retryMs?: number;
}

export class CommandsFeed {
  private stopped = false;
  private readonly pauses = new WakeableSleep();
  private consumer: Consumer | undefined;
  private admin: Admin | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: CommandsFeedOptions) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.pauses.close();
    await Promise.allSettled([this.consumer?.disconnect(), this.admin?.disconnect()]);
    await this.loop;
  }

  private async run(): Promise<void> {
    const { kafka, topic } = this.options;
    const retryMs = this.options.retryMs ?? 5_000;
    let missedAtStart = false;
    let checked = false;
    while (!this.stopped) {
      try {
        if (!this.admin) {
          this.admin = kafka.admin();
          await this.admin.connect();
        }
        const exists = (await this.admin.listTopics()).includes(topic);
        if (!exists) {
          if (!checked) missedAtStart = true;
          checked = true;
          await this.pauses.sleep(retryMs);
          continue;
        }
        checked = true;
        await this.follow(topic, this.options.fromBeginning || missedAtStart);
      } catch {
        // Broker away, topic deleted, a rebalance gone wrong: start over, quietly (the events feed says what matters).
        await this.consumer?.disconnect().catch(() => {});
        this.consumer = undefined;
        await this.admin?.disconnect().catch(() => {});
        this.admin = undefined;
      }
      if (!this.stopped) await this.pauses.sleep(retryMs);
    }
  }

  /** Tails the topic until the consumer stops for good (or the feed is stopped). */
  private async follow(topic: string, fromBeginning: boolean): Promise<void> {
    const consumer = this.options.kafka.consumer({
      groupId: this.options.groupId,
      maxWaitTimeInMs: 250,
      sessionTimeout: 10_000,
      heartbeatInterval: 3_000,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    const ended = new Promise<void>((resolve) => {
      consumer.on(consumer.events.CRASH, (e) => {
        if (!e.payload.restart) resolve();
      });
      consumer.on(consumer.events.STOP, () => resolve());
    });
    let announced = false;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      if (!announced) this.options.say(`live-ops: tailing ${topic} too (${this.options.label ?? "operators' commands"})`);
      announced = true;
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        if (message.value !== null) await this.options.handle(message.value.toString('utf8'));
      },
    });
    await ended;
    throw new Error('commands consumer stopped');
  }
}
