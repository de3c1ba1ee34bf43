#!/usr/bin/env node
// The highest rate the simulator alone can generate on this machine: starts the bare echo server
// as its own process and runs load mode against it with a few settings, as fast as acks allow.
//   npm run bench -w simulator            (BENCH_DURATION seconds per setting, default 8)
import { spawn, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'dist', 'src');
const duration = process.env.BENCH_DURATION ?? '8';
const port = 20000 + Math.floor(Math.random() * 20000);
const settings = (process.env.BENCH_SETTINGS ?? '10:1:1:1,100:8:2:4,200:16:2:8,1000:4:2:8')
  .split(',')
  .map((s) => s.split(':').map(Number))
  .map(([cars, inflight, threads, channels]) => ({ cars, inflight, threads, channels }));

const echo = spawn(process.execPath, [join(dist, 'echo-server.js'), '--addr', `127.0.0.1:${port}`], {
  env: { ...process.env, LOG_LEVEL: 'warn' },
  stdio: 'inherit',
});
await new Promise((r) => setTimeout(r, 800));

console.log(`simulator → echo server (127.0.0.1:${port}), ${duration}s per setting, ${process.env.BENCH_NOTE ?? 'shared machine'}`);
console.log('cars  inflight threads channels   acked/s     p50 ms    p99 ms  p99.9 ms');
let best = 0;
try {
  for (const s of settings) {
    const out = execFileSync(process.execPath, [
      join(dist, 'main.js'), '--mode', 'load', '--target', `127.0.0.1:${port}`, '--json', '--duration', duration,
      '--cars', String(s.cars), '--inflight', String(s.inflight), '--threads', String(s.threads), '--channels', String(s.channels),
    ], { env: { ...process.env, LOG_LEVEL: 'warn' }, encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop());
    best = Math.max(best, r.ackedPerSec);
    console.log(
      `${String(s.cars).padStart(4)}  ${String(s.inflight).padStart(8)} ${String(s.threads).padStart(7)} ${String(s.channels).padStart(8)}` +
      `  ${String(r.ackedPerSec).padStart(8)}  ${r.latencyMs.p50.toFixed(2).padStart(9)} ${r.latencyMs.p99.toFixed(2).padStart(9)} ${r.latencyMs.p999.toFixed(2).padStart(9)}` +
      (r.failed || r.rejected ? `  (failed ${r.failed}, rejected ${r.rejected})` : ''),
    );
  }
  console.log(`best: ${best} acknowledged messages/s (the echo server, one process, shares the machine)`);
} finally {
  echo.kill('SIGTERM');
}
