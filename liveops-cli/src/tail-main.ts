/**
 * The live tail: fleet events, alerts and operators' commands, one line each.
 *   npm start -w liveops-cli -- --help
 * Every run is its own consumer group, so every operator sees every event.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError, createKafka, createLogger, parseFlags } from '@greenlane/common';
import { FLAG_OPTIONS, USAGE, parseOptions, type CliOptions } from './options.js';
import { colorEnabled, paint } from './render.js';
import { LiveTail } from './tail.js';
import { CommandsFeed } from './commands-feed.js';

function fail(message: string, code: number): never {
  process.stderr.write(`liveops: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), FLAG_OPTIONS, USAGE);
  let options: CliOptions;
  try {
    options = parseOptions(flags, process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, 2);
    throw error;
  }

  const tty = process.stdout.isTTY === true;
  const color = colorEnabled(process.env, tty);
  const tail = new LiveTail(
    { filter: options.filter, render: { color, utc: options.utc }, json: options.json, maxLinesPerSec: options.maxLinesPerSec, tty },
    process.stdout,
    Date.now(),
  );
  // Our own messages go to stderr in JSON mode, so stdout stays pure JSON lines.
  const say = (text: string) => (options.json ? process.stderr.write(`${text}\n`) : tail.notice(paint(text, 'dim', color)));

  // kafkajs logs retries itself; the CLI reports what matters in its own words instead.
  const kafka = createKafka({ brokers: options.brokers, clientId: 'greenlane-liveops', log: createLogger('liveops', { LOG_LEVEL: 'silent' }), quiet: true });
  const groupId = `liveops-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 250, sessionTimeout: 10_000, heartbeatInterval: 3_000, allowAutoTopicCreation: false });

  // Operators' commands come on a topic of their own, which may not exist yet (commands-feed.ts).
  const commandsFeed = new CommandsFeed({
    kafka,
    topic: options.commandsTopic,
    fromBeginning: options.fromBeginning,
    groupId: `${groupId}-commands`,
    say,
    handle: async (value) => {
      if (!tail.handle(value, Date.now())) await new Promise((resolve) => process.stdout.once('drain', resolve));
    },
  });

  // Alerts likewise, from the alert engine's topic (created when the engine starts).
  const alertsFeed = new CommandsFeed({
    kafka,
    topic: options.alertsTopic,
    fromBeginning: options.fromBeginning,
    groupId: `${groupId}-alerts`,
    label: 'alerts',
    say,
    handle: async (value) => {
      if (!tail.handle(value, Date.now())) await new Promise((resolve) => process.stdout.once('drain', resolve));
    },
  });

  say(`live-ops: tailing ${options.topic} on ${options.brokers.join(',')} ${options.fromBeginning ? 'from the beginning' : 'from now'}; Ctrl+C for the summary`);
  tail.flush();

  const flusher = setInterval(() => tail.flush(), 100);
  const ticker = setInterval(() => tail.tick(Date.now()), 1000);

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) process.exit(code);
    stopping = true;
    clearInterval(flusher);
    clearInterval(ticker);
    tail.close();
    await Promise.race([Promise.all([consumer.disconnect().catch(() => {}), commandsFeed.stop(), alertsFeed.stop()]), new Promise((r) => setTimeout(r, 3_000))]);
    (options.json ? process.stderr : process.stdout).write(tail.summary(Date.now()) + '\n');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  // Piping into `head` closes stdout: that is the operator being done, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') void stop(0);
  });

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const partitions = Object.values(e.payload.memberAssignment).reduce((n, p) => n + p.length, 0);
    say(`live-ops: connected, ${partitions} partitions; waiting for events`);
  });
  consumer.on(consumer.events.CRASH, (e) => {
    if (!e.payload.restart) {
      say(`live-ops: Kafka consumer stopped: ${e.payload.error.message}`);
      void stop(1);
    }
  });

  try {
    await consumer.connect();
    await consumer.subscribe({ topic: options.topic, fromBeginning: options.fromBeginning });
  } catch (error) {
    tail.close();
    fail(`cannot tail ${options.topic} on ${options.brokers.join(',')}: ${(error as Error).message}`, 1);
  }
  commandsFeed.start();
  alertsFeed.start();

  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch, isRunning, isStale }) => {
      for (const message of batch.messages) {
        if (!isRunning() || isStale()) break;
        if (message.value === null) continue;
        const ok = tail.handle(message.value.toString('utf8'), Date.now());
        // JSON mode is never sampled: a slow reader of the pipe slows the tail down instead.
        if (!ok) await new Promise((resolve) => process.stdout.once('drain', resolve));
      }
    },
  });
}

main().catch((error: unknown) => fail(String((error as Error).stack ?? error), 1));
