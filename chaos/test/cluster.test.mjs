// The cluster run's arithmetic and ports (no servers): the worst single car's stall around a fault,
// and the private cluster's ports clear of each other and of the other chaos stacks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { carStalls } from '../lib/run-cluster.mjs';
import { CLUSTER_OFFSET, clusterConfig } from '../lib/cluster.mjs';
import { stackConfig } from '../lib/stack.mjs';

test('carStalls: the longest gap of any car that begins in the fault window', () => {
  const fault = { at: 10_000, restoredAt: 12_000 };
  const byCar = new Map([
    ['A', [8_000, 9_200, 9_400, 13_000, 13_200]], // 9.4 s → 13 s: 3.6 s, starts in the window
    ['B', [9_000, 9_200, 9_400, 9_600, 9_800, 10_000]], // steady
    ['C', [1_000, 8_500, 9_500]], // its 7.5 s gap began before the window
  ]);
  assert.equal(carStalls(byCar, fault), { carStallMaxMs: 3_600, carStallCar: 'A', carsOver2s: 1, cars: 3 });
  // A gap that begins after the window (restored + 30 s, or 1 s before the next fault) is not this fault's.
  assert.equal(carStalls(new Map([['A', [9_500, 9_700, 20_000, 30_000]]]), fault, 15_000).carStallMaxMs, 10_300);
  assert.equal(carStalls(new Map([['A', [9_500, 9_700, 14_500, 30_000]]]), fault, 15_000).carStallMaxMs, 4_800);
  assert.equal(carStalls(new Map([['A', [9_500, 9_700, 14_100, 30_000]]]), fault, 15_000).carStallMaxMs, 4_400);
});

test('the cluster stacks (the run at 700, the bench at 1000) share no port, with each other or a chaos stack', () => {
  const ports = (c) => [c.grpcPort, c.statsPort, ...c.ingestion.flatMap((p) => [p.grpcPort, p.httpPort]), ...c.kafkaPorts,
    ...[0, 1, 2].map((i) => c.kafkaControllerPort + i), ...c.redisPorts, ...c.sentinelPorts];
  const run = ports(clusterConfig(CLUSTER_OFFSET).cluster);
  const bench = ports(clusterConfig(1000).cluster);
  assert.is(new Set(run).size, run.length);
  assert.is(new Set([...run, ...bench]).size, run.length + bench.length);
  const cfg = clusterConfig(CLUSTER_OFFSET);
  const stackPorts = [0, 200, 300, 400, 600, 700, 800].flatMap((o) => {
    const s = stackConfig(o);
    return [s.redisPort, s.kafkaPort, s.kafkaControllerPort, s.postgresPort, s.gridPort, s.commandApiPort, ...s.ingestion.flatMap((p) => [p.grpcPort, p.httpPort]), ...s.pricing.map((p) => p.httpPort)];
  });
  for (const p of [...run, ...bench]) assert.not.ok(stackPorts.includes(p), `port ${p}`);
  // The run's own services beside the cluster: three pricing workers and the grid mock, PostgreSQL.
  assert.is(cfg.pricing.length, 3);
  assert.not.ok(run.includes(cfg.postgresPort) || run.includes(cfg.gridPort));
});

test.run();
