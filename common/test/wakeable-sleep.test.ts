import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WakeableSleep } from '../src/wakeable-sleep.js';

test('wake() ends the pause in progress at once', async () => {
  const pause = new WakeableSleep();
  const started = Date.now();
  const sleeping = pause.sleep(60_000);
  pause.wake();
  await sleeping;
  assert.ok(Date.now() - started < 10_000, 'woken long before its 60 s');
});

test('without wake() the pause lasts its time, and a wake() with none in progress does nothing', async () => {
  const pause = new WakeableSleep();
  pause.wake();
  let ended = false;
  const sleeping = pause.sleep(50).then(() => (ended = true));
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.is(ended, false, 'the earlier wake() did not end a later pause');
  await sleeping;
  assert.is(ended, true);
});

test('close() ends the pause in progress, and every later pause ends at once', async () => {
  const pause = new WakeableSleep();
  const started = Date.now();
  const sleeping = pause.sleep(60_000);
  pause.close();
  await sleeping;
  await pause.sleep(60_000);
  assert.ok(Date.now() - started < 10_000, 'neither pause waited its 60 s');
});

test.run();
