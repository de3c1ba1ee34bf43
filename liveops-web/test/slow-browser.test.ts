/**
 * A browser that stops reading does not grow the service's memory: the hub (with a real WebSocket
 * server and real clients over TCP) pushes 10,000 changed cars a tick at one client that has
 * stopped reading and at one that reads. The stalled one is skipped once its socket holds more
 * than the cap, so what the service holds for it stays under the cap plus one frame while the
 * frames it would have queued add up to far more; the reading one gets every frame; the stalled
 * one, reading again, catches up from a snapshot.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { WebSocket, WebSocketServer } from 'ws';
import { createLogger } from '@greenlane/common';
import { FleetState } from '../src/state.js';
import { StationBoard } from '../src/stations.js';
import { createMetrics } from '../src/metrics.js';
import { Hub } from '../src/hub.js';
import { KIND_SNAPSHOT, decodeFrame } from '../src/protocol.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const log = createLogger('slow-browser-test', { LOG_LEVEL: 'silent' });
const CARS = 10_000;
const CAP = 256 * 1024;
const TICKS = 300;

/** Until the reading browser has this tick's frame: it never falls behind, whatever the machine's speed. */
async function readerHas(seq: () => number, hub: Hub): Promise<void> {
  for (let i = 0; i < 2000 && seq() < hub.sequence; i++) await new Promise((resolve) => setTimeout(resolve, 5));
}
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function memory(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

test('a stalled browser costs at most the cap plus a frame; the others get every frame; it catches up from a snapshot', async () => {
  const state = new FleetState({ offlineAfterMs: 3_600_000, recentEvents: 2 });
  const metrics = createMetrics();
  const hub = new Hub(state, new StationBoard([], undefined, log), { tickMs: 3_600_000, maxBufferedBytes: CAP, statusEveryMs: 1000 }, metrics, log);
  const server: Server = createServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => hub.add(ws)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;

  let reader: WebSocket | undefined;
  let stalled: WebSocket | undefined;
  try {
    let t = 1_700_000_000_000;
    const round = (shift: number) => {
      t += 1000;
      for (let i = 0; i < CARS; i++) {
        state.apply(`{"car_id":"CAR-${i}","lat":${40.7 + ((i + shift) % 1000) * 1e-4},"lon":-73.98,"battery":${i % 100},"velocity":30,"timestamp":${t},"event_type":"telemetry"}`, Date.now());
      }
    };
    round(0);

    reader = new WebSocket(url);
    reader.binaryType = 'arraybuffer';
    let readerFrames = 0;
    let readerLast: ReturnType<typeof decodeFrame> | undefined;
    reader.on('message', (data, isBinary) => {
      if (!isBinary) return;
      readerFrames += 1;
      readerLast = decodeFrame(data as ArrayBuffer);
    });
    stalled = new WebSocket(url);
    stalled.binaryType = 'arraybuffer';
    const stalledKinds: number[] = [];
    stalled.on('message', (data, isBinary) => {
      if (isBinary) stalledKinds.push(decodeFrame(data as ArrayBuffer).kind);
    });
    await Promise.all([reader, stalled].map((ws) => new Promise((resolve) => ws.once('open', resolve))));
    await pause(200);
    stalled.pause();

    // Warm up: the stalled client's kernel buffers fill, then its socket reaches the cap.
    for (let i = 1; i <= 40; i++) {
      round(i);
      hub.tick(Date.now());
      await readerHas(() => readerLast?.seq ?? 0, hub);
    }
    const before = memory();
    const skippedBefore = (await metrics.skippedTicks.get()).values[0]?.value ?? 0;
    let maxBuffered = 0;
    let wouldQueue = 0;
    for (let i = 41; i <= TICKS; i++) {
      round(i);
      hub.tick(Date.now());
      maxBuffered = Math.max(maxBuffered, hub.maxBuffered);
      wouldQueue += 32 + 21 * CARS;
      await readerHas(() => readerLast?.seq ?? 0, hub);
    }
    const after = memory();
    const skipped = ((await metrics.skippedTicks.get()).values[0]?.value ?? 0) - skippedBefore;

    process.stdout.write(`stalled browser: skipped ${skipped} ticks, held at most ${maxBuffered} bytes; ${(wouldQueue / 1048576).toFixed(1)} MB would have queued; memory grew ${((after - before) / 1048576).toFixed(1)} MB\n`);
    assert.ok(skipped >= TICKS - 41, `the stalled browser was skipped ${skipped} of ${TICKS - 40} ticks`);
    assert.ok(wouldQueue > 48 * 1024 * 1024, `a queue would have grown by ${wouldQueue} bytes`);
    const frame = 32 + 21 * CARS + 8 * CARS;
    assert.ok(maxBuffered <= CAP + frame, `held ${maxBuffered} bytes for one browser (cap ${CAP} + a frame ${frame})`);
    assert.ok(after - before < 24 * 1024 * 1024, `memory grew by ${((after - before) / 1048576).toFixed(1)} MB while the browser was stalled`);

    // The reading browser got a frame every tick, up to the newest state.
    assert.ok(readerFrames >= TICKS, `the reading browser got ${readerFrames} frames`);
    assert.is(readerLast!.seq, hub.sequence);
    const row = readerLast!.count - 1;
    assert.is(readerLast!.lat[row], state.columns.lat[readerLast!.index[row]!]);

    // Reading again, the stalled browser drains what its socket held, then gets a snapshot.
    const seenWhileStalled = stalledKinds.length;
    stalled.resume();
    for (let i = 0; i < 40 && !stalledKinds.slice(seenWhileStalled).includes(KIND_SNAPSHOT); i++) {
      await pause(50);
      round(TICKS + i);
      hub.tick(Date.now());
    }
    assert.ok(stalledKinds.slice(seenWhileStalled).includes(KIND_SNAPSHOT), 'the browser caught up from a snapshot');
  } finally {
    reader?.terminate();
    stalled?.terminate();
    hub.stop();
    wss.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test.run();
