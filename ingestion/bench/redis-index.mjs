#!/usr/bin/env node
// The live index's cost per CarStatus, in isolation against the real Redis (BENCH_REDIS_URL, database
// 4 by default, emptied): batches of 300 cars through src/redis-index.ts's script, CPU of this
// client and of the Redis server (INFO cpu) per status. Against a pipeline of one HSET per car and
// one GEOADD (the index before it kept the newest state), in alternating rounds of the same run.
//
//   node bench/redis-index.mjs        (from ingestion/, after `npx tsc -b ingestion`)
import { connectRedis, createLogger } from '@greenlane/common';
import { writeFleetIndex } from '../dist/src/redis-index.js';

const redis = await connectRedis(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/4', createLogger('redis-index-bench', { LOG_LEVEL: 'error' }));
await redis.flushDb();
const N = 300;
const R = 100;
const ROUNDS = 8;
const batch = (r) => Array.from({ length: N }, (_, i) => ({
  carId: `LOAD-${i}`, latitude: 40.7 + i * 1e-4, longitude: -73.98, batteryLevel: 60.5, velocity: 33.2, timestamp: 1_796_118_664_474 + r,
  stationId: '', charging: false, chargeEnergyKwh: 0, pluggedInAt: 0, bookingRequest: undefined,
}));

function pipeline(statuses) {
  const multi = redis.multi();
  const geo = ['GEOADD', 'fleet:locations'];
  for (const s of statuses) {
    geo.push(String(s.longitude), String(s.latitude), s.carId);
    multi.addCommand(['HSET', `car:${s.carId}`, 'battery', String(s.batteryLevel), 'velocity', String(s.velocity), 'timestamp', String(s.timestamp),
      'latitude', String(s.latitude), 'longitude', String(s.longitude), 'station_id', s.stationId, 'charging', '0', 'charge_energy_kwh', '0', 'plugged_in_at', '0']);
  }
  multi.addCommand(geo);
  return multi.execAsPipeline();
}

const serverCpu = async () => {
  const info = await redis.info('cpu');
  return Number(/used_cpu_sys:([\d.]+)/.exec(info)[1]) + Number(/used_cpu_user:([\d.]+)/.exec(info)[1]);
};
const totals = { script: { client: 0, server: 0 }, pipeline: { client: 0, server: 0 } };
let r = 0;
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, write] of [['script', (b) => writeFleetIndex(redis, b)], ['pipeline', pipeline]]) {
    const batches = Array.from({ length: R }, () => batch(r++));
    const server = await serverCpu();
    const client = process.cpuUsage();
    for (const b of batches) await write(b);
    const used = process.cpuUsage(client);
    // The first round warms up (JIT, script cache) and is not counted.
    if (round === 0) continue;
    totals[name].client += (used.user + used.system) / (N * R);
    totals[name].server += ((await serverCpu()) - server) * 1e6 / (N * R);
  }
}
const f = (v) => (v / (ROUNDS - 1)).toFixed(2);
console.log(`live index, batches of ${N} cars, ${ROUNDS - 1} × ${R} batches each:`);
console.log(`  src/redis-index.ts script     client ${f(totals.script.client)} µs/status, Redis server ${f(totals.script.server)} µs/status`);
console.log(`  HSET per car + one GEOADD     client ${f(totals.pipeline.client)} µs/status, Redis server ${f(totals.pipeline.server)} µs/status`);
await redis.flushDb();
await redis.quit();
