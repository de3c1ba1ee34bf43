#!/usr/bin/env node
/**
 * make chaos: a realistic fleet through a private GreenLane stack while faults are injected in
 * turn, then the checker (lib/checker.mjs). Exit 0 only when nothing was lost or doubled.
 *   node chaos/run.mjs [--messages 100000] [--faults a,b,...] [--scale] [--phase 15] [--warmup 20]
 *                      [--tail 10] [--outage 10] [--interval 200] [--command-rate 3] [--offset 0] [--keep-infra] [--json]
 *   node chaos/run.mjs --cluster [--messages 100000] [--faults ...] [--load-cars 100] [--load-rate 200]
 *                      [--kafka-down 60] [--redis-down 20] [--restart-after 15] [--offset 700] ...
 *     the cluster layout of issue 20 (lib/run-cluster.mjs): three Kafka nodes, Redis with Sentinel,
 *     three ingestions behind HAProxy, three pricing workers; the cars through the balancer only.
 */
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS, formatReport, runChaos } from './lib/run-chaos.mjs';
import { ALL_FAULTS } from './lib/faults.mjs';
import { CLUSTER_RUN_DEFAULTS, formatClusterReport, runCluster } from './lib/run-cluster.mjs';
import { ALL_CLUSTER_FAULTS } from './lib/cluster-faults.mjs';

const { values } = parseArgs({
  options: {
    messages: { type: 'string' },
    faults: { type: 'string' },
    scale: { type: 'boolean' },
    cluster: { type: 'boolean' },
    'load-cars': { type: 'string' },
    'load-rate': { type: 'string' },
    'kafka-down': { type: 'string' },
    'redis-down': { type: 'string' },
    'restart-after': { type: 'string' },
    phase: { type: 'string' },
    warmup: { type: 'string' },
    tail: { type: 'string' },
    outage: { type: 'string' },
    interval: { type: 'string' },
    'command-rate': { type: 'string' },
    offset: { type: 'string' },
    'keep-infra': { type: 'boolean' },
    json: { type: 'boolean' },
    results: { type: 'string' },
    help: { type: 'boolean' },
  },
});

if (values.help) {
  process.stdout.write(
    [
      'node chaos/run.mjs [flags]  (make chaos)',
      `  --messages N     CarStatus messages the run sends, about [${DEFAULTS.messages}]`,
      `  --faults LIST    comma-separated, in order [${ALL_FAULTS.join(',')}]; none = no faults`,
      '  --scale          two ingestions (the simulator split across them) and two pricing workers',
      `  --phase S        seconds from one fault undone to the next [${DEFAULTS.phaseSec}]`,
      `  --warmup S       before the first fault [${DEFAULTS.warmupSec}]   --tail S  after the last [${DEFAULTS.tailSec}]`,
      `  --outage S       how long Kafka and the grid mock stay down [${DEFAULTS.outageSec}]`,
      `  --interval MS    each car's update interval [${DEFAULTS.intervalMs}]`,
      `  --command-rate N operators' commands a second through the command API, all through the faults; 0 = none [${DEFAULTS.commandRate}]`,
      '  --offset N       added to every private port (16379 Redis, 29092 Kafka, 55532 PostgreSQL, ...) [0]',
      '  --keep-infra     leave the private Redis, Kafka and PostgreSQL running',
      '  --results FILE   also write the report JSON there',
      '  --json           print the report as JSON instead of a table',
      '',
      'node chaos/run.mjs --cluster [flags]  the cluster layout (issue 20): 3 Kafka nodes, Redis + Sentinel, 3 ingestions behind HAProxy',
      `  --messages N     realistic cars' CarStatus acknowledged (each checked), at least [${CLUSTER_RUN_DEFAULTS.messages}]`,
      `  --faults LIST    [${ALL_CLUSTER_FAULTS.join(',')}]`,
      `  --load-cars N    load cars beside them [${CLUSTER_RUN_DEFAULTS.loadCars}]   --load-rate R  their msgs/s in all [${CLUSTER_RUN_DEFAULTS.loadRate}]`,
      `  --kafka-down S   the killed Kafka node stays down [${CLUSTER_RUN_DEFAULTS.kafkaDownSec}]   --redis-down S  the old Redis primary [${CLUSTER_RUN_DEFAULTS.redisDownSec}]`,
      `  --restart-after S  the killed ingestion and pricing worker start again [${CLUSTER_RUN_DEFAULTS.restartAfterSec}]`,
      `  --offset N       added to the cluster's private ports (HAProxy 24061, ingestions 24071, Kafka 24092, Redis 26780, Sentinels 26782, ...) [${CLUSTER_RUN_DEFAULTS.offset}]`,
      '  --phase, --warmup, --tail, --interval, --keep-infra, --results, --json as above',
      '',
    ].join('\n'),
  );
  process.exit(0);
}

const num = (v, fallback) => (v === undefined ? fallback : Number(v));
const list = (v) => (v === 'none' ? [] : v.split(',').map((s) => s.trim()).filter(Boolean));


/** A run that cannot go on (its cars refused, a service that never came up) says why, and stops. */
function stopped(error) {
  process.stderr.write(`[chaos] STOPPED: ${error.message}\n`);
  process.exit(1);
}

/** Writes the report (--results, --json or the table) and exits 0 only when the run passed. */
function finish(report, format) {
  if (values.results) {
    mkdirSync(join(values.results, '..'), { recursive: true });
    writeFileSync(values.results, JSON.stringify(report, null, 2));
  }
  process.stdout.write(values.json ? JSON.stringify(report) + '\n' : format(report) + '\n');
  process.exit(report.ok ? 0 : 1);
}

if (values.cluster) {
  const C = CLUSTER_RUN_DEFAULTS;
  const report = await runCluster({
    messages: num(values.messages, C.messages),
    faults: values.faults === undefined ? C.faults : list(values.faults),
    phaseSec: num(values.phase, C.phaseSec),
    warmupSec: num(values.warmup, C.warmupSec),
    tailSec: num(values.tail, C.tailSec),
    intervalMs: num(values.interval, C.intervalMs),
    loadCars: num(values['load-cars'], C.loadCars),
    loadRate: num(values['load-rate'], C.loadRate),
    kafkaDownSec: num(values['kafka-down'], C.kafkaDownSec),
    redisDownSec: num(values['redis-down'], C.redisDownSec),
    restartAfterSec: num(values['restart-after'], C.restartAfterSec),
    offset: num(values.offset, C.offset),
    keepInfra: values['keep-infra'] === true,
  }).catch(stopped);
  finish(report, formatClusterReport);
}

const faults = values.faults === undefined ? ALL_FAULTS : values.faults === 'none' ? [] : values.faults.split(',').map((s) => s.trim()).filter(Boolean);
const report = await runChaos({
  messages: num(values.messages, DEFAULTS.messages),
  faults,
  scale: values.scale === true,
  phaseSec: num(values.phase, DEFAULTS.phaseSec),
  warmupSec: num(values.warmup, DEFAULTS.warmupSec),
  tailSec: num(values.tail, DEFAULTS.tailSec),
  outageSec: num(values.outage, DEFAULTS.outageSec),
  intervalMs: num(values.interval, DEFAULTS.intervalMs),
  commandRate: num(values['command-rate'], DEFAULTS.commandRate),
  offset: num(values.offset, 0),
  keepInfra: values['keep-infra'] === true,
}).catch(stopped);
finish(report, formatReport);
