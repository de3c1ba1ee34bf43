import { Kafka, logLevel, type Consumer, type EachBatchPayload, type ITopicConfig, type LogEntry } from 'kafkajs';
import type { Logger } from './logger.js';

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** A kafkajs client whose own logs go through the program's pino logger. */
export function createKafka(opts: { brokers: string[]; clientId: string; log: Logger; quiet?: boolean }): Kafka {
  const kafkaLog = opts.log.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: opts.clientId,
    brokers: opts.brokers,
    // kafkajs logs every retry at INFO/ERROR; the services log what they act on themselves.
    logLevel: opts.quiet ? logLevel.NOTHING : logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...extra } = entry.log;
      kafkaLog[LEVELS[entry.level] ?? 'info']({ namespace: entry.namespace, ...extra }, message);
    },
    // Backoff capped at 2 s (kafkajs default 30 s): after a broker outage the clients are back
    // within about 2 s of it, instead of waiting out a long backoff. 30 retries ride out about a
    // minute of outage; fewer made a consumer give up ("Failed to find group coordinator") while
    // a broker restarted (20 s in the chaos runs).
    retry: { initialRetryTime: 200, maxRetryTime: 2000, retries: 30 },
  });
}

/**
 * Until every partition of `topics` has a leader (at most 30 s). kafkajs's own `waitForLeaders`
 * asks once and throws UNKNOWN_TOPIC_OR_PARTITION when the broker it asks has not yet heard of
 * the new topic, which on a three-node cluster is the usual case: ask again.
 */
async function waitForLeaders(admin: ReturnType<Kafka['admin']>, topics: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const { topics: described } = await admin.fetchTopicMetadata({ topics });
      const led = described.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
      if (led && described.length === topics.length) return;
    } catch (error) {
      if ((error as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION' && (error as { type?: string }).type !== 'LEADER_NOT_AVAILABLE') throw error;
    }
    if (Date.now() > deadline) throw new Error(`topics ${topics.join(', ')} created, but not every partition had a leader within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Creates the topics that are missing and leaves existing ones as they are, so every service can
 * call it at start. Works the same on Apache Kafka and Redpanda.
 */
export async function ensureTopics(kafka: Kafka, topics: ITopicConfig[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length > 0) {
      // A concurrent creator may win the race; TOPIC_ALREADY_EXISTS is then a success. kafkajs
      // reads the new topics' metadata right after creating them, from any broker; one that has
      // not heard of them yet answers UNKNOWN_TOPIC_OR_PARTITION though they exist: waitForLeaders
      // decides (and names the topics if they never get leaders).
      await admin.createTopics({ topics: missing }).catch((error: { type?: string }) => {
        if (error.type !== 'TOPIC_ALREADY_EXISTS' && error.type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
      });
      await waitForLeaders(admin, missing.map((t) => t.topic));
    }
    return missing.map((t) => t.topic);
  } finally {
    await admin.disconnect();
  }
}

/**
 * A consumer-group member as the services run it: manual offsets (the caller commits after its
 * rows), a 250 ms fetch wait, heartbeats at a third of the session timeout. `onReady` follows
 * group membership. When kafkajs gives up on the consumer for good, the program exits 1 (through
 * its SIGTERM handler) so that a supervisor restarts it: offsets are committed only after rows,
 * so nothing is lost.
 */
export function createGroupConsumer(kafka: Kafka, opts: {
  groupId: string;
  sessionTimeoutMs: number;
  maxBytesPerPartition: number;
  log: Logger;
  /** How the program calls itself in the log ("the worker", "the writer"). */
  self: string;
  onReady(ready: boolean): void;
}): Consumer {
  const consumer = kafka.consumer({
    groupId: opts.groupId,
    sessionTimeout: opts.sessionTimeoutMs,
    heartbeatInterval: Math.min(3000, Math.floor(opts.sessionTimeoutMs / 3)),
    maxBytesPerPartition: opts.maxBytesPerPartition,
    maxBytes: Math.max(opts.maxBytesPerPartition * 6, 10 * 1024 * 1024),
    maxWaitTimeInMs: 250,
    allowAutoTopicCreation: false,
  });
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    opts.onReady(true);
    opts.log.info({ memberId: e.payload.memberId, assignment: e.payload.memberAssignment }, 'joined the consumer group');
  });
  consumer.on(consumer.events.CRASH, (e) => {
    opts.onReady(false);
    opts.log.error({ err: e.payload.error.message, restart: e.payload.restart }, 'consumer crashed');
    // kafkajs restarts the consumer after retriable errors only; otherwise it would sit idle.
    if (!e.payload.restart) {
      opts.log.fatal(`consumer stopped for good; exiting so that a supervisor restarts ${opts.self}`);
      process.exitCode = 1;
      process.kill(process.pid, 'SIGTERM');
    }
  });
  return consumer;
}

/**
 * The partition backoff of the consumer loops: a batch that failed is put back (its partition
 * paused) and fetched again after 250 ms, doubling to 10 s while failures go on; a success resets it.
 */
export function partitionBackoff() {
  const timers = new Set<NodeJS.Timeout>();
  let failures = 0;
  return {
    /** Pauses through `pause` (kafkajs' eachBatch pause) and resumes after the delay, which it returns. */
    putBack(pause: () => () => void): number {
      failures++;
      const delay = Math.min(250 * 2 ** Math.min(failures - 1, 6), 10_000);
      const resume = pause();
      const timer = setTimeout(() => {
        timers.delete(timer);
        resume();
      }, delay);
      timers.add(timer);
      return delay;
    },
    succeeded(): void {
      failures = 0;
    },
    /** Partitions waiting for their backoff to end. */
    get paused(): number {
      return timers.size;
    },
    stop(): void {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

/** Marks a batch done: resolves its last offset and commits the next one. Returns that next offset. */
export async function commitBatch(payload: Pick<EachBatchPayload, 'batch' | 'resolveOffset' | 'commitOffsetsIfNecessary'>): Promise<string> {
  const { batch } = payload;
  const last = batch.lastOffset();
  const next = (BigInt(last) + 1n).toString();
  payload.resolveOffset(last);
  await payload.commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }] });
  return next;
}
