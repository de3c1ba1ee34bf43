// The short form of the fault run's alerts and presence checks (issue 16; about 2.5 minutes): a
// private Redis, Kafka and PostgreSQL 15 at port offset 800, a realistic fleet with incident cars,
// movers and silenced cars, the alert engine killed with kill -9 and restarted, then the second
// ingestion killed with kill -9 and left down for two presence timeouts. The alerts the acked logs
// and the engine's input call for must be on fleet-alerts and in fleet_alerts, none missing,
// duplicated, unexplained or left active; the silenced cars offline as instance_lost within two
// timeouts, with their offline alert; the movers never offline.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runChaos } from '../lib/run-chaos.mjs';

test('alert engine kill -9 and an ingestion lost: every expected alert exactly once, presence within two timeouts, no flapping', async () => {
  const report = await runChaos({
    messages: 4000,
    faults: ['alert-engine-kill', 'ingestion-lost'],
    warmupSec: 12,
    phaseSec: 8,
    tailSec: 5,
    intervalMs: 200,
    commandRate: 1,
    offset: 800,
  });
  assert.is(report.check.totals.lost, 0, 'every acknowledged CarStatus is on the topic');
  assert.equal(report.crashes, []);
  assert.equal([report.restarts['alert-engine'], report.restarts['ingestion-2']], [1, 1]);

  const a = report.check.alerts;
  const t = a.totals;
  assert.ok(t.expected > 100 && t.found > 100, JSON.stringify(t));
  for (const rule of ['battery_low', 'overspeed', 'offline', 'charging_stalled', 'outside_service_area']) assert.ok(a.perRule[rule].raised > 0, `${rule}: ${JSON.stringify(a.perRule[rule])}`);
  assert.equal(
    { missing: t.missing, unexplained: t.unexplained, severity: t.severityMismatch, duplicatedRaises: t.duplicatedRaises, orphans: t.orphans, leftActive: t.leftActive, notActive: t.notActive, apiMismatch: t.apiMismatch },
    { missing: 0, unexplained: 0, severity: 0, duplicatedRaises: 0, orphans: 0, leftActive: 0, notActive: 0, apiMismatch: 0 },
    JSON.stringify(a.examples),
  );
  assert.equal([t.tableDuplicated, t.tableMissing, t.tableUnexplained, t.outboxLeft, t.redeliveredDiffering], [0, 0, 0, 0, 0]);
  assert.ok(a.fromAcked.identicalCars > 0 && a.fromAcked.episodes > 0 && a.fromAcked.mismatched === 0, JSON.stringify(a.fromAcked));
  assert.equal(a.kills.map((k) => k.raisedAgain), [0], 'nothing active raised again after the engine\'s kill -9');
  assert.ok(a.ok, a.failures.join('; '));

  const p = report.check.presence;
  assert.ok(p.totals.silenced > 0 && p.totals.moved > 0, JSON.stringify(p.totals));
  assert.is(p.totals.silencedOfflineInTime, p.totals.silenced, 'every silenced car offline within 2 × PRESENCE_TIMEOUT_MS');
  const flaps = p.faults.filter((f) => f.what.includes('flapped') || f.what.includes('not killed'));
  assert.equal(flaps, [], 'no car that moved, nor one on the other instance, went offline');
  // Fails today: the engine raises no offline alert for them (chaos/README.md, "Found by it").
  assert.is(p.totals.silencedWithAlert, p.totals.silenced, `silenced cars with an offline alert: ${JSON.stringify(p.silenced.slice(0, 3))}`);
  assert.ok(p.ok, JSON.stringify(p.faultKinds));
  assert.ok(report.ok);
});

test.run();
