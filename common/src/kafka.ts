import { Kafka, logLevel, type ITopicConfig, type LogEntry } from 'kafkajs';
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
      // A concurrent creator may win the race; TOPIC_ALREADY_EXISTS is then a success.
      await admin.createTopics({ topics: missing, waitForLeaders: true }).catch((error: { type?: string }) => {
        if (error.type !== 'TOPIC_ALREADY_EXISTS') throw error;
      });
    }
    return missing.map((t) => t.topic);
  } finally {
    await admin.disconnect();
  }
}
