/**
 * Cars that drive on Manhattan: a street grid inside the island's shoreline (outline.ts, from
 * OpenStreetMap), turned 29° east of true north like the island's own grid, with avenues about
 * 260 m apart and cross streets every 160 m. A car drives along the grid's lines, choosing at each
 * intersection to go on or turn; a car heading for a station follows the shortest way along the
 * grid and covers the last stretch from the nearest intersection. Nothing crosses a river.
 *
 * The same contract as car/model.ts (`newCar`, `drive`, `driveToward`, pure functions of the state
 * and a seeded random source), so the realistic car (car/behavior.ts) takes these instead.
 * Below 14th Street the real streets are not a grid; the simulation uses the grid there too.
 */
import { between, type Random } from '../car/prng.js';
import { DRAIN_PER_UPDATE, MAX_SPEED_KMH, clamp, type DrivingState, type Position } from '../car/model.js';
import { MANHATTAN_OUTLINE } from './outline.js';

const KM_PER_DEG = 111.32;
const LAT0 = 40.78;
const KX = KM_PER_DEG * Math.cos((LAT0 * Math.PI) / 180);
const ORIGIN = { lat: 40.7033, lon: -74.017 };
/** The island's grid runs 29° east of true north. */
const THETA = (29 * Math.PI) / 180;
const SIN = Math.sin(THETA);
const COS = Math.cos(THETA);
/** Along the island (between cross streets) and across it (between avenues), km. */
export const STREET_KM = 0.16;
export const AVENUE_KM = 0.26;
/** An intersection closer than this to the shore is left out (no road on the water's edge). */
const SHORE_MARGIN_KM = 0.03;

/** lon/lat <-> local km (x east, y north) <-> grid units (u along the avenues, v across them). */
function toGrid(p: Position): { u: number; v: number } {
  const x = (p.lon - ORIGIN.lon) * KX;
  const y = (p.lat - ORIGIN.lat) * KM_PER_DEG;
  return { u: (x * SIN + y * COS) / STREET_KM, v: (x * COS - y * SIN) / AVENUE_KM };
}

function fromGrid(u: number, v: number): Position {
  const a = u * STREET_KM;
  const b = v * AVENUE_KM;
  const x = a * SIN + b * COS;
  const y = a * COS - b * SIN;
  return { lat: ORIGIN.lat + y / KM_PER_DEG, lon: ORIGIN.lon + x / KX };
}

export function insideIsland(p: Position, ring: ReadonlyArray<readonly [number, number]> = MANHATTAN_OUTLINE): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i]!;
    const [xj, yj] = ring[j]!;
    if (yi > p.lat !== yj > p.lat && p.lon < ((xj - xi) * (p.lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Distance in km from p to the shoreline. */
export function shoreDistanceKm(p: Position, ring: ReadonlyArray<readonly [number, number]> = MANHATTAN_OUTLINE): number {
  let best = Infinity;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const ax = (ring[j]![0] - p.lon) * KX;
    const ay = (ring[j]![1] - p.lat) * KM_PER_DEG;
    const bx = (ring[i]![0] - p.lon) * KX;
    const by = (ring[i]![1] - p.lat) * KM_PER_DEG;
    const dx = bx - ax;
    const dy = by - ay;
    const t = clamp(-(ax * dx + ay * dy) / (dx * dx + dy * dy || 1), 0, 1);
    best = Math.min(best, Math.hypot(ax + t * dx, ay + t * dy));
  }
  return best;
}

function flatKm(a: Position, b: Position): number {
  return Math.hypot((b.lon - a.lon) * KX, (b.lat - a.lat) * KM_PER_DEG);
}

/** Bearing from a to b in radians, 0 = north, π/2 = east. */
function bearing(a: Position, b: Position): number {
  return Math.atan2((b.lon - a.lon) * KX, (b.lat - a.lat) * KM_PER_DEG);
}

// --- the grid ----------------------------------------------------------------------------------

const N = 1; // u + 1 (up the island)
const S = 2; // u - 1
const E = 4; // v + 1 (across, east-southeast)
const W = 8; // v - 1
const STEP: Record<number, [number, number]> = { [N]: [1, 0], [S]: [-1, 0], [E]: [0, 1], [W]: [0, -1] };
const BACK: Record<number, number> = { [N]: S, [S]: N, [E]: W, [W]: E };

export interface StreetGrid {
  uMin: number;
  vMin: number;
  width: number;
  height: number;
  /** Per node (u - uMin) * width + (v - vMin): the directions with a road, N|S|E|W; 0 = no node. */
  roads: Uint8Array;
  /** Nodes of the network (the largest connected part of the grid). */
  nodes: number[];
  edges: Array<[number, number]>;
}

function buildGrid(): StreetGrid {
  let uLo = Infinity, uHi = -Infinity, vLo = Infinity, vHi = -Infinity;
  for (const [lon, lat] of MANHATTAN_OUTLINE) {
    const g = toGrid({ lat, lon });
    uLo = Math.min(uLo, g.u);
    uHi = Math.max(uHi, g.u);
    vLo = Math.min(vLo, g.v);
    vHi = Math.max(vHi, g.v);
  }
  const uMin = Math.floor(uLo);
  const vMin = Math.floor(vLo);
  const height = Math.ceil(uHi) - uMin + 1;
  const width = Math.ceil(vHi) - vMin + 1;
  const land = new Uint8Array(width * height);
  for (let iu = 0; iu < height; iu++) {
    for (let iv = 0; iv < width; iv++) {
      const p = fromGrid(iu + uMin, iv + vMin);
      if (insideIsland(p) && shoreDistanceKm(p) > SHORE_MARGIN_KM) land[iu * width + iv] = 1;
    }
  }
  // A road between two neighbouring intersections when the whole block face is on land.
  const roads = new Uint8Array(width * height);
  const onLand = (u: number, v: number) => insideIsland(fromGrid(u, v));
  for (let iu = 0; iu < height; iu++) {
    for (let iv = 0; iv < width; iv++) {
      const k = iu * width + iv;
      if (!land[k]) continue;
      if (iu + 1 < height && land[k + width] && [0.25, 0.5, 0.75].every((t) => onLand(iu + uMin + t, iv + vMin))) {
        roads[k]! |= N;
        roads[k + width]! |= S;
      }
      if (iv + 1 < width && land[k + 1] && [0.25, 0.5, 0.75].every((t) => onLand(iu + uMin, iv + vMin + t))) {
        roads[k]! |= E;
        roads[k + 1]! |= W;
      }
    }
  }
  // Keep the largest connected part: no car starts on a patch it cannot leave.
  const part = new Int32Array(width * height).fill(-1);
  let best: number[] = [];
  for (let start = 0; start < roads.length; start++) {
    if (!roads[start] || part[start] !== -1) continue;
    const members = [start];
    part[start] = start;
    for (let q = 0; q < members.length; q++) {
      const k = members[q]!;
      for (const dir of [N, S, E, W]) {
        if (!(roads[k]! & dir)) continue;
        const [du, dv] = STEP[dir]!;
        const next = k + du * width + dv;
        if (part[next] === -1) {
          part[next] = start;
          members.push(next);
        }
      }
    }
    if (members.length > best.length) best = members;
  }
  const keep = new Set(best);
  for (let k = 0; k < roads.length; k++) if (!keep.has(k)) roads[k] = 0;
  const edges: Array<[number, number]> = [];
  for (const k of best) {
    if (roads[k]! & N) edges.push([k, k + width]);
    if (roads[k]! & E) edges.push([k, k + 1]);
  }
  return { uMin, vMin, width, height, roads, nodes: best.sort((a, b) => a - b), edges };
}

let grid: StreetGrid | undefined;
/** The network, built once on first use (a few milliseconds). */
export function streetGrid(): StreetGrid {
  return (grid ??= buildGrid());
}

function nodeUV(g: StreetGrid, k: number): [number, number] {
  return [Math.floor(k / g.width) + g.uMin, (k % g.width) + g.vMin];
}

export function nodePosition(k: number): Position {
  const g = streetGrid();
  const [u, v] = nodeUV(g, k);
  return fromGrid(u, v);
}

function nearestNode(p: Position): number {
  const g = streetGrid();
  let best = g.nodes[0]!;
  let bestD = Infinity;
  for (const k of g.nodes) {
    const d = flatKm(p, nodePosition(k));
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}

/**
 * Where on the network a position is: the road (from, to) it lies on and how far along, in km.
 * A position off the network (a station's forecourt, a car from elsewhere) is put on the nearest
 * intersection.
 */
export function locate(p: Position): { from: number; to: number; alongKm: number; lengthKm: number } {
  const g = streetGrid();
  const { u, v } = toGrid(p);
  const ru = Math.round(u);
  const rv = Math.round(v);
  const key = (iu: number, iv: number) => (iu - g.uMin) * g.width + (iv - g.vMin);
  const inGrid = (iu: number, iv: number) => iu >= g.uMin && iu < g.uMin + g.height && iv >= g.vMin && iv < g.vMin + g.width;
  const EPS = 1e-6;
  // On an avenue (v whole): the road between floor(u) and floor(u) + 1.
  if (Math.abs(v - rv) < EPS) {
    const fu = Math.floor(u);
    if (inGrid(fu, rv) && g.roads[key(fu, rv)]! & N) {
      return { from: key(fu, rv), to: key(fu + 1, rv), alongKm: (u - fu) * STREET_KM, lengthKm: STREET_KM };
    }
  }
  if (Math.abs(u - ru) < EPS) {
    const fv = Math.floor(v);
    if (inGrid(ru, fv) && g.roads[key(ru, fv)]! & E) {
      return { from: key(ru, fv), to: key(ru, fv + 1), alongKm: (v - fv) * AVENUE_KM, lengthKm: AVENUE_KM };
    }
  }
  if (Math.abs(u - ru) < EPS && Math.abs(v - rv) < EPS && inGrid(ru, rv) && g.roads[key(ru, rv)]) {
    const k = key(ru, rv);
    return { from: k, to: k, alongKm: 0, lengthKm: 0 };
  }
  const k = nearestNode(p);
  return { from: k, to: k, alongKm: 0, lengthKm: 0 };
}

function neighbours(k: number): Array<{ dir: number; node: number }> {
  const g = streetGrid();
  const out: Array<{ dir: number; node: number }> = [];
  for (const dir of [N, S, E, W]) {
    if (g.roads[k]! & dir) {
      const [du, dv] = STEP[dir]!;
      out.push({ dir, node: k + du * g.width + dv });
    }
  }
  return out;
}

function directionOf(from: number, to: number): number {
  const g = streetGrid();
  const d = to - from;
  return d === g.width ? N : d === -g.width ? S : d === 1 ? E : W;
}

/** A car at a random place on the network, driving along its road. */
export function newCar(id: string, random: Random, battery = between(random, 40, 100)): DrivingState {
  const g = streetGrid();
  const [a, b] = g.edges[Math.floor(random() * g.edges.length)]!;
  const f = random();
  const pa = nodePosition(a);
  const pb = nodePosition(b);
  const forward = random() < 0.5;
  return {
    carId: id,
    lat: pa.lat + (pb.lat - pa.lat) * f,
    lon: pa.lon + (pb.lon - pa.lon) * f,
    battery,
    velocity: between(random, 0, MAX_SPEED_KMH),
    heading: forward ? bearing(pa, pb) : bearing(pb, pa),
  };
}

/** `km` along the network from p, heading as `heading` says, turning at random at intersections. */
export function moveOnStreets(p: Position, heading: number, km: number, random: Random): Position & { heading: number } {
  const at = locate(p);
  let from = at.from;
  let to = at.to;
  let here: Position = at.lengthKm === 0 ? nodePosition(at.from) : p;
  if (at.lengthKm > 0) {
    // Which way along the road: the end the heading points to.
    const toward = bearing(nodePosition(from), nodePosition(to));
    if (Math.cos(heading - toward) < 0) [from, to] = [to, from];
  } else {
    const options = neighbours(from);
    // Leave the intersection the way closest to the heading.
    let bestCos = -Infinity;
    for (const o of options) {
      const c = Math.cos(heading - bearing(here, nodePosition(o.node)));
      if (c > bestCos) {
        bestCos = c;
        to = o.node;
      }
    }
  }
  let left = km;
  let h = from === to ? heading : bearing(nodePosition(from), nodePosition(to));
  for (let hops = 0; hops < 200 && from !== to; hops++) {
    const end = nodePosition(to);
    const rest = flatKm(here, end);
    if (left < rest) {
      const f = rest === 0 ? 0 : left / rest;
      return { lat: here.lat + (end.lat - here.lat) * f, lon: here.lon + (end.lon - here.lon) * f, heading: h };
    }
    left -= rest;
    here = end;
    // At the intersection: on ahead more often than not, never back unless it is a dead end.
    const dir = directionOf(from, to);
    const options = neighbours(to).filter((o) => o.dir !== BACK[dir]);
    let next: number;
    if (options.length === 0) next = from;
    else {
      const ahead = options.find((o) => o.dir === dir);
      next = ahead && random() < 0.6 ? ahead.node : options[Math.floor(random() * options.length)]!.node;
    }
    from = to;
    to = next;
    h = bearing(nodePosition(from), nodePosition(to));
  }
  return { lat: here.lat, lon: here.lon, heading: h };
}

/** As car/model.ts `drive`, on the streets: speed wanders, the car follows the roads, the battery drains. */
export function drive(car: DrivingState, random: Random, intervalMs: number): DrivingState {
  if (car.battery <= 0) return { ...car, battery: 0, velocity: 0 };
  const velocity = clamp(car.velocity + between(random, -12, 12), 0, MAX_SPEED_KMH);
  const moved = moveOnStreets(car, car.heading, (velocity * intervalMs) / 3_600_000, random);
  return {
    ...car,
    lat: moved.lat,
    lon: moved.lon,
    heading: moved.heading,
    velocity,
    battery: Math.max(0, car.battery - between(random, DRAIN_PER_UPDATE.min, DRAIN_PER_UPDATE.max)),
  };
}

// --- ways to a station ------------------------------------------------------------------------

interface Tree {
  target: number;
  /** Road distance to the target per node (km), Infinity where unreachable. */
  dist: Float64Array;
  /** The next node toward the target, -1 at the target. */
  next: Int32Array;
}

const trees = new Map<string, Tree>();

/** Shortest ways from every intersection to the one nearest `target` (Dijkstra; cached per target). */
function treeTo(target: Position): Tree {
  const cacheKey = `${target.lat},${target.lon}`;
  const cached = trees.get(cacheKey);
  if (cached) return cached;
  const g = streetGrid();
  const root = nearestNode(target);
  const dist = new Float64Array(g.roads.length).fill(Infinity);
  const next = new Int32Array(g.roads.length).fill(-1);
  dist[root] = 0;
  // A binary heap of [distance, node].
  const heap: Array<[number, number]> = [[0, root]];
  const push = (item: [number, number]) => {
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]![0] <= heap[i]![0]) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  };
  const pop = (): [number, number] => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]![0] < heap[m]![0]) m = l;
        if (r < heap.length && heap[r]![0] < heap[m]![0]) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  };
  while (heap.length > 0) {
    const [d, k] = pop();
    if (d > dist[k]!) continue;
    for (const o of neighbours(k)) {
      const nd = d + (o.dir === N || o.dir === S ? STREET_KM : AVENUE_KM);
      if (nd < dist[o.node]!) {
        dist[o.node] = nd;
        next[o.node] = k;
        push([nd, o.node]);
      }
    }
  }
  const tree = { target: root, dist, next };
  trees.set(cacheKey, tree);
  return tree;
}

/** The way from p to target along the roads, as points (p first, target last). */
export function routeTo(p: Position, target: Position): Position[] {
  const tree = treeTo(target);
  const at = locate(p);
  const viaFrom = flatKm(p, nodePosition(at.from)) + tree.dist[at.from]!;
  const viaTo = flatKm(p, nodePosition(at.to)) + tree.dist[at.to]!;
  let k = viaFrom <= viaTo ? at.from : at.to;
  const points: Position[] = [p];
  for (let hops = 0; k !== -1 && hops < 10_000; hops++) {
    points.push(nodePosition(k));
    k = tree.next[k]!;
  }
  points.push(target);
  return points;
}

/**
 * As car/model.ts `driveToward`, on the streets: covers at least `minKm` of the way to `target`
 * at a city speed and lands on the target (at rest) once it is within reach.
 */
export function driveToward(car: DrivingState, target: Position, random: Random, intervalMs: number, minKm = 0): DrivingState {
  const battery = Math.max(0, car.battery - between(random, DRAIN_PER_UPDATE.min, DRAIN_PER_UPDATE.max));
  const velocity = between(random, 25, MAX_SPEED_KMH);
  let km = Math.max((velocity * intervalMs) / 3_600_000, minKm);
  const route = routeTo(car, target);
  for (let i = 1; i < route.length; i++) {
    const a = route[i - 1]!;
    const b = route[i]!;
    const leg = flatKm(a, b);
    if (km < leg) {
      const f = km / leg;
      return { ...car, lat: a.lat + (b.lat - a.lat) * f, lon: a.lon + (b.lon - a.lon) * f, heading: bearing(a, b), velocity, battery };
    }
    km -= leg;
  }
  return { ...car, lat: target.lat, lon: target.lon, velocity: 0, battery };
}
