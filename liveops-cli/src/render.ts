/**
 * The lines operators read, as pure functions of an event and the terminal's abilities. The plain
 * (colorless) telemetry line is exactly CONTRACTS.md "Live-ops CLI line":
 *   [20:15:32] 🟢 CAR-001    | Battery:  85.3% | Location: (40.7234, -73.9876) | Speed: 45.2 km/h
 */
import { FINAL_COMMAND_STATUSES, type AlertView, type BookingView, type CommandView, type EventView, type PresenceView, type TelemetryView } from './event.js';
import { alertLine, presenceLine } from './render-alerts.js';

export interface RenderOptions {
  color: boolean;
  /** Times in UTC instead of the operator's local time. */
  utc: boolean;
}

/** CRITICAL BATTERY! below this percentage. */
export const CRITICAL_BELOW = 15;

const ANSI = {
  reset: '\x1b[0m',
  bold: '\x1b[1m',
  dim: '\x1b[2m',
  red: '\x1b[31m',
  green: '\x1b[32m',
  yellow: '\x1b[33m',
  cyan: '\x1b[36m',
  magenta: '\x1b[35m',
} as const;

export function paint(text: string, style: keyof typeof ANSI | Array<keyof typeof ANSI>, color: boolean): string {
  if (!color) return text;
  const codes = (Array.isArray(style) ? style : [style]).map((s) => ANSI[s]).join('');
  return `${codes}${text}${ANSI.reset}`;
}

/** 🟢 above 50 %, 🟡 20–50 %, 🔴 below 20 %. */
export function batteryMarker(battery: number): '🟢' | '🟡' | '🔴' {
  return battery > 50 ? '🟢' : battery >= 20 ? '🟡' : '🔴';
}

export function isCritical(event: EventView): boolean {
  return event.kind === 'telemetry' && event.battery < CRITICAL_BELOW;
}

const two = (n: number) => (n < 10 ? `0${n}` : String(n));

export function clockTime(timestamp: number, utc: boolean): string {
  const d = new Date(timestamp);
  return utc
    ? `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`
    : `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

function batteryStyle(battery: number): 'green' | 'yellow' | 'red' {
  return battery > 50 ? 'green' : battery >= 20 ? 'yellow' : 'red';
}

export function telemetryLine(e: TelemetryView, o: RenderOptions): string {
  const c = o.color;
  const time = paint(`[${clockTime(e.timestamp, o.utc)}]`, 'dim', c);
  const car = paint(e.carId.padEnd(10), 'bold', c);
  const battery = paint(`${e.battery.toFixed(1).padStart(5)}%`, batteryStyle(e.battery), c);
  const location = `(${e.lat.toFixed(4)}, ${e.lon.toFixed(4)})`;
  const speed = `${e.velocity.toFixed(1).padStart(4)} km/h`;
  const line = `${time} ${batteryMarker(e.battery)} ${car} | Battery: ${battery} | Location: ${location} | Speed: ${speed}`;
  return e.battery < CRITICAL_BELOW ? `${line}  ${paint('CRITICAL BATTERY!', ['bold', 'red'], c)}` : line;
}

const BOOKING_STYLE = {
  booking_confirmed: { icon: '🔌', label: 'BOOKING CONFIRMED', style: 'cyan' },
  booking_failed: { icon: '⛔', label: 'BOOKING FAILED', style: 'magenta' },
  booking_expired: { icon: '⌛', label: 'BOOKING EXPIRED', style: 'yellow' },
} as const;

/**
 *   [20:15:40] 🔌 CAR-003    | BOOKING CONFIRMED | Station: ST-017 | Rate: $0.310/kWh | Booking: 5f0c…  (message)
 */
export function bookingLine(e: BookingView, o: RenderOptions): string {
  const c = o.color;
  const { icon, label, style } = BOOKING_STYLE[e.kind];
  const parts = [
    `${paint(`[${clockTime(e.timestamp, o.utc)}]`, 'dim', c)} ${icon} ${paint(e.carId.padEnd(10), 'bold', c)}`,
    paint(label, [style, 'bold'], c),
  ];
  if (e.stationId) parts.push(`Station: ${e.stationId}`);
  if (e.kind === 'booking_confirmed') parts.push(`Rate: $${e.priceRate.toFixed(3)}/kWh`);
  if (e.bookingId) parts.push(`Booking: ${e.bookingId.slice(0, 8)}`);
  const line = parts.join(' | ');
  return e.message ? `${line}  ${paint(e.message, 'dim', c)}` : line;
}

type Style = keyof typeof ANSI;

/** SUCCEEDED green; FAILED, TIMED_OUT, EXPIRED red; on the way (QUEUED dim, SENT and DELIVERED cyan). */
export function commandStatusStyle(status: string): Style[] {
  if (status === 'SUCCEEDED') return ['green', 'bold'];
  if (FINAL_COMMAND_STATUSES.has(status)) return ['red', 'bold'];
  return status === 'QUEUED' ? ['dim'] : ['cyan'];
}

/** 17 ms, 1.25 s, 2 min. */
export function formatLatency(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/**
 * One change of a command's status:
 *   [20:15:40] 📡 CAR-042    | EMERGENCY_STOP | SUCCEEDED  | 17 ms | 3f2a1b9c  the car's reason
 */
export function commandLine(e: CommandView, o: RenderOptions): string {
  const c = o.color;
  const parts = [
    `${paint(`[${clockTime(e.timestamp, o.utc)}]`, 'dim', c)} 📡 ${paint(e.carId.padEnd(10), 'bold', c)}`,
    paint(e.command, 'bold', c),
    paint(e.status.padEnd(10), commandStatusStyle(e.status), c),
  ];
  if (e.latencyMs !== undefined) parts.push(formatLatency(e.latencyMs));
  parts.push(e.commandId.slice(0, 8));
  let line = parts.join(' | ');
  if (e.deliveries !== undefined && e.deliveries > 1) line += paint(`  delivery ${e.deliveries}`, 'yellow', c);
  return e.reason ? `${line}  ${paint(e.reason, FINAL_COMMAND_STATUSES.has(e.status) && e.status !== 'SUCCEEDED' ? 'red' : 'dim', c)}` : line;
}

export function eventLine(e: EventView, o: RenderOptions): string {
  if (e.kind === 'telemetry') return telemetryLine(e, o);
  if (e.kind === 'command') return commandLine(e, o);
  if (e.kind === 'alert') return alertLine(e as AlertView, o);
  if (e.kind === 'presence') return presenceLine(e as PresenceView, o);
  return bookingLine(e, o);
}

/** NO_COLOR (any value) or a non-terminal output turns colors off. */
export function colorEnabled(env: Record<string, string | undefined>, isTTY: boolean): boolean {
  return isTTY && env.NO_COLOR === undefined;
}

export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${two(Math.floor(s / 3600))}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
}

const n = (v: number) => Math.round(v).toLocaleString('en-US');

export interface StatusFigures {
  eventsPerSec: number;
  carsSeen: number;
  /** Alerts active: raised and not yet cleared (per alert id), as seen since the start. */
  alerts: number;
  /** Cars whose last presence change was car_offline; undefined until the first presence change. */
  carsOffline?: number;
  /** Commands seen on their way and not yet ended; undefined until the first command event. */
  commandsInFlight?: number;
  uptimeMs: number;
  shownPerSec: number;
  sampledPerSec: number;
}

/** The status line: events/s, cars seen, active alerts, cars offline, commands in flight, uptime, and whether lines are being sampled. */
export function statusLine(f: StatusFigures, color: boolean): string {
  const parts = [
    `${n(f.eventsPerSec)} events/s`,
    `${n(f.carsSeen)} cars`,
    paint(`${n(f.alerts)} alerts`, f.alerts > 0 ? 'red' : 'dim', color),
    ...(f.carsOffline !== undefined ? [paint(`${n(f.carsOffline)} offline`, f.carsOffline > 0 ? 'yellow' : 'dim', color)] : []),
    ...(f.commandsInFlight !== undefined ? [paint(`${n(f.commandsInFlight)} commands in flight`, f.commandsInFlight > 0 ? 'cyan' : 'dim', color)] : []),
    `up ${formatDuration(f.uptimeMs)}`,
  ];
  if (f.sampledPerSec > 0) parts.push(paint(`sampling: showing ${n(f.shownPerSec)}/s of ${n(f.shownPerSec + f.sampledPerSec)}/s`, 'yellow', color));
  return paint('── ', 'dim', color) + parts.join(paint(' │ ', 'dim', color));
}

/** Said in the flow of lines when events outran the screen since the last note. */
export function sampledNote(hidden: number, seconds: number, maxLinesPerSec: number, color: boolean): string {
  return paint(
    `… ${n(hidden)} events not shown in the last ${seconds.toFixed(0)} s (sampling at ${maxLinesPerSec} lines/s; every alert is shown)`,
    'dim',
    color,
  );
}
