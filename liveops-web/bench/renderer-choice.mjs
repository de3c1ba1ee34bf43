#!/usr/bin/env node
// Canvas 2D or deck.gl (WebGL) for the live map, measured: frames per second of 10,000 dots
// redrawn every animation frame in Debian's headless Chromium without a GPU (deck.gl then runs on
// software GL), with the dots still and with every dot moving every frame. The page is bundled by
// esbuild from bench/renderer-page.ts and served on 127.0.0.1. Reported, not asserted.
//   node liveops-web/bench/renderer-choice.mjs      BENCH_CARS=10000 BENCH_FPS_SECONDS=8
import { createServer } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { launchChromium } from '../dist/test/helpers.js';

const root = new URL('../..', import.meta.url).pathname;
const cars = Number(process.env.BENCH_CARS ?? 10_000);
const seconds = Number(process.env.BENCH_FPS_SECONDS ?? 8);
const bundle = await build({ entryPoints: [join(root, 'liveops-web', 'bench', 'renderer-page.ts')], bundle: true, minify: true, write: false, format: 'iife', logLevel: 'warning' });
const js = bundle.outputFiles[0].contents;
const html = '<!doctype html><meta charset="utf-8"><body style="margin:0;background:#000"><script src="/page.js"></script>';
const server = createServer((req, res) => {
  if (req.url?.startsWith('/page.js')) res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
  else res.writeHead(200, { 'content-type': 'text/html' }).end(html);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await launchChromium();
const results = [];
for (const renderer of ['canvas', 'deckgl']) {
  for (const move of [false, true]) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}/?renderer=${renderer}&cars=${cars}&move=${move ? 1 : 0}`);
    await page.waitForFunction(() => window.bench?.frames > 5 || window.bench?.error, undefined, { timeout: 60_000 });
    await new Promise((r) => setTimeout(r, 2000));
    const samples = [];
    for (let i = 0; i < seconds; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      samples.push(await page.evaluate(() => window.bench.fps));
    }
    const error = await page.evaluate(() => window.bench.error);
    const info = renderer === 'deckgl' ? await page.evaluate(() => {
      const gl = document.createElement('canvas').getContext('webgl2');
      const ext = gl?.getExtension('WEBGL_debug_renderer_info');
      return gl ? String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER)) : 'no WebGL2';
    }) : '2d';
    samples.sort((a, b) => a - b);
    results.push({ renderer, move, cars, medianFps: samples[Math.floor(samples.length / 2)], samples, gl: info, error: error || undefined });
    await page.close();
  }
}
await browser.close();
server.close();
for (const r of results) console.log(`${r.renderer.padEnd(7)} ${r.move ? 'every dot moving' : 'dots still      '}: ${r.medianFps.toFixed(1).padStart(5)} frames/s with ${r.cars} dots (${r.gl})${r.error ? `  error: ${r.error}` : ''}`);
mkdirSync(join(root, 'bench', 'results'), { recursive: true });
const file = join(root, 'bench', 'results', `liveops-web-renderer-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), results }, null, 2) + '\n');
console.log(`-> ${file}`);
