/** Test helpers: free ports, the compiled ingestion service as a child process, reading a topic. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createKafka } from '@greenlane/common';
import { testServers, waitFor } from '@greenlane/common/testing';

export const INGESTION_MAIN = fileURLToPath(new URL('../../../ingestion/dist/src/main.js', import.meta.url));

export function ingestionBuilt(): boolean {
  return existsSync(INGESTION_MAIN);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export interface IngestionProcess {
  grpcTarget: string;
  start(): Promise<void>;
  /** SIGTERM, as a deploy does; resolves when the process has exited. */
  stop(): Promise<void>;
  output(): string;
}

/** The compiled ingestion on its own ports, topic and Redis database. */
export async function ingestionProcess(opts: { topic: string; token: string; redisDb: number; env?: Record<string, string> }): Promise<IngestionProcess> {
  const grpcPort = await freePort();
  const httpPort = await freePort();
  let child: ChildProcess | undefined;
  let output = '';
  const redisUrl = new URL(testServers.redisUrl);
  redisUrl.pathname = `/${opts.redisDb}`;
  const env = {
    ...process.env,
    INGESTION_ADDR: `127.0.0.1:${grpcPort}`,
    INGESTION_HTTP_ADDR: `127.0.0.1:${httpPort}`,
    REDIS_URL: redisUrl.toString(),
    KAFKA_BROKERS: testServers.kafkaBrokers.join(','),
    FLEET_EVENTS_TOPIC: opts.topic,
    API_TOKENS: opts.token,
    INGESTION_DRAIN_TIMEOUT_MS: '3000',
    LOG_LEVEL: 'warn',
    ...opts.env,
  };
  return {
    grpcTarget: `127.0.0.1:${grpcPort}`,
    async start() {
      const proc = spawn(process.execPath, [INGESTION_MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      proc.stdout!.on('data', (chunk) => (output += chunk));
      proc.stderr!.on('data', (chunk) => (output += chunk));
      await waitFor(
        'ingestion /ready',
        async () => {
          if (proc.exitCode !== null) throw new Error(`ingestion exited ${proc.exitCode}: ${output}`);
          const res = await fetch(`http://127.0.0.1:${httpPort}/ready`);
          return res.status === 200;
        },
        30_000,
        200,
      );
    },
    async stop() {
      const proc = child;
      if (!proc || proc.exitCode !== null) return;
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
    output: () => output,
  };
}

/** Every JSON event on `topic` from the beginning, read until `enough` says so (or the timeout). */
export async function readTopic(
  topic: string,
  enough: (events: Array<Record<string, unknown>>) => boolean,
  timeoutMs = 30_000,
): Promise<Array<Record<string, unknown>>> {
  const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'simulator-test', log: pino({ level: 'silent' }), quiet: true });
  const consumer = kafka.consumer({ groupId: `simulator-test-${topic}` });
  const events: Array<Record<string, unknown>> = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        events.push(JSON.parse(message.value!.toString()) as Record<string, unknown>);
      },
    });
    await waitFor(`events on ${topic}`, () => enough(events), timeoutMs, 200).catch(() => undefined);
    return events;
  } finally {
    await consumer.disconnect();
  }
}
