/**
 * The operators' live map, in the browser: Canvas 2D (no WebGL, so it renders the same in headless
 * Chromium without a GPU). Everything it loads comes from the service that served it: the basemap
 * (/basemap.json, clipped at build time), the WebSocket (/ws), the car details (/api/v1/cars/:id).
 *
 * The page's state is readable from scripts as `window.liveops` (the browser tests and the bench
 * read it): cars by id with their position, colour and pixel, the connection, frame counters.
 */
import {
  FLAG_ALERT,
  FLAG_CHARGING,
  FLAG_OFFLINE,
  FLAG_PLUGGED,
  FLAG_STOPPED,
  KIND_SNAPSHOT,
  batteryBand,
  decodeFrame,
  type StationView as Station,
} from '../src/protocol.js';

interface Basemap {
  bbox: [number, number, number, number];
  attribution: string;
  land: number[][][][];
}

interface AlertView {
  carId: string;
  kind: string;
  severity: string;
  battery?: number;
  since: number;
  acknowledged?: boolean;
}

const COLORS = { green: '#2ecc40', yellow: '#ffdc00', red: '#ff4136' } as const;
const OFFLINE_COLOR = '#6b7785';
const params = new URLSearchParams(location.search);
/** ?probe=1: record, for every car of every frame, the time from its CarStatus to the frame that drew it (the bench). */
const PROBE = params.get('probe') === '1';
/** ?fps=1: redraw every animation frame (the bench's frames-per-second figure); otherwise only on change. */
const CONTINUOUS = params.get('fps') === '1';

// --- the cars, in columns indexed by the service's car index ----------------------------------
let capacity = 0;
let names: string[] = [];
let lat = new Int32Array(0);
let lon = new Int32Array(0);
let ts = new Float64Array(0);
let battery = new Uint16Array(0);
let velocity = new Uint16Array(0);
let flags = new Uint8Array(0);
let present = new Uint8Array(0);
let carCount = 0;
const byId = new Map<string, number>();

function ensure(n: number): void {
  if (n <= capacity) return;
  let next = Math.max(1024, capacity);
  while (next < n) next *= 2;
  const grow = <T extends Int32Array | Float64Array | Uint16Array | Uint8Array>(old: T, make: (k: number) => T): T => {
    const a = make(next);
    a.set(old);
    return a;
  };
  lat = grow(lat, (k) => new Int32Array(k));
  lon = grow(lon, (k) => new Int32Array(k));
  ts = grow(ts, (k) => new Float64Array(k));
  battery = grow(battery, (k) => new Uint16Array(k));
  velocity = grow(velocity, (k) => new Uint16Array(k));
  flags = grow(flags, (k) => new Uint8Array(k));
  present = grow(present, (k) => new Uint8Array(k));
  capacity = next;
}

let stations: Station[] = [];
let alerts: AlertView[] = [];
let alertTotal = 0;
let basemap: Basemap | undefined;
let selected: string | undefined;

const stats = {
  connection: 'connecting' as 'connecting' | 'open' | 'reconnecting' | 'closed' | 'unauthorized',
  connects: 0,
  reconnects: 0,
  frames: 0,
  snapshots: 0,
  bytes: 0,
  lastSeq: 0,
  draws: 0,
  eventsPerSec: 0,
  serverCars: 0,
  fps: 0,
  drawMs: 0,
};
/** Probe samples (ms), drained by the bench: CarStatus timestamp to the frame drawn, and to the frame received. */
let latencies: number[] = [];
let receiveLatencies: number[] = [];
let pendingProbe: Array<{ base: number; offsets: Uint32Array; received: number }> = [];

function applyFrame(buffer: ArrayBuffer): void {
  const f = decodeFrame(buffer);
  stats.frames += 1;
  stats.bytes += buffer.byteLength;
  stats.lastSeq = f.seq;
  if (f.kind === KIND_SNAPSHOT) {
    stats.snapshots += 1;
    present.fill(0);
    carCount = 0;
    names = [];
    byId.clear();
  }
  for (let i = 0; i < f.names.length; i++) {
    const index = f.namesFrom + i;
    names[index] = f.names[i]!;
    byId.set(f.names[i]!, index);
  }
  let max = 0;
  for (let i = 0; i < f.count; i++) if (f.index[i]! + 1 > max) max = f.index[i]! + 1;
  ensure(Math.max(max, names.length));
  for (let i = 0; i < f.count; i++) {
    const k = f.index[i]!;
    if (present[k] === 0) {
      present[k] = 1;
      carCount += 1;
    }
    lat[k] = f.lat[i]!;
    lon[k] = f.lon[i]!;
    ts[k] = f.base + f.ts[i]!;
    battery[k] = f.battery[i]!;
    velocity[k] = f.velocity[i]!;
    flags[k] = f.flags[i]!;
  }
  if (PROBE && f.kind !== KIND_SNAPSHOT && f.count > 0) {
    const received = Date.now();
    for (let i = 0; i < f.count; i++) receiveLatencies.push(received - (f.base + f.ts[i]!));
    if (receiveLatencies.length > 2_000_000) receiveLatencies = receiveLatencies.slice(-1_000_000);
    pendingProbe.push({ base: f.base, offsets: f.ts.slice(), received });
  }
  requestDraw();
}

// --- projection ---------------------------------------------------------------------------------
const canvas = document.getElementById('map') as HTMLCanvasElement;
const ctx = canvas.getContext('2d', { alpha: false })!;
const view = { west: -74.03, east: -73.9, south: 40.69, north: 40.885, scale: 1, ox: 0, oy: 0, zoom: 1, panX: 0, panY: 0, width: 0, height: 0 };
const K = Math.cos((40.78 * Math.PI) / 180);

function layout(): void {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  canvas.width = Math.max(1, Math.round(w * dpr));
  canvas.height = Math.max(1, Math.round(h * dpr));
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  view.width = w;
  view.height = h;
  const spanX = (view.east - view.west) * K;
  const spanY = view.north - view.south;
  view.scale = Math.min(w / spanX, h / spanY) * view.zoom;
  view.ox = (w - spanX * view.scale) / 2 + view.panX;
  view.oy = (h - spanY * view.scale) / 2 + view.panY;
  baseLayer = undefined;
}
const px = (lonDeg: number) => view.ox + (lonDeg - view.west) * K * view.scale;
const py = (latDeg: number) => view.oy + (view.north - latDeg) * view.scale;

// --- drawing ------------------------------------------------------------------------------------
let baseLayer: HTMLCanvasElement | undefined;

function drawBase(): HTMLCanvasElement {
  const layer = document.createElement('canvas');
  layer.width = canvas.width;
  layer.height = canvas.height;
  const c = layer.getContext('2d')!;
  const dpr = window.devicePixelRatio || 1;
  c.setTransform(dpr, 0, 0, dpr, 0, 0);
  c.fillStyle = '#1c3550'; // water
  c.fillRect(0, 0, view.width, view.height);
  if (basemap) {
    c.fillStyle = '#2a2f36'; // land
    c.strokeStyle = '#46505c';
    c.lineWidth = 1;
    for (const polygon of basemap.land) {
      c.beginPath();
      for (const ring of polygon) {
        ring.forEach(([x, y], i) => (i === 0 ? c.moveTo(px(x!), py(y!)) : c.lineTo(px(x!), py(y!))));
        c.closePath();
      }
      c.fill('evenodd');
      c.stroke();
    }
  }
  return layer;
}

let drawRequested = false;
function requestDraw(): void {
  if (drawRequested) return;
  drawRequested = true;
  requestAnimationFrame(draw);
}

const size = 5;
/** Style index = colour (green, yellow, red, offline) x 2 + (ring when stopped). Same bands as batteryBand(). */
const STYLES = [COLORS.green, COLORS.yellow, COLORS.red, OFFLINE_COLOR].flatMap((colour, i) => [
  { colour, ring: false, alpha: i === 3 ? 0.55 : 1 },
  { colour, ring: true, alpha: i === 3 ? 0.55 : 1 },
]);
function draw(): void {
  drawRequested = false;
  const started = performance.now();
  baseLayer ??= drawBase();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.drawImage(baseLayer, 0, 0);
  const dpr = window.devicePixelRatio || 1;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  // One path per style (colour x filled or ring): a fill per style instead of one per car.
  const paths: Array<Path2D | undefined> = new Array(STYLES.length);
  const halo = new Path2D();
  const n = names.length;
  const x0 = view.ox - view.west * K * view.scale;
  const y0 = view.oy + view.north * view.scale;
  const sx = (K * view.scale) / 1e6;
  const sy = view.scale / 1e6;
  for (let k = 0; k < n; k++) {
    if (present[k] === 0) continue;
    const x = x0 + lon[k]! * sx;
    const y = y0 - lat[k]! * sy;
    if (x < -5 || y < -5 || x > view.width + 5 || y > view.height + 5) continue;
    const f = flags[k]!;
    const b = battery[k]!;
    const colour = f & FLAG_OFFLINE ? 3 : b > 5000 ? 0 : b >= 2000 ? 1 : 2;
    const style = colour * 2 + ((f & FLAG_STOPPED) !== 0 && colour !== 3 ? 1 : 0);
    (paths[style] ??= new Path2D()).rect(x - size / 2, y - size / 2, size, size);
    if (f & FLAG_ALERT) {
      halo.moveTo(x + 7, y);
      halo.arc(x, y, 7, 0, Math.PI * 2);
    }
  }
  paths.forEach((p, style) => {
    if (!p) return;
    const { colour, ring, alpha } = STYLES[style]!;
    ctx.globalAlpha = alpha;
    if (ring) {
      ctx.strokeStyle = colour;
      ctx.lineWidth = 1.5;
      ctx.stroke(p);
    } else {
      ctx.fillStyle = colour;
      ctx.fill(p);
    }
  });
  ctx.globalAlpha = 1;
  ctx.strokeStyle = '#ff4136';
  ctx.lineWidth = 1.5;
  ctx.stroke(halo);
  // Stations: a square and free/total.
  ctx.font = '10px sans-serif';
  for (const s of stations) {
    const x = px(s.lon);
    const y = py(s.lat);
    ctx.fillStyle = s.free === 0 ? '#7b3fbf' : '#3d8bfd';
    ctx.fillRect(x - 4, y - 4, 8, 8);
    ctx.strokeStyle = '#ffffff';
    ctx.lineWidth = 1;
    ctx.strokeRect(x - 4, y - 4, 8, 8);
    ctx.fillStyle = '#e8eef5';
    ctx.fillText(`${s.free ?? '?'}/${s.slots}`, x + 6, y + 3);
  }
  if (selected !== undefined) {
    const k = byId.get(selected);
    if (k !== undefined && present[k]) {
      ctx.strokeStyle = '#ffffff';
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(px(lon[k]! / 1e6), py(lat[k]! / 1e6), 9, 0, Math.PI * 2);
      ctx.stroke();
    }
  }
  stats.draws += 1;
  stats.drawMs = performance.now() - started;
  if (pendingProbe.length > 0) {
    const now = Date.now();
    for (const p of pendingProbe) for (let i = 0; i < p.offsets.length; i++) latencies.push(now - (p.base + p.offsets[i]!));
    pendingProbe = [];
    if (latencies.length > 2_000_000) latencies = latencies.slice(-1_000_000);
  }
  if (CONTINUOUS) requestDraw();
}

// frames per second, measured over each second
let fpsFrames = 0;
let fpsSince = performance.now();
function countFps(): void {
  fpsFrames += 1;
  const now = performance.now();
  if (now - fpsSince >= 1000) {
    stats.fps = (fpsFrames * 1000) / (now - fpsSince);
    fpsFrames = 0;
    fpsSince = now;
  }
  requestAnimationFrame(countFps);
}
if (CONTINUOUS) requestAnimationFrame(countFps);

// --- the side panel, alerts, status line --------------------------------------------------------
const $ = (id: string) => document.getElementById(id)!;

function renderStatus(): void {
  const conn = $('conn');
  conn.textContent = stats.connection === 'reconnecting' ? `reconnecting (${stats.reconnects})` : stats.connection;
  conn.className = `conn ${stats.connection}`;
  $('rate').textContent = `${stats.eventsPerSec.toLocaleString('en-US')} events/s`;
  $('cars').textContent = `${carCount.toLocaleString('en-US')} cars`;
  $('alerts-count').textContent = `${alertTotal.toLocaleString('en-US')} alerts`;
  $('stations-count').textContent = `${stations.length} stations`;
}

function renderAlerts(): void {
  const list = $('alerts');
  list.replaceChildren(
    ...alerts.slice(0, 100).map((a) => {
      const li = document.createElement('li');
      li.textContent =
        a.kind === 'critical_battery'
          ? `${a.carId}: battery ${(a.battery ?? 0).toFixed(1)} % — CRITICAL BATTERY!`
          : `${a.carId}: ${a.kind.replace(/_/g, ' ')} (${a.severity}${a.acknowledged ? ', acknowledged' : ''})`;
      li.dataset.kind = a.kind;
      li.dataset.car = a.carId;
      li.addEventListener('click', () => select(a.carId));
      return li;
    }),
  );
  if (alertTotal > alerts.length) {
    const li = document.createElement('li');
    li.textContent = `… ${alertTotal - alerts.length} more`;
    list.append(li);
  }
}

async function renderPanel(): Promise<void> {
  if (selected === undefined) return;
  const id = selected;
  const response = await fetch(`/api/v1/cars/${encodeURIComponent(id)}`, { credentials: 'same-origin' });
  if (id !== selected) return;
  if (response.status === 401 || response.status === 403) return showSignIn();
  if (!response.ok) {
    $('panel-hint').textContent = `${id}: ${response.status}`;
    return;
  }
  const car = (await response.json()) as Record<string, unknown> & { recentEvents: unknown[]; booking?: Record<string, unknown> };
  $('panel-title').textContent = id;
  selectedStation = typeof car.stationId === 'string' && car.stationId !== '' ? car.stationId : undefined;
  renderCommandButtons();
  const carAlerts = (car.alerts as AlertView[] | undefined) ?? [];
  $('panel-hint').textContent = [car.offline ? 'offline: no event for a while' : '', ...carAlerts.map((a) => (a.kind === 'critical_battery' ? 'CRITICAL BATTERY!' : `${a.kind.replace(/_/g, ' ')} (${a.severity})`))].filter(Boolean).join(' · ');
  const rows: Array<[string, string]> = [
    ['battery', `${Number(car.battery).toFixed(1)} %`],
    ['speed', `${Number(car.velocity).toFixed(1)} km/h`],
    ['position', `${Number(car.lat).toFixed(5)}, ${Number(car.lon).toFixed(5)}`],
    ['reported', new Date(Number(car.timestamp)).toLocaleTimeString()],
    ['station', typeof car.stationId === 'string' ? `${car.stationId}${car.charging ? ' (charging)' : ''}` : '—'],
  ];
  if (typeof car.chargeEnergyKwh === 'number') rows.push(['energy', `${car.chargeEnergyKwh.toFixed(2)} kWh`]);
  $('panel-values').replaceChildren(
    ...rows.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      return [dt, dd];
    }),
  );
  const b = car.booking;
  $('panel-booking').textContent = b ? `${String(b.status)} at ${String(b.stationId || '?')} ($${Number(b.priceRate).toFixed(3)}/kWh)${b.message ? `: ${String(b.message)}` : ''}` : 'none';
  $('panel-events').replaceChildren(
    ...car.recentEvents
      .slice()
      .reverse()
      .map((e) => {
        const li = document.createElement('li');
        li.textContent = JSON.stringify(e);
        return li;
      }),
  );
}

// --- operators' commands (through this service's /api/v1/cars/{id}/commands, see commands-proxy.ts)
/** The station the selected car is plugged in at (START/STOP_CHARGING need it). */
let selectedStation: string | undefined;
/** RETURN_TO_BASE or REROUTE waiting for a point on the map. */
let picking: string | undefined;
interface CommandView {
  commandId?: string;
  carId: string;
  type: string;
  status: string;
  reason?: string;
  final: boolean;
}
const commandLog: CommandView[] = [];
const FINAL = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'EXPIRED', 'ERROR']);

function renderCommandButtons(): void {
  for (const b of Array.from(document.querySelectorAll<HTMLButtonElement>('#commands button'))) {
    const type = b.dataset.command!;
    b.disabled = selected === undefined || ((type === 'START_CHARGING' || type === 'STOP_CHARGING') && selectedStation === undefined);
    b.classList.toggle('armed', picking === type);
  }
}

function renderCommandLog(): void {
  $('command-log').replaceChildren(
    ...commandLog.slice(0, 10).map((c) => {
      const li = document.createElement('li');
      li.dataset.status = c.status;
      if (c.commandId) li.dataset.command = c.commandId;
      li.textContent = `${c.carId} ${c.type}: ${c.status}${c.reason ? ` (${c.reason})` : ''}`;
      return li;
    }),
  );
}

async function sendCommand(type: string, extra: Record<string, unknown> = {}): Promise<void> {
  if (selected === undefined) return;
  const view: CommandView = { carId: selected, type, status: 'SENDING', final: false };
  commandLog.unshift(view);
  renderCommandLog();
  const update = (body: Record<string, unknown>) => {
    if (typeof body.command_id === 'string') view.commandId = body.command_id;
    if (typeof body.status === 'string') view.status = body.status;
    if (typeof body.reason === 'string') view.reason = body.reason;
    view.final = body.final === true || FINAL.has(view.status);
    renderCommandLog();
  };
  const fail = (reason: string) => update({ status: 'ERROR', reason, final: true });
  try {
    const response = await fetch(`/api/v1/cars/${encodeURIComponent(view.carId)}/commands`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type, ...extra }),
    });
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (response.status === 401) showSignIn();
    if (response.status !== 202) return fail(`${response.status}: ${String(body.message ?? body.error ?? response.statusText)}`);
    update(body);
    // Long polls, short enough that the status in between (QUEUED, SENT, DELIVERED) shows.
    while (!view.final) {
      const wait = await fetch(`/api/v1/commands/${encodeURIComponent(view.commandId!)}/wait?timeout_ms=2000`, { credentials: 'same-origin' });
      const w = (await wait.json().catch(() => ({}))) as Record<string, unknown>;
      if (!wait.ok) return fail(`${wait.status}: ${String(w.message ?? w.error ?? wait.statusText)}`);
      update(w);
    }
  } catch (error) {
    fail((error as Error).message);
  }
}

for (const b of Array.from(document.querySelectorAll<HTMLButtonElement>('#commands button'))) {
  b.addEventListener('click', () => {
    const type = b.dataset.command!;
    if (type === 'RETURN_TO_BASE' || type === 'REROUTE') {
      picking = picking === type ? undefined : type;
      $('command-hint').textContent = picking ? `${picking}: click the point on the map (or the button again to cancel)` : '';
      renderCommandButtons();
      return;
    }
    if (type === 'START_CHARGING' || type === 'STOP_CHARGING') return void sendCommand(type, { station_id: selectedStation });
    void sendCommand(type);
  });
}
renderCommandButtons();

function select(id: string | undefined): void {
  if (id !== selected) {
    selectedStation = undefined;
    picking = undefined;
  }
  selected = id;
  renderCommandButtons();
  requestDraw();
  void renderPanel();
}
setInterval(() => void renderPanel(), 1000);

canvas.addEventListener('click', (event) => {
  const rect = canvas.getBoundingClientRect();
  const x = event.clientX - rect.left;
  const y = event.clientY - rect.top;
  if (picking !== undefined) {
    const type = picking;
    picking = undefined;
    $('command-hint').textContent = '';
    renderCommandButtons();
    const latitude = view.north - (y - view.oy) / view.scale;
    const longitude = view.west + (x - view.ox) / (K * view.scale);
    void sendCommand(type, { latitude: Math.round(latitude * 1e6) / 1e6, longitude: Math.round(longitude * 1e6) / 1e6 });
    return;
  }
  let best: number | undefined;
  let bestD = 10 * 10;
  for (let k = 0; k < names.length; k++) {
    if (!present[k]) continue;
    const dx = px(lon[k]! / 1e6) - x;
    const dy = py(lat[k]! / 1e6) - y;
    const d = dx * dx + dy * dy;
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  if (best !== undefined) select(names[best]);
});

// Zoom with the wheel around the pointer, pan by dragging.
canvas.addEventListener(
  'wheel',
  (event) => {
    event.preventDefault();
    const factor = event.deltaY < 0 ? 1.25 : 0.8;
    const rect = canvas.getBoundingClientRect();
    const mx = event.clientX - rect.left;
    const my = event.clientY - rect.top;
    const next = Math.min(40, Math.max(1, view.zoom * factor));
    const f = next / view.zoom;
    view.panX = mx - (mx - view.panX - (view.width - (view.east - view.west) * K * view.scale) / 2) * f - (view.width - (view.east - view.west) * K * (view.scale * f)) / 2;
    view.panY = my - (my - view.panY - (view.height - (view.north - view.south) * view.scale) / 2) * f - (view.height - (view.north - view.south) * (view.scale * f)) / 2;
    view.zoom = next;
    if (next === 1) view.panX = view.panY = 0;
    layout();
    requestDraw();
  },
  { passive: false },
);
let drag: { x: number; y: number } | undefined;
canvas.addEventListener('mousedown', (e) => (drag = { x: e.clientX, y: e.clientY }));
window.addEventListener('mouseup', () => (drag = undefined));
window.addEventListener('mousemove', (e) => {
  if (!drag || view.zoom === 1) return;
  view.panX += e.clientX - drag.x;
  view.panY += e.clientY - drag.y;
  drag = { x: e.clientX, y: e.clientY };
  layout();
  requestDraw();
});
window.addEventListener('resize', () => {
  layout();
  requestDraw();
});

// --- the connection -----------------------------------------------------------------------------
function showSignIn(): void {
  stats.connection = 'unauthorized';
  ($('signin') as HTMLElement).hidden = false;
  renderStatus();
}

let socket: WebSocket | undefined;
let backoff = 250;
function connect(): void {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  ws.binaryType = 'arraybuffer';
  socket = ws;
  ws.onopen = () => {
    stats.connects += 1;
    stats.connection = 'open';
    backoff = 250;
    renderStatus();
  };
  ws.onmessage = (event) => {
    if (event.data instanceof ArrayBuffer) {
      applyFrame(event.data);
      return;
    }
    const message = JSON.parse(String(event.data)) as { type: string } & Record<string, unknown>;
    if (message.type === 'status') {
      stats.eventsPerSec = Number(message.eventsPerSec);
      stats.serverCars = Number(message.cars);
      renderStatus();
    } else if (message.type === 'stations') {
      stations = message.stations as Station[];
      requestDraw();
      renderStatus();
    } else if (message.type === 'alerts') {
      alerts = message.alerts as AlertView[];
      alertTotal = Number(message.total);
      renderAlerts();
      renderStatus();
    }
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = undefined;
    stats.connection = 'reconnecting';
    stats.reconnects += 1;
    renderStatus();
    // The upgrade is refused without a valid token (or one that cannot read, or expired); ask the
    // API which it was before retrying.
    void fetch('/api/v1/alerts', { credentials: 'same-origin' }).then(
      (r) => (r.status === 401 || r.status === 403 ? showSignIn() : setTimeout(connect, backoff)),
      () => setTimeout(connect, backoff),
    );
    backoff = Math.min(5000, backoff * 2);
  };
}

async function start(): Promise<void> {
  layout();
  const [mapResponse, check] = await Promise.all([fetch('/basemap.json'), fetch('/api/v1/alerts', { credentials: 'same-origin' })]);
  basemap = (await mapResponse.json()) as Basemap;
  $('attribution').textContent = basemap.attribution;
  baseLayer = undefined;
  requestDraw();
  if (check.status === 401 || check.status === 403) return showSignIn();
  connect();
}

/** What scripts (the browser tests, the bench) read of the page. */
const api = {
  stats,
  get carCount() {
    return carCount;
  },
  car(id: string) {
    const k = byId.get(id);
    if (k === undefined || !present[k]) return undefined;
    const f = flags[k]!;
    const b = battery[k]! / 100;
    const la = lat[k]! / 1e6;
    const lo = lon[k]! / 1e6;
    return {
      id,
      lat: la,
      lon: lo,
      battery: b,
      velocity: velocity[k]! / 10,
      timestamp: ts[k]!,
      colour: f & FLAG_OFFLINE ? 'offline' : batteryBand(b),
      stopped: (f & FLAG_STOPPED) !== 0,
      offline: (f & FLAG_OFFLINE) !== 0,
      alert: (f & FLAG_ALERT) !== 0,
      charging: (f & FLAG_CHARGING) !== 0,
      plugged: (f & FLAG_PLUGGED) !== 0,
      x: px(lo),
      y: py(la),
    };
  },
  stations: () => stations,
  alerts: () => ({ total: alertTotal, alerts }),
  /** Probe samples since the last call (ms from CarStatus timestamp to the frame that drew it). */
  takeLatencies(): number[] {
    const out = latencies;
    latencies = [];
    return out;
  },
  /** The same, to the moment the frame arrived (before it was drawn). */
  takeReceiveLatencies(): number[] {
    const out = receiveLatencies;
    receiveLatencies = [];
    return out;
  },
  select,
  /** The side panel's commands, newest first (status as it changes, final with its reason). */
  commands: () => commandLog.map((c) => ({ ...c })),
  /** Redraws now; returns the time it took (ms). */
  drawNow(): number {
    draw();
    return stats.drawMs;
  },
};
(window as unknown as { liveops: typeof api }).liveops = api;

void start();
