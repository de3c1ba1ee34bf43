/**
 * Lines for alerts (fleet-alerts) and presence (car_online / car_offline, and with --connections
 * car_connected / car_disconnected, from fleet-events):
 *   [20:15:32] 🚨 CAR-003    | ALERT RAISED    | battery_critical | CRITICAL | battery 12.1%
 *   [20:15:40] 🔶 CAR-017    | ALERT RAISED    | overspeed | WARNING | 112.4 km/h, limit 100 km/h, held 12 s
 *   [20:16:02] ✅ CAR-017    | ALERT CLEARED   | overspeed | WARNING | 54.0 km/h, max 118.2 km/h
 *   [20:16:05] 📴 CAR-042    | OFFLINE | timeout | last seen 20:15:33 (32 s before) | held by ingestion-a
 *   [20:16:20] 📶 CAR-042    | ONLINE  | reconnected | ingestion-a
 * Colours: critical red, warning yellow, info cyan, cleared dim, acknowledged cyan; online green,
 * offline red (timeout, instance lost) or yellow (stream closed); connectivity dim.
 */
import type { AlertView, PresenceView } from './event.js';
import { clockTime, formatLatency, paint, type RenderOptions } from './render.js';

type Style = Parameters<typeof paint>[1];

const SEVERITY_STYLE: Record<AlertView['severity'], Style> = { critical: ['red', 'bold'], warning: 'yellow', info: 'cyan' };
const SEVERITY_ICON: Record<AlertView['severity'], string> = { critical: '🚨', warning: '🔶', info: '🔷' };

export function alertIcon(e: AlertView): string {
  if (e.action === 'cleared') return '✅';
  if (e.action === 'acknowledged') return '👤';
  return SEVERITY_ICON[e.severity];
}

/** The style of the whole line's label: cleared dim, acknowledged cyan, else by severity. */
export function alertStyle(e: AlertView): Style {
  if (e.action === 'cleared') return 'dim';
  if (e.action === 'acknowledged') return 'cyan';
  return SEVERITY_STYLE[e.severity];
}

const round = (v: number, digits: number) => v.toFixed(digits).replace(/\.0+$/, '');

/** How known values read; anything else reads `key value`. `undefined` = left out (thresholds, instants). */
const VALUE_WORDS: Record<string, (v: number | string | boolean | null) => string | undefined> = {
  battery: (v) => (typeof v === 'number' ? `battery ${v.toFixed(1)}%` : undefined),
  velocity: (v) => (typeof v === 'number' ? `${v.toFixed(1)} km/h` : undefined),
  limit_kmh: (v) => (typeof v === 'number' ? `limit ${round(v, 1)} km/h` : undefined),
  max_kmh: (v) => (typeof v === 'number' ? `max ${v.toFixed(1)} km/h` : undefined),
  held_s: (v) => (typeof v === 'number' ? `held ${formatLatency(v * 1000)}` : undefined),
  stalled_s: (v) => (typeof v === 'number' ? `stalled ${formatLatency(v * 1000)}` : undefined),
  meter_kwh: (v) => (typeof v === 'number' ? `meter ${v.toFixed(2)} kWh` : undefined),
  station_id: (v) => (typeof v === 'string' && v !== '' ? `station ${v}` : undefined),
  reason: (v) => (typeof v === 'string' && v !== '' ? v : undefined),
  instance: (v) => (typeof v === 'string' && v !== '' ? `on ${v}` : undefined),
  charging: () => undefined,
  low_pct: () => undefined,
  critical_pct: () => undefined,
  new_stay: () => undefined,
  since: () => undefined,
  last_seen: () => undefined,
  newer_telemetry: () => undefined,
};

/** The values behind an alert, in words, at most `max` characters. */
export function valueWords(values: AlertView['values'], max = 100): string {
  const words: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    const known = Object.hasOwn(VALUE_WORDS, key) ? VALUE_WORDS[key]! : undefined;
    // Instants (…_at) are epoch milliseconds: noise on a line that has its own time.
    if (!known && key.endsWith('_at')) continue;
    const word = known ? known(value) : value === null ? undefined : `${key} ${typeof value === 'number' ? round(value, 2) : String(value)}`;
    if (word !== undefined) words.push(word);
  }
  const line = words.join(', ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export function alertLine(e: AlertView, o: RenderOptions): string {
  const c = o.color;
  const style = alertStyle(e);
  const parts = [
    `${paint(`[${clockTime(e.timestamp, o.utc)}]`, 'dim', c)} ${alertIcon(e)} ${paint(e.carId.padEnd(10), 'bold', c)}`,
    paint(`ALERT ${e.action.toUpperCase()}`.padEnd(18), style, c),
    paint(e.rule, e.action === 'cleared' ? 'dim' : 'bold', c),
    paint(e.severity.toUpperCase(), e.action === 'cleared' ? 'dim' : SEVERITY_STYLE[e.severity], c),
  ];
  const words = valueWords(e.values);
  if (words) parts.push(e.action === 'cleared' ? paint(words, 'dim', c) : words);
  if (e.action === 'acknowledged' && e.operator) parts.push(`by ${e.operator}`);
  return parts.join(' | ');
}

const PRESENCE = {
  car_online: { icon: '📶', label: 'ONLINE' },
  car_offline: { icon: '📴', label: 'OFFLINE' },
  car_connected: { icon: '🔗', label: 'CONNECTED' },
  car_disconnected: { icon: '🔗', label: 'DISCONNECTED' },
} as const;

/** Online green; offline red when the car went silent or its instance was lost, yellow when its stream closed; connectivity dim. */
export function presenceStyle(e: PresenceView): Style {
  if (e.type === 'car_online') return ['green', 'bold'];
  if (e.type === 'car_offline') return e.reason === 'stream_closed' ? ['yellow', 'bold'] : ['red', 'bold'];
  return 'dim';
}

export function presenceLine(e: PresenceView, o: RenderOptions): string {
  const c = o.color;
  const { icon, label } = PRESENCE[e.type];
  const parts = [
    `${paint(`[${clockTime(e.timestamp, o.utc)}]`, 'dim', c)} ${icon} ${paint(e.carId.padEnd(10), 'bold', c)}`,
    paint(label.padEnd(e.type === 'car_online' || e.type === 'car_offline' ? 7 : 12), presenceStyle(e), c),
  ];
  if (e.reason) parts.push(e.reason);
  if (e.type === 'car_offline') {
    if (e.lastSeen !== undefined) parts.push(`last seen ${clockTime(e.lastSeen, o.utc)} (${formatLatency(Math.max(0, e.timestamp - e.lastSeen))} before)`);
    if (e.heldBy) parts.push(`held by ${e.heldBy}`);
  } else if (e.instance) {
    parts.push(e.instance);
  }
  if (e.peer && (e.type === 'car_connected' || e.type === 'car_disconnected')) parts.push(e.peer);
  return parts.join(' | ');
}
