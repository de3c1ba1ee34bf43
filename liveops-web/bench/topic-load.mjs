#!/usr/bin/env node
// Telemetry events straight onto a topic, as the ingestion writes them (CONTRACTS.md), at a paced
// rate, each with timestamp = the moment it is handed to the producer: the live map's own path
// (topic -> liveops-web -> browser) without the ingestion in front. Used by bench.mjs
// (BENCH_SOURCE=topic).   node topic-load.mjs TOPIC CARS RATE SECONDS
import { createKafka, createLogger } from '@greenlane/common';
import { testServers } from '@greenlane/common/testing';

const [topic, carsArg, rateArg, secondsArg] = process.argv.slice(2);
const cars = Number(carsArg);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const kafka = createKafka({ brokers: testServers.kafkaBrokers, clientId: 'liveops-web-topic-load', log: createLogger('topic-load', { LOG_LEVEL: 'silent' }), quiet: true });
const producer = kafka.producer({ allowAutoTopicCreation: false });
await producer.connect();
const lat = Float64Array.from({ length: cars }, (_, i) => 40.70 + ((i * 7919) % 1000) * 0.00015);
const lon = Float64Array.from({ length: cars }, (_, i) => -74.01 + ((i * 104729) % 1000) * 0.00008);
let stop = false;
process.on('SIGINT', () => (stop = true));
process.on('SIGTERM', () => (stop = true));
const t0 = Date.now();
let sent = 0;
let next = 0;
while (!stop && Date.now() - t0 < seconds * 1000) {
  const due = Math.floor(((Date.now() - t0) * rate) / 1000);
  const messages = [];
  while (sent + messages.length < due) {
    const i = next;
    next = (next + 1) % cars;
    lat[i] += (Math.random() - 0.5) * 1e-4;
    lon[i] += (Math.random() - 0.5) * 1e-4;
    const id = `TOPIC-${String(i + 1).padStart(5, '0')}`;
    messages.push({ key: id, value: `{"car_id":"${id}","lat":${lat[i].toFixed(6)},"lon":${lon[i].toFixed(6)},"battery":${50 + (i % 50)},"velocity":30,"timestamp":${Date.now()},"event_type":"telemetry","event_id":"${id}-${sent + messages.length}"}` });
  }
  if (messages.length > 0) {
    await producer.send({ topic, acks: 1, messages });
    sent += messages.length;
  }
  await new Promise((r) => setTimeout(r, 20));
}
await producer.disconnect();
process.stdout.write(JSON.stringify({ mode: 'topic', sent, ackedPerSec: Math.round(sent / ((Date.now() - t0) / 1000)), acked: sent, failed: 0 }) + '\n');
