#!/usr/bin/env node
// CPU use of the live-ops CLI while it tails a given event rate: produces contract events at each
// rate (default 10,000 and 50,000/s) to a topic of its own, runs the compiled CLI on it (output
// to a pipe, so it samples as on a terminal), and reads the CLI's CPU time from /proc/<pid>/stat.
//   npm run bench -w liveops-cli    BENCH_RATES=10000,50000  BENCH_SECONDS=10  KAFKA_BROKERS
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createKafka, createLogger, ensureTopics } from '@greenlane/common';
import { uniqueName, testServers } from '@greenlane/common/testing';

const CLI = fileURLToPath(new URL('../dist/src/main.js', import.meta.url));
const rates = (process.env.BENCH_RATES ?? '10000,50000').split(',').map(Number);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const criticalShare = Number(process.env.BENCH_CRITICAL_SHARE ?? 0.002);
const brokers = testServers.kafkaBrokers;
const CLK_TCK = 100; // USER_HZ on Linux
const kafka = createKafka({ brokers, clientId: 'liveops-bench', log: createLogger('liveops-bench', { LOG_LEVEL: 'silent' }), quiet: true });

function cpuTicks(pid) {
  // Fields after the ")" of the command name: utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** A pool of contract events for 10,000 cars; a small share below 15 % (critical alerts). */
function eventPool(size) {
  const pool = [];
  for (let i = 0; i < size; i++) {
    const car = `CAR-${String(i % 10_000).padStart(5, '0')}`;
    const battery = i % Math.round(1 / criticalShare) === 0 ? 9.5 : 20 + ((i * 7) % 80);
    pool.push({ key: car, value: JSON.stringify({ event_id: `e${i}`, event_type: 'telemetry', car_id: car, lat: 40.7 + (i % 150) / 1000, lon: -74.02 + (i % 90) / 1000, battery, velocity: i % 60, timestamp: 0 }) });
  }
  return pool;
}

async function benchRate(rate) {
  const topic = uniqueName('liveops-bench');
  await ensureTopics(kafka, [{ topic, numPartitions: 6 }]);
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const pool = eventPool(20_000);

  const cli = spawn(process.execPath, [CLI], { env: { ...process.env, FLEET_EVENTS_TOPIC: topic, KAFKA_BROKERS: brokers.join(',') }, stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  let lines = 0;
  cli.stdout.on('data', (chunk) => {
    const text = chunk.toString();
    lines += text.split('\n').length - 1;
    output = (output + text).slice(-20_000);
  });
  while (!output.includes('connected')) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 2000));

  const samples = [];
  let produced = 0;
  let lastTicks = cpuTicks(cli.pid);
  let lastAt = performance.now();
  const sampler = setInterval(() => {
    const ticks = cpuTicks(cli.pid);
    const now = performance.now();
    samples.push(((ticks - lastTicks) / CLK_TCK / ((now - lastAt) / 1000)) * 100);
    lastTicks = ticks;
    lastAt = now;
  }, 1000);

  const started = performance.now();
  const stepMs = 100;
  let cursor = 0;
  while (performance.now() - started < seconds * 1000) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    const count = Math.min(due - produced, rate); // at most a second's worth per send
    // In requests of at most 2,000 events: a second's worth at 50,000 ev/s is over the broker's
    // 1 MB message.max.bytes per partition batch.
    for (let left = count; left > 0; ) {
      const now = Date.now();
      const messages = [];
      for (let i = 0; i < Math.min(left, 2000); i++) {
        const e = pool[cursor++ % pool.length];
        messages.push({ key: e.key, value: e.value.replace('"timestamp":0', `"timestamp":${now}`) });
      }
      await producer.send({ topic, acks: 1, messages });
      produced += messages.length;
      left -= messages.length;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  const producedSec = (performance.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, 2000)); // let the CLI finish what it fetched
  clearInterval(sampler);

  const exited = new Promise((resolve) => cli.once('exit', resolve));
  cli.kill('SIGINT');
  await exited;
  const seen = Number(/live-ops summary: ([\d,]+) events/.exec(output)?.[1]?.replace(/,/g, '') ?? NaN);
  await producer.disconnect();
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin.disconnect();

  // The seconds while events flowed (the first sample starts with the production).
  const busy = samples.slice(0, Math.max(1, Math.floor(producedSec)));
  const avg = busy.reduce((a, b) => a + b, 0) / busy.length;
  return { rate, achieved: Math.round(produced / producedSec), produced, seen, cpuAvg: avg, cpuMax: Math.max(...busy), linesPerSec: lines / (producedSec + 4) };
}

console.log(`live-ops CLI CPU while tailing (${seconds}s per rate; ${criticalShare * 100}% critical alerts; producer in this process; shared machine)`);
console.log('target ev/s  produced ev/s  CLI saw/produced   CLI CPU avg   CLI CPU max   lines/s printed');
for (const rate of rates) {
  const r = await benchRate(rate);
  console.log(
    `${String(r.rate).padStart(11)}  ${String(r.achieved).padStart(13)}  ${`${r.seen}/${r.produced}`.padStart(16)}  ${r.cpuAvg.toFixed(1).padStart(10)} %  ${r.cpuMax.toFixed(1).padStart(10)} %  ${r.linesPerSec.toFixed(0).padStart(15)}`,
  );
}
