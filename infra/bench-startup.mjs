#!/usr/bin/env node
// Measures the infrastructure itself: seconds from `infra.sh up` (Redis + Kafka, jars already
// cached) to a broker that accepts an acks=all produce, and the broker's resident memory idle and
// after 100,000 messages. Uses its own ports and data folder, so it never touches a running setup.
//   node infra/bench-startup.mjs        (make bench runs it)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';

const root = new URL('..', import.meta.url).pathname;
const cache = mkdtempSync(join(tmpdir(), 'greenlane-bench-infra-'));
const env = {
  ...process.env,
  GREENLANE_CACHE: cache,
  KAFKA_LIBS: process.env.KAFKA_LIBS ?? join(root, '.cache/kafka/libs'),
  INFRA_REDIS_PORT: '26379',
  INFRA_KAFKA_PORT: '39092',
  INFRA_KAFKA_CONTROLLER_PORT: '39093',
};
const infra = (...args) => spawnSync('bash', [join(root, 'infra/infra.sh'), ...args], { env, encoding: 'utf8' });
const kafkaVersion = /<kafka.version>(.*)<\/kafka.version>/.exec(readFileSync(join(root, 'infra/kafka/pom.xml'), 'utf8'))[1];
const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

try {
  // Warm the jar folder first so the figure is start-up, not download.
  infra('install');
  const started = performance.now();
  const up = infra('up', '--no-embedded-db');
  if (up.status !== 0) throw new Error(`infra up failed:\n${up.stderr}`);
  const kafka = new Kafka({ clientId: 'bench-startup', brokers: ['127.0.0.1:39092'], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true });
  for (;;) {
    try {
      await producer.connect();
      await producer.send({ topic: 'fleet-events', acks: -1, messages: [{ key: 'CAR-001', value: '{}' }] });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const upToProduceS = (performance.now() - started) / 1000;
  const pid = Number(readFileSync(join(cache, 'run/kafka.pid'), 'utf8'));
  const idleRss = rssMiB(pid);
  const value = JSON.stringify({ car_id: 'CAR-001', lat: 40.72, lon: -73.98, battery: 80, velocity: 30, timestamp: Date.now(), event_type: 'telemetry' });
  for (let i = 0; i < 100; i++) {
    await producer.send({ topic: 'fleet-events', acks: -1, messages: Array.from({ length: 1000 }, (_, j) => ({ key: `CAR-${j % 500}`, value })) });
  }
  const loadedRss = rssMiB(pid);
  await producer.disconnect();
  console.log(`infra up -> broker accepts a produce: ${upToProduceS.toFixed(1)} s (Redis + Kafka ${kafkaVersion} KRaft, jars cached)`);
  console.log(`broker resident memory: ${idleRss.toFixed(0)} MiB idle, ${loadedRss.toFixed(0)} MiB after 100,000 messages (heap cap KAFKA_HEAP=${process.env.KAFKA_HEAP ?? '512m'})`);
  console.log(JSON.stringify({ bench: 'infra-startup', upToProduceS, brokerRssMiBIdle: idleRss, brokerRssMiBAfter100k: loadedRss }));
} finally {
  infra('down');
  rmSync(cache, { recursive: true, force: true });
}
