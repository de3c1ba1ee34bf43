/**
 * A private, single-node Kafka broker (KRaft) for tests that must stop or kill a broker: the shared
 * broker of `infra/infra.sh up` is never touched. It runs the jars the launcher already installed
 * (`.cache/kafka/libs`, or `KAFKA_LIBS`) from a temporary directory that `stop()` leaves in place,
 * so `start()` brings the same broker (same topics, same data) back.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, openSync, closeSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PrivateKafka {
  /** `127.0.0.1:<port>`, for KAFKA_BROKERS. */
  brokers: string[];
  /** The temporary directory holding data, configuration and the broker's log. */
  dir: string;
  /** Starts the broker (again) and resolves when it accepts connections. */
  start(): Promise<void>;
  /** Graceful stop (SIGTERM); resolves when the process has exited. */
  stop(): Promise<void>;
  /** Abrupt stop (SIGKILL), like a crashed broker. */
  kill(): Promise<void>;
  /** Stops the broker and deletes its directory. */
  destroy(): Promise<void>;
}

export interface PrivateKafkaOptions {
  port: number;
  controllerPort: number;
  partitions?: number;
  /** Directory of the Kafka jars; default `KAFKA_LIBS` or `<repo>/.cache/kafka/libs`. */
  libs?: string;
  heap?: string;
  startTimeoutMs?: number;
}

function defaultLibs(): string {
  const fromEnv = process.env.KAFKA_LIBS;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  // common/dist/src/testing-kafka.js -> <repo>/.cache/kafka/libs
  return fileURLToPath(new URL('../../../.cache/kafka/libs', import.meta.url));
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startPrivateKafka(opts: PrivateKafkaOptions): Promise<PrivateKafka> {
  const libs = opts.libs ?? defaultLibs();
  if (!existsSync(libs)) throw new Error(`Kafka jars not found in ${libs}: run \`make up\` once or set KAFKA_LIBS`);
  if (await portOpen(opts.port)) throw new Error(`port ${opts.port} is already in use; pick another for the private broker`);
  const dir = mkdtempSync(join(tmpdir(), 'greenlane-kafka-'));
  const properties = join(dir, 'server.properties');
  const log4j = join(dir, 'log4j.properties');
  writeFileSync(
    properties,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${opts.controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${opts.port},CONTROLLER://127.0.0.1:${opts.controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${opts.port}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      'inter.broker.listener.name=PLAINTEXT',
      `log.dirs=${join(dir, 'data')}`,
      `num.partitions=${opts.partitions ?? 3}`,
      'default.replication.factor=1',
      'min.insync.replicas=1',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=3',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=false',
      '',
    ].join('\n'),
  );
  writeFileSync(
    log4j,
    [
      'log4j.rootLogger=WARN, file',
      'log4j.appender.file=org.apache.log4j.FileAppender',
      `log4j.appender.file.File=${join(dir, 'kafka.log')}`,
      'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
      '',
    ].join('\n'),
  );
  const java = (args: string[]) =>
    spawnSync('java', [`-Dlog4j.configuration=file:${log4j}`, '-cp', `${libs}/*`, ...args], { encoding: 'utf8' });
  const uuid = java(['kafka.tools.StorageTool', 'random-uuid']).stdout.trim();
  const format = java(['kafka.tools.StorageTool', 'format', '-t', uuid, '-c', properties]);
  if (format.status !== 0) throw new Error(`could not format the private broker's storage: ${format.stderr || format.stdout}`);

  let child: ChildProcess | undefined;
  const exited = (proc: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve();
      else proc.once('exit', () => resolve());
    });

  const broker: PrivateKafka = {
    brokers: [`127.0.0.1:${opts.port}`],
    dir,
    async start() {
      if (child !== undefined) return;
      const out = openSync(join(dir, 'kafka.out'), 'a');
      const proc = spawn(
        'java',
        [
          '-Xms64m',
          `-Xmx${opts.heap ?? '384m'}`,
          '-XX:+UseSerialGC',
          '-XX:TieredStopAtLevel=1',
          '-Djava.awt.headless=true',
          `-Dlog4j.configuration=file:${log4j}`,
          '-cp',
          `${libs}/*`,
          'kafka.Kafka',
          properties,
        ],
        { stdio: ['ignore', out, out] },
      );
      closeSync(out);
      child = proc;
      proc.once('exit', () => {
        if (child === proc) child = undefined;
      });
      const deadline = Date.now() + (opts.startTimeoutMs ?? 90_000);
      while (!(await portOpen(opts.port))) {
        if (child !== proc) throw new Error(`the private broker exited at start; see ${join(dir, 'kafka.out')}`);
        if (Date.now() > deadline) throw new Error(`the private broker did not listen on ${opts.port} in time`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    async stop() {
      const proc = child;
      if (proc === undefined) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      await exited(proc);
      clearTimeout(timer);
    },
    async kill() {
      const proc = child;
      if (proc === undefined) return;
      proc.kill('SIGKILL');
      await exited(proc);
    },
    async destroy() {
      await broker.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await broker.start();
  return broker;
}

/** A TCP port nobody listens on right now (for private brokers and services under test). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    import('node:net').then(({ createServer }) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const port = typeof address === 'object' && address !== null ? address.port : 0;
        server.close(() => resolve(port));
      });
    }, reject);
  });
}
