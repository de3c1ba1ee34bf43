/**
 * The basemap, made at build time from an npm package's geodata: the land of the USA polygons of
 * @geo-maps/countries-coastline-1m (OpenStreetMap coastline, ODbL), unioned and clipped to a box around
 * Manhattan. Everything between the land polygons is water (the Hudson, the East and Harlem rivers,
 * the harbour). The package ships the data split into tiles (a polygon with notches plus little
 * filler rectangles), hence the union.
 *
 *   node liveops-web/scripts/basemap.mjs OUT.json            # the page's basemap
 *   node liveops-web/scripts/basemap.mjs --outline OUT.ts    # Manhattan's outline for the simulator
 */
import { createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import * as polyclip from 'polyclip-ts';

const require = createRequire(import.meta.url);
export const SOURCE_PACKAGE = '@geo-maps/countries-coastline-1m';
/** [west, south, east, north]: Manhattan, the rivers, the shores facing it (wider than the map's view, so land fills any window). */
export const BBOX = [-74.16, 40.64, -73.8, 40.92];
export const ATTRIBUTION =
  'Map data © OpenStreetMap contributors, Open Database License (ODbL) 1.0, via the npm package @geo-maps/countries-coastline-1m (MIT code, ODbL data). https://www.openstreetmap.org/copyright';

function ringBox(ring) {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  for (const [x, y] of ring) {
    if (x < w) w = x;
    if (x > e) e = x;
    if (y < s) s = y;
    if (y > n) n = y;
  }
  return [w, s, e, n];
}
const overlaps = (a, b) => a[0] <= b[2] && a[2] >= b[0] && a[1] <= b[3] && a[3] >= b[1];

/** Sutherland–Hodgman against the box: cheap pre-clip of huge rings before the exact clip. */
function clipRing(ring, box) {
  const edges = [
    (p) => p[0] >= box[0], (p) => p[0] <= box[2], (p) => p[1] >= box[1], (p) => p[1] <= box[3],
  ];
  const cross = [
    (a, b) => [box[0], a[1] + ((b[1] - a[1]) * (box[0] - a[0])) / (b[0] - a[0])],
    (a, b) => [box[2], a[1] + ((b[1] - a[1]) * (box[2] - a[0])) / (b[0] - a[0])],
    (a, b) => [a[0] + ((b[0] - a[0]) * (box[1] - a[1])) / (b[1] - a[1]), box[1]],
    (a, b) => [a[0] + ((b[0] - a[0]) * (box[3] - a[1])) / (b[1] - a[1]), box[3]],
  ];
  let out = ring;
  for (let k = 0; k < 4; k++) {
    const input = out;
    out = [];
    for (let i = 0; i < input.length; i++) {
      const cur = input[i];
      const prev = input[(i + input.length - 1) % input.length];
      const inCur = edges[k](cur);
      const inPrev = edges[k](prev);
      if (inCur) {
        if (!inPrev) out.push(cross[k](prev, cur));
        out.push(cur);
      } else if (inPrev) out.push(cross[k](prev, cur));
    }
    if (out.length === 0) break;
  }
  return out;
}

/** The land inside BBOX as a MultiPolygon (GeoJSON coordinates, lon/lat). */
export async function clipLand(box = BBOX) {
  const file = require.resolve(`${SOURCE_PACKAGE}/map.geo.json`);
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  const pieces = [];
  for await (const raw of lines) {
    // One feature a line; only the USA's is parsed.
    if (!raw.includes('"A3":"USA"')) continue;
    const feature = JSON.parse(raw.replace(/,\s*$/, ''));
    const g = feature.geometry;
    const polygons = g.type === 'MultiPolygon' ? g.coordinates : [g.coordinates];
    for (const polygon of polygons) {
      if (!overlaps(ringBox(polygon[0]), box)) continue;
      const outer = clipRing(polygon[0], box);
      if (outer.length < 3) continue;
      const holes = polygon.slice(1).filter((h) => overlaps(ringBox(h), box)).map((h) => clipRing(h, box)).filter((h) => h.length >= 3);
      pieces.push([outer, ...holes]);
    }
  }
  if (pieces.length === 0) throw new Error(`${SOURCE_PACKAGE}: no land inside ${box.join(',')}`);
  const [w, s, e, n] = box;
  const frame = [[[w, s], [e, s], [e, n], [w, n], [w, s]]];
  const land = polyclip.intersection(polyclip.union(...pieces), frame);
  const round = (v) => Math.round(v * 1e5) / 1e5;
  return land.map((polygon) => polygon.map((ring) => ring.map(([x, y]) => [round(x), round(y)])));
}

export function pointInRing([x, y], ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/**
 * The island as the simulator drives it: at this resolution the coastline joins Manhattan to the
 * Bronx at Marble Hill and to New Jersey across Spuyten Duyvil, so the land is first cut along the
 * middle of the Hudson and of the Harlem River (lon/lat, drawn by hand over the water), then the
 * piece holding Times Square is kept.
 */
export const MANHATTAN_CUT = [
  [-74.03, 40.69], [-73.93, 40.69], [-73.93, 40.77], [-73.939, 40.783], [-73.931, 40.8], [-73.9336, 40.81],
  [-73.934, 40.835], [-73.9187, 40.8605], [-73.9105, 40.8725], [-73.915, 40.8785], [-73.935, 40.8785],
  [-73.942, 40.872], [-73.954, 40.85], [-73.983, 40.8], [-74.012, 40.76], [-74.022, 40.72], [-74.03, 40.69],
];

export function manhattanOf(land) {
  const timesSquare = [-73.9855, 40.758];
  const pieces = polyclip.intersection(land, [MANHATTAN_CUT]);
  const island = pieces.find((polygon) => pointInRing(timesSquare, polygon[0]));
  if (!island) throw new Error('no land polygon holds Times Square');
  const round = (v) => Math.round(v * 1e5) / 1e5;
  return island.map((ring) => ring.map(([x, y]) => [round(x), round(y)]));
}

async function main() {
  const args = process.argv.slice(2);
  const outline = args[0] === '--outline';
  const out = outline ? args[1] : args[0];
  if (!out) {
    process.stderr.write('usage: basemap.mjs OUT.json | --outline OUT.ts\n');
    process.exit(2);
  }
  const land = await clipLand();
  mkdirSync(dirname(out), { recursive: true });
  if (outline) {
    const island = manhattanOf(land);
    const text = [
      '/**',
      " * Manhattan's shoreline (outer ring, lon/lat), generated by liveops-web/scripts/basemap.mjs --outline",
      ' * (the land cut from the Bronx and New Jersey along the rivers: MANHATTAN_CUT there)',
      ` * from the npm package ${SOURCE_PACKAGE}: never edit by hand.`,
      ` * ${ATTRIBUTION}`,
      ' */',
      `export const MANHATTAN_OUTLINE: ReadonlyArray<readonly [number, number]> = ${JSON.stringify(island[0])};`,
      '',
    ].join('\n');
    writeFileSync(out, text);
    process.stderr.write(`[basemap] Manhattan outline: ${island[0].length} points -> ${out}\n`);
    return;
  }
  const vertices = land.reduce((n, p) => n + p.reduce((m, r) => m + r.length, 0), 0);
  writeFileSync(out, JSON.stringify({ bbox: BBOX, attribution: ATTRIBUTION, source: SOURCE_PACKAGE, land }));
  process.stderr.write(`[basemap] ${land.length} land polygons, ${vertices} points -> ${out}\n`);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) await main();
