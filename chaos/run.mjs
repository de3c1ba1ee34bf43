#!/usr/bin/env node
/**
 * make chaos: a realistic fleet through a private GreenLane stack while faults are injected in
 * turn, then the checker (lib/checker.mjs). Exit 0 only when nothing was lost or doubled.
 *   node chaos/run.mjs [--messages 100000] [--faults a,b,...] [--scale] [--phase 15] [--warmup 20]
 *                      [--tail 10] [--outage 10] [--interval 200] [--command-rate 3] [--offset 0] [--keep-infra] [--json]
 */
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS, formatReport, runChaos } from './lib/run-chaos.mjs';
import { ALL_FAULTS } from './lib/faults.mjs';

const { values } = parseArgs({
  options: {
    messages: { type: 'string' },
    faults: { type: 'string' },
    scale: { type: 'boolean' },
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
    ].join('\n'),
  );
  process.exit(0);
}

const num = (v, fallback) => (v === undefined ? fallback : Number(v));
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
}).catch((error) => {
  // A run that cannot go on (its cars refused, a service that never came up) says why, and stops.
  process.stderr.write(`[chaos] STOPPED: ${error.message}\n`);
  process.exit(1);
});
if (values.results) {
  mkdirSync(join(values.results, '..'), { recursive: true });
  writeFileSync(values.results, JSON.stringify(report, null, 2));
}
process.stdout.write(values.json ? JSON.stringify(report) + '\n' : formatReport(report) + '\n');
process.exit(report.ok ? 0 : 1);
