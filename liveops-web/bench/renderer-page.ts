/**
 * The renderer choice, measured (bench/renderer-choice.mjs): the same 10,000 dots in three colours
 * redrawn every animation frame, with Canvas 2D (as page/app.ts draws them: one path per colour)
 * or with deck.gl's ScatterplotLayer (WebGL; in headless Chromium without a GPU, software GL).
 * ?renderer=canvas|deckgl&cars=N&move=1 (move: new positions every frame, as if every car moved).
 */
import { Deck, OrthographicView } from '@deck.gl/core';
import { ScatterplotLayer } from '@deck.gl/layers';

const params = new URLSearchParams(location.search);
const renderer = params.get('renderer') ?? 'canvas';
const n = Number(params.get('cars') ?? 10_000);
const move = params.get('move') === '1';
const W = 1280;
const H = 900;
const COLOURS: Array<[number, number, number]> = [[0x2e, 0xcc, 0x40], [0xff, 0xdc, 0x00], [0xff, 0x41, 0x36]];
let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
const xs = new Float32Array(n);
const ys = new Float32Array(n);
const band = new Uint8Array(n);
for (let i = 0; i < n; i++) {
  xs[i] = random() * W;
  ys[i] = random() * H;
  band[i] = Math.floor(random() * 3);
}
const jiggle = () => {
  for (let i = 0; i < n; i++) {
    xs[i] = (xs[i]! + (random() - 0.5) * 2 + W) % W;
    ys[i] = (ys[i]! + (random() - 0.5) * 2 + H) % H;
  }
};
const state = { renderer, frames: 0, fps: 0, error: '' };
(window as unknown as { bench: typeof state }).bench = state;
let since = performance.now();
let count = 0;
const tick = () => {
  count += 1;
  state.frames += 1;
  const now = performance.now();
  if (now - since >= 1000) {
    state.fps = (count * 1000) / (now - since);
    count = 0;
    since = now;
  }
};

if (renderer === 'canvas') {
  const canvas = document.createElement('canvas');
  canvas.width = W;
  canvas.height = H;
  document.body.append(canvas);
  const ctx = canvas.getContext('2d', { alpha: false })!;
  const frame = () => {
    if (move) jiggle();
    ctx.fillStyle = '#1c3550';
    ctx.fillRect(0, 0, W, H);
    const paths = COLOURS.map(() => new Path2D());
    for (let i = 0; i < n; i++) paths[band[i]!]!.rect(xs[i]! - 2, ys[i]! - 2, 4, 4);
    paths.forEach((p, k) => {
      ctx.fillStyle = `rgb(${COLOURS[k]!.join(',')})`;
      ctx.fill(p);
    });
    tick();
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
} else {
  const data = Array.from({ length: n }, (_, i) => i);
  let version = 0;
  const layer = () =>
    new ScatterplotLayer<number>({
      id: 'cars',
      data,
      getPosition: (i) => [xs[i]!, ys[i]!, 0],
      getFillColor: (i) => COLOURS[band[i]!]!,
      getRadius: 2,
      radiusUnits: 'pixels',
      updateTriggers: { getPosition: version },
    });
  try {
    const deck = new Deck({
      width: W,
      height: H,
      views: new OrthographicView({ flipY: true }),
      initialViewState: { target: [W / 2, H / 2, 0], zoom: 0 },
      controller: false,
      layers: [layer()],
      onAfterRender: tick,
      onError: (error) => {
        state.error = String(error);
      },
    });
    const frame = () => {
      if (move) {
        jiggle();
        version += 1;
        deck.setProps({ layers: [layer()] });
      } else deck.redraw('bench');
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  } catch (error) {
    state.error = String(error);
  }
}
