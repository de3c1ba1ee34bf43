#!/usr/bin/env node
// Runs every compiled uvu test file (<workspace>/dist/test/**/*.test.js), and the plain-JavaScript
// ones of the folders that are not workspaces (chaos/test, scripts/test: *.test.mjs), each in its own process, and
// ends with one plain line `N passed, N failed`, which is what CI reads.
//   node scripts/run-tests.mjs [--unit] [substring...]
// --unit runs only the tests that need no servers (files not named *.int.test.ts).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filters = args.filter((a) => !a.startsWith('--'));
const fileTimeoutMs = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 600_000);
const exitGraceMs = Number(process.env.TEST_EXIT_GRACE_MS ?? 20_000);

function findTests(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return findTests(path);
    return /\.test\.m?js$/.test(name) ? [path] : [];
  });
}

const workspaces = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).workspaces;
const testDirs = [...workspaces.map((ws) => join(root, ws, 'dist', 'test')), join(root, 'chaos', 'test'), join(root, 'scripts', 'test')];
const files = testDirs
  .flatMap((dir) => findTests(dir).sort())
  .filter((f) => !unitOnly || !/\.int\.test\.m?js$/.test(f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));

if (files.length === 0) {
  console.log('no test files found: run `npm run build` first');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    // No background TurboFan jobs in the test processes: at exit, Node 20 can deadlock with one
    // that waits for a main-thread GC while the main thread waits for it (nodejs/node#54918). Here,
    // 8 at a time, kafka-codec.test.js hung after its summary in 2 of 160 runs, and in 0 of 320 with this.
    const child = spawn(process.execPath, ['--no-concurrent-recompilation', file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let lingering;
    const collect = (chunk) => {
      output += chunk;
      process.stdout.write(chunk);
      // uvu's summary ends with its Duration line; a file still running long after it leaks
      // handles (a socket, a timer) and would otherwise hold the whole run until the timeout.
      if (lingering === undefined && /^\s*Duration:/m.test(output)) {
        lingering = setTimeout(() => {
          output += `\n[run-tests] ${relative(root, file)} did not exit ${exitGraceMs} ms after its summary (open handles); killed\n`;
          process.stdout.write(`[run-tests] ${relative(root, file)} did not exit after its summary; killed\n`);
          child.kill('SIGKILL');
        }, exitGraceMs);
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => {
      output += `\n[run-tests] ${relative(root, file)} exceeded ${fileTimeoutMs} ms; killed\n`;
      child.kill('SIGKILL');
    }, fileTimeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(lingering);
      const count = (label) => Number(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'm').exec(output)?.[1] ?? NaN);
      const total = count('Total');
      const passed = count('Passed');
      const skipped = count('Skipped') || 0;
      let failed = Number.isNaN(total) ? 1 : total - passed - skipped;
      // A file that exits non-zero without a failed assertion crashed: that is a failure too.
      if ((code !== 0 || signal) && failed === 0) failed = 1;
      resolve({ file, passed: Number.isNaN(passed) ? 0 : passed, failed, skipped, ms: Date.now() - started });
    });
  });
}

const results = [];
for (const file of files) {
  console.log(`\n── ${relative(root, file)}`);
  results.push(await runFile(file));
}

console.log('\nSummary');
for (const r of results) {
  const mark = r.failed > 0 ? 'FAIL' : 'ok  ';
  console.log(`  ${mark} ${relative(root, r.file).padEnd(60)} ${String(r.passed).padStart(3)} passed ${String(r.failed).padStart(2)} failed  ${(r.ms / 1000).toFixed(1)}s`);
}
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
const skipped = results.reduce((n, r) => n + r.skipped, 0);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
