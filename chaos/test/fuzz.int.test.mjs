// The short form of `node chaos/fuzz.mjs` (make chaos): a few thousand wild CarStatus — among them
// positions valid by the contract but beyond what Redis GEO holds — broken raw streams and poison
// events, with valid cars streaming alongside through the same ingestion (so through the same
// storage batches), on a private stack (ports offset by 400). Every wild value is answered
// BOOKING_FAILED, nothing of it is stored, and the valid cars lose nothing. And the command API:
// every one of its hostile cases (lib/fuzz-inputs.mjs COMMAND_API_CASES) ten times, beside valid
// commands to the valid cars: each answered its 4xx with a JSON {error} and counted, the valid
// commands all final, carried out once by their own car.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runFuzz } from '../fuzz.mjs';
import { COMMAND_API_CASES } from '../lib/fuzz-inputs.mjs';

test('short fuzz run: every wild value refused, nothing of it stored, the valid cars alongside lose nothing', async () => {
  // The auth phase has its short form of its own (fuzz-auth.int.test.mjs).
  const r = await runFuzz({ wild: 4000, raw: 600, poison: 500, commands: 10 * COMMAND_API_CASES.length, auth: 0, authFlood: 0, authCarFlood: 0, cars: 20, warmupSec: 5, tailSec: 5, offset: 400 });
  assert.is(r.ingestion.acceptedAnswers, 0, 'no wild value acknowledged as stored');
  assert.is(r.ingestion.wildUnanswered, 0, 'every wild value answered');
  assert.ok(r.ingestion.failedAnswers >= 4000, `failed answers ${r.ingestion.failedAnswers}`);
  assert.is(r.valid.totals.lost, 0, 'every acknowledged valid CarStatus is on the topic');
  assert.is(r.valid.totals.missingRows, 0);
  assert.is(r.valid.totals.duplicatedRows, 0);
  assert.ok(r.simulator.acked > 0, `valid cars acknowledged ${r.simulator.acked}`);
  assert.is(r.simulator.rejected, 0, 'no valid car refused');
  assert.is(r.fuzzEventsOnTopic, 0, 'no wild value on the topic');
  // The command API: never a 5xx, never a 2xx, never silence for bad input; every refusal counted.
  const c = r.commandApi;
  const wrong = JSON.stringify(c.examples);
  assert.is(c.sent, 10 * COMMAND_API_CASES.length);
  assert.is(c.serverErrors, 0, `5xx answers to bad input: ${wrong}`);
  assert.is(c.unanswered, 0, `bad input left without an answer: ${wrong}`);
  assert.is(c.accepted2xx, 0, `bad input accepted: ${wrong}`);
  assert.is(c.answeredAsExpected, c.sent, `answered other than its case's 4xx with a JSON {error}: ${wrong}`);
  assert.is(c.refusedMetricDelta, c.refusedExpected, 'command_api_requests_refused_total counts every refusal');
  assert.is(c.validReads.ok, c.validReads.sent, JSON.stringify(c.validReads.wrong));
  const v = c.valid.check.totals;
  assert.ok(v.accepted > 0 && v.final.SUCCEEDED > 0, JSON.stringify(v));
  assert.equal([v.notFinal, v.carriedOutTwice, v.wrongCar, v.succeededNotCarriedOut, v.topicMissingQueued, v.topicMissingFinal], [0, 0, 0, 0, 0, 0], JSON.stringify(c.valid.check.examples));
  assert.ok(r.alive.every(Boolean), `ready at the end (ingestion, pricing workers, command API): ${JSON.stringify(r.alive)}`);
  assert.ok(r.ok, JSON.stringify({ ingestion: r.ingestion, simulator: r.simulator, totals: r.valid.totals, commandApi: { ...c, byKind: undefined } }));
});

test.run();
