/**
 * Helpers for the integration tests that run GreenLane programs as child processes against the
 * real servers: free ports, the programs themselves, Kafka topics, fresh PostgreSQL databases.
 * Shared by the workspaces' tests (pricing worker, history writer, analytics API).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Kafka } from 'kafkajs';
import { testServers, uniqueName, waitFor } from './testing.js';

/** The repository root (this file is common/dist/src/testing-programs.js). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as import('node:net').AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface Child {
  proc: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  signal(sig: NodeJS.Signals): void;
}

/** A compiled program (path from the repository root) as a child process, its output collected. */
export function spawnProgram(script: string, env: Record<string, string>, args: string[] = []): Child {
  const proc = spawn(process.execPath, [script, ...args], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.on('data', (c) => (output += c));
  proc.stderr!.on('data', (c) => (output += c));
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  return { proc, output: () => output, exited, signal: (sig) => proc.kill(sig) };
}

/** Waits until `url` answers 2xx; fails at once, with the program's output, if it exits first. */
export async function waitReady(child: Child, what: string, url: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    what,
    async () => {
      const exited = await Promise.race([child.exited, new Promise((r) => setTimeout(() => r(undefined), 10))]);
      if (exited !== undefined) throw new Error(`${what}: the program exited ${String(exited)}:\n${child.output()}`);
      return (await fetch(url)).ok;
    },
    timeoutMs,
    200,
  );
}

export async function startGrid(port: number): Promise<Child> {
  const child = spawnProgram('grid-mock/dist/src/main.js', { GRID_ADDR: `127.0.0.1:${port}`, GRID_TZ: 'UTC' });
  await waitFor('grid mock health', async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, 15_000);
  return child;
}

export async function createTopic(kafka: Kafka, topic: string, partitions = 4): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

export async function produce(kafka: Kafka, topic: string, events: Array<{ key: string; value: string | Buffer | null }>): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let i = 0; i < events.length; i += 2000) {
      await producer.send({ topic, acks: -1, messages: events.slice(i, i + 2000) });
    }
  } finally {
    await producer.disconnect();
  }
}

/** A fresh database on the PostgreSQL 15 test server, for a program that migrates its default schema. */
export async function freshDatabase(prefix = 'test'): Promise<{ url: string; drop(): Promise<void> }> {
  const name = uniqueName(prefix).replace(/-/g, '_');
  const admin = new pg.Client({ connectionString: testServers.postgresUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(testServers.postgresUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const a = new pg.Client({ connectionString: testServers.postgresUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

/** A real psql, fed on stdin; `ask` sends one statement and resolves with its unaligned output. */
export function openPsql(url: string) {
  const proc = spawn('psql', [url, '-X', '-A', '-t', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let all = '';
  proc.stdout.on('data', (c) => {
    out += c;
    all += c;
  });
  proc.stderr.on('data', (c) => {
    err += c;
    all += c;
  });
  let n = 0;
  return {
    proc,
    /** Everything psql printed, its notices and errors (stderr) among its answers. */
    output: () => all,
    /** The answer (stdout) to `sql`; rejects with psql's message when the statement failed. Notices are left to output(). */
    async ask(sql: string, timeoutMs = 30_000): Promise<string> {
      const mark = `-- done ${++n}`;
      const from = out.length;
      const errFrom = err.length;
      proc.stdin.write(`${sql};\n\\echo '${mark}'\n`);
      await waitFor(`psql to answer ${sql}`, () => out.includes(mark, from), timeoutMs, 50);
      const failed = /\b(ERROR|FATAL):.*/.exec(err.slice(errFrom));
      if (failed) throw new Error(`psql: ${sql}: ${failed[0]}`);
      return out.slice(from, out.indexOf(mark, from)).trim();
    },
  };
}

/** The embedded database's URL as psql takes it (user, password, no SSL). */
export function psqlUrl(url = testServers.timescaleUrl): string {
  const u = new URL(url);
  u.username = 'postgres';
  u.password = 'postgres';
  u.searchParams.set('sslmode', 'disable');
  return u.toString();
}

/** Runs `fn` on a client of its own, closed after. */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Sum of a Prometheus metric's samples (its lines whose labels contain `match`) from `text`. */
export function metricSum(text: string, name: string, match = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || !(line[name.length] === ' ' || line[name.length] === '{')) continue;
    if (match && !line.includes(match)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
