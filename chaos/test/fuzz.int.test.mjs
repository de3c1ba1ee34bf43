// The short form of `node chaos/fuzz.mjs` (make chaos): a few thousand wild CarStatus — among them
// positions valid by the contract but beyond what Redis GEO holds — broken raw streams and poison
// events, with valid cars streaming alongside through the same ingestion (so through the same
// storage batches), on a private stack (ports offset by 400). Every wild value is answered
// BOOKING_FAILED, nothing of it is stored, and the valid cars lose nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runFuzz } from '../fuzz.mjs';

test('short fuzz run: every wild value refused, nothing of it stored, the valid cars alongside lose nothing', async () => {
  const r = await runFuzz({ wild: 4000, raw: 600, poison: 500, cars: 20, warmupSec: 5, tailSec: 5, offset: 400 });
  assert.is(r.ingestion.acceptedAnswers, 0, 'no wild value acknowledged as stored');
  assert.is(r.ingestion.wildUnanswered, 0, 'every wild value answered');
  assert.ok(r.ingestion.failedAnswers >= 4000, `failed answers ${r.ingestion.failedAnswers}`);
  assert.is(r.valid.totals.lost, 0, 'every acknowledged valid CarStatus is on the topic');
  assert.is(r.valid.totals.missingRows, 0);
  assert.is(r.valid.totals.duplicatedRows, 0);
  assert.ok(r.simulator.acked > 0, `valid cars acknowledged ${r.simulator.acked}`);
  assert.is(r.simulator.rejected, 0, 'no valid car refused');
  assert.is(r.fuzzEventsOnTopic, 0, 'no wild value on the topic');
  assert.ok(r.ok, JSON.stringify({ ingestion: r.ingestion, simulator: r.simulator, totals: r.valid.totals }));
});

test.run();
