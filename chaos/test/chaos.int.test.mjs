// The short form of `make chaos` (about two minutes): a private Redis, Kafka and PostgreSQL 15
// (ports offset by 300, so it runs beside the shared servers and a full chaos run), a realistic
// fleet, three faults in turn, then the checker. Nothing acknowledged may be lost, no row doubled;
// operators' commands sent all along end final, each carried out at most once, by its own car.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runChaos } from '../lib/run-chaos.mjs';
import { recovery, rowGrowthTimes } from '../lib/checker.mjs';

test('recovery: the stall that starts at the fault, measured to when the flow resumed', () => {
  const fault = { at: 10_000, restoredAt: 12_000 };
  const times = [8_000, 9_000, 9_500, 10_200, 15_000, 15_100, 16_000];
  // The gap 10.2 s → 15 s starts after the fault: flow is back 5 s after it began.
  assert.equal(recovery(times, fault, 1000), { recoveryMs: 5_000, stallMs: 4_800 });
  // Gaps under the threshold mean the flow never stopped.
  assert.equal(recovery([9_000, 9_500, 10_000, 10_500, 11_000], fault, 1000), { recoveryMs: 0, stallMs: 500 });
  // A stall that begins with the next fault is that one's, not this one's.
  const steady = Array.from({ length: 20 }, (_, i) => 9_500 + 500 * i); // 9.5 s … 19 s
  assert.equal(recovery([...steady, 25_000], fault, 1000, 19_000), { recoveryMs: 0, stallMs: 500 });
  // Sampled flows: the last instant before the next fault's stall can come just before that fault.
  assert.equal(recovery([...steady, 25_000], fault, 1000, 19_300), { recoveryMs: 0, stallMs: 500 });
  assert.equal(rowGrowthTimes([{ t: 1, rows: 0 }, { t: 2, rows: 5 }, { t: 3, rows: null }, { t: 4, rows: 5 }, { t: 5, rows: 9 }]), [2, 5]);
});

test('short chaos run with ingestion kill -9, Kafka down 10 s and a PostgreSQL restart: nothing lost, nothing doubled', async () => {
  const report = await runChaos({
    messages: 6000,
    faults: ['ingestion-kill', 'kafka-stop', 'postgres-restart'],
    warmupSec: 10,
    phaseSec: 8,
    tailSec: 5,
    intervalMs: 100,
    offset: 300,
  });
  const { totals, faults } = report.check;
  assert.ok(totals.acknowledged >= 6000, `acknowledged ${totals.acknowledged}`);
  assert.is(totals.lost, 0, 'every acknowledged CarStatus is on the topic');
  assert.is(totals.duplicatedRows, 0);
  assert.is(totals.missingRows, 0, 'every charging sample on the topic has its row');
  assert.is(totals.unexplainedRows, 0);
  assert.ok(totals.rows > 0 && totals.stays > 0, `rows ${totals.rows}, stays ${totals.stays}`);
  assert.is(totals.energyViolations, 0, 'Σ kwh_usage = final meter for every stay');
  assert.is(totals.slotViolations, 0, 'free + booked + occupied = slots at every station');
  assert.ok(totals.stations > 0);
  assert.equal(faults.map((f) => [f.fault, f.lost, f.duplicatedRows]), [
    ['ingestion-kill', 0, 0],
    ['kafka-stop', 0, 0],
    ['postgres-restart', 0, 0],
  ]);
  // Kafka down stops acknowledgements (they wait for the broker), and they come back.
  assert.ok(faults[1].ackStallMs > 5000 && faults[1].ackRecoveryMs > 0, JSON.stringify(faults[1]));
  assert.equal(report.crashes, []);
  assert.is(report.pricingLagAtEnd, 0);
  assert.equal(report.restarts['ingestion-1'], 1);
  assert.ok(report.simulators.every((s) => s.rejected === 0));
  // The history (issue 19, lib/history.mjs): every acknowledged CarStatus in car_telemetry exactly once.
  const h = report.check.history.totals;
  assert.ok(h.acknowledged >= 6000 && h.rows >= h.acknowledged, JSON.stringify(h));
  assert.equal([h.ackedMissing, h.ackedTwice, h.topicMissing, h.duplicated, h.unexplained], [0, 0, 0, 0, 0], JSON.stringify(report.check.history.examples));
  assert.is(report.historyLagAtEnd, 0);
  // Operators' commands (issue 15, lib/commands.mjs), 3/s through the same faults: every accepted one
  // final, none carried out twice or by another car, every SUCCEEDED one carried out, the offline
  // car's EXPIRED, each one's QUEUED and final status on the topic.
  const k = report.check.commands.totals;
  assert.ok(k.accepted >= 50 && k.final.SUCCEEDED > 0 && k.toOfflineCars > 0, JSON.stringify(k));
  assert.equal(
    [k.notFinal, k.carriedOutTwice, k.wrongCar, k.succeededNotCarriedOut, k.carriedOutFailedOrExpired, k.unexplainedExecutions, k.offlineNotExpired],
    [0, 0, 0, 0, 0, 0, 0],
    JSON.stringify(report.check.commands.examples),
  );
  assert.equal([k.topicMissingQueued, k.topicMissingFinal, k.topicFinalConflict, k.topicChangeAfterFinal, k.refusedUnexpected], [0, 0, 0, 0, 0], JSON.stringify(report.check.commands.examples));
  assert.is(k.final.EXPIRED >= k.toOfflineCars, true, 'commands to the offline car expire');
  assert.ok(report.commandsRelayed);
  assert.ok(report.ok);
});

test.run();
