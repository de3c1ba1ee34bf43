/**
 * Reading a Kafka value into a fleet event. The CLI relies only on the contract's minimum fields
 * and tolerates anything else; a value it cannot read is counted, not fatal.
 */
export interface TelemetryView {
  kind: 'telemetry';
  carId: string;
  lat: number;
  lon: number;
  battery: number;
  velocity: number;
  timestamp: number;
  stationId?: string;
  charging?: boolean;
}

export type BookingKind = 'booking_confirmed' | 'booking_failed' | 'booking_expired';

export interface BookingView {
  kind: BookingKind;
  carId: string;
  bookingId: string;
  stationId: string;
  priceRate: number;
  timestamp: number;
  message?: string;
  battery?: number;
}

/** One change of an operator command's status, from `fleet-commands` (`event_type: command_status`). */
export interface CommandView {
  kind: 'command';
  carId: string;
  commandId: string;
  /** EMERGENCY_STOP, RESUME, ... as the command API names it. */
  command: string;
  /** QUEUED, SENT, DELIVERED, SUCCEEDED, FAILED, TIMED_OUT, EXPIRED. */
  status: string;
  /** When the status changed (unix ms). */
  timestamp: number;
  /** From the API accepting the command to this change. */
  latencyMs?: number;
  reason?: string;
  instance?: string;
  deliveries?: number;
}

export type AlertAction = 'raised' | 'refreshed' | 'cleared' | 'acknowledged';
export type Severity = 'critical' | 'warning' | 'info';

/** One alert event from `fleet-alerts` (`event_type: alert_raised | alert_refreshed | alert_cleared | alert_acknowledged`). */
export interface AlertView {
  kind: 'alert';
  carId: string;
  alertId: string;
  action: AlertAction;
  /** battery_low, overspeed, offline, ... as the alert engine names it. */
  rule: string;
  severity: Severity;
  /** When the transition happened (unix ms, `at`). */
  timestamp: number;
  /** The values that triggered it (numbers, strings, booleans; anything else is left out). */
  values: Record<string, number | string | boolean | null>;
  operator?: string;
}

export type PresenceKind = 'car_online' | 'car_offline' | 'car_connected' | 'car_disconnected';

/** A presence change (`car_online` / `car_offline`) or a connectivity event (`car_connected` / `car_disconnected`) from fleet-events. */
export interface PresenceView {
  kind: 'presence';
  type: PresenceKind;
  carId: string;
  timestamp: number;
  reason?: string;
  instance?: string;
  peer?: string;
  /** car_offline: the last message heard from the car (unix ms). */
  lastSeen?: number;
  /** car_offline: the instance that held its stream. */
  heldBy?: string;
}

export type EventView = TelemetryView | BookingView | CommandView | AlertView | PresenceView;

/** Presence changes proper; connectivity events are the noisy other half. */
export const isPresenceChange = (e: EventView): boolean => e.kind === 'presence' && (e.type === 'car_online' || e.type === 'car_offline');
export const isConnectivity = (e: EventView): boolean => e.kind === 'presence' && (e.type === 'car_connected' || e.type === 'car_disconnected');

/** The statuses a command ends in. */
export const FINAL_COMMAND_STATUSES: ReadonlySet<string> = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'EXPIRED']);

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
// Control characters (an escape sequence in a car id, a newline in a reason) never reach the terminal.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
/** A string fit for the screen: control characters removed, at most `max` characters. */
export function clean(v: string, max = 200): string {
  const text = v.replace(CONTROL, '');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
const text = (v: unknown, max = 200): string | undefined => (typeof v === 'string' ? clean(v, max) : undefined);

// A Map, not an object: an event_type of "constructor" or "__proto__" must find nothing.
const ALERT_ACTIONS: ReadonlyMap<string, AlertAction> = new Map([
  ['alert_raised', 'raised'],
  ['alert_refreshed', 'refreshed'],
  ['alert_cleared', 'cleared'],
  ['alert_acknowledged', 'acknowledged'],
]);
const SEVERITIES: ReadonlySet<string> = new Set(['critical', 'warning', 'info']);
const PRESENCE_TYPES: ReadonlySet<string> = new Set(['car_online', 'car_offline', 'car_connected', 'car_disconnected']);

function toAlertView(e: Record<string, unknown>, action: AlertAction): AlertView | undefined {
  const carId = text(e.car_id, 64);
  const alertId = text(e.alert_id, 128);
  const rule = text(e.rule, 64);
  const severity = str(e.severity);
  const at = num(e.at);
  if (!carId || !alertId || !rule || severity === undefined || !SEVERITIES.has(severity) || at === undefined) return undefined;
  const values: AlertView['values'] = {};
  if (typeof e.values === 'object' && e.values !== null && !Array.isArray(e.values)) {
    for (const [k, v] of Object.entries(e.values as Record<string, unknown>).slice(0, 20)) {
      const key = clean(k, 32);
      if (typeof v === 'number' && Number.isFinite(v)) values[key] = v;
      else if (typeof v === 'string') values[key] = clean(v, 64);
      else if (typeof v === 'boolean' || v === null) values[key] = v;
    }
  }
  const view: AlertView = { kind: 'alert', carId, alertId, action, rule, severity: severity as Severity, timestamp: at, values };
  const operator = text(e.operator, 64);
  if (operator) view.operator = operator;
  return view;
}

function toPresenceView(e: Record<string, unknown>, type: PresenceKind): PresenceView | undefined {
  const carId = text(e.car_id, 64);
  const timestamp = num(e.timestamp);
  if (!carId || timestamp === undefined) return undefined;
  const view: PresenceView = { kind: 'presence', type, carId, timestamp };
  const reason = text(e.reason, 64);
  if (reason) view.reason = reason;
  const instance = text(e.instance, 64);
  if (instance) view.instance = instance;
  const peer = text(e.peer, 64);
  if (peer) view.peer = peer;
  const lastSeen = num(e.last_seen);
  if (lastSeen !== undefined && lastSeen > 0) view.lastSeen = lastSeen;
  const heldBy = text(e.held_by, 64);
  if (heldBy) view.heldBy = heldBy;
  return view;
}

function toCommandView(e: Record<string, unknown>): CommandView | undefined {
  const carId = str(e.car_id);
  const commandId = str(e.command_id);
  const command = str(e.command);
  const status = str(e.status);
  const at = num(e.at);
  if (!carId || !commandId || !command || !status || at === undefined) return undefined;
  const view: CommandView = { kind: 'command', carId, commandId, command, status, timestamp: at };
  const issuedAt = num(e.issued_at);
  const latency = num(e.latency_ms) ?? (issuedAt !== undefined && issuedAt > 0 ? at - issuedAt : undefined);
  if (latency !== undefined) view.latencyMs = latency;
  const reason = str(e.reason);
  if (reason) view.reason = reason;
  const instance = str(e.instance);
  if (instance) view.instance = instance;
  const deliveries = num(e.deliveries);
  if (deliveries !== undefined) view.deliveries = deliveries;
  return view;
}

export function toEventView(value: unknown): EventView | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const e = value as Record<string, unknown>;
  if (e.event_type === 'command_status') return toCommandView(e);
  if (typeof e.event_type === 'string') {
    const action = ALERT_ACTIONS.get(e.event_type);
    if (action !== undefined) return toAlertView(e, action);
    if (PRESENCE_TYPES.has(e.event_type)) return toPresenceView(e, e.event_type as PresenceKind);
  }
  const carId = str(e.car_id);
  const timestamp = num(e.timestamp);
  if (carId === undefined || timestamp === undefined) return undefined;
  const type = e.event_type;
  if (type === 'telemetry' || type === undefined) {
    const lat = num(e.lat);
    const lon = num(e.lon);
    const battery = num(e.battery);
    const velocity = num(e.velocity);
    if (lat === undefined || lon === undefined || battery === undefined || velocity === undefined) return undefined;
    const view: TelemetryView = { kind: 'telemetry', carId, lat, lon, battery, velocity, timestamp };
    const stationId = str(e.station_id);
    if (stationId) view.stationId = stationId;
    if (e.charging === true) view.charging = true;
    return view;
  }
  if (type === 'booking_confirmed' || type === 'booking_failed' || type === 'booking_expired') {
    const view: BookingView = {
      kind: type,
      carId,
      bookingId: str(e.booking_id) ?? '',
      stationId: str(e.station_id) ?? '',
      priceRate: num(e.price_rate) ?? 0,
      timestamp,
    };
    const message = str(e.message);
    if (message) view.message = message;
    const battery = num(e.battery);
    if (battery !== undefined) view.battery = battery;
    return view;
  }
  return undefined;
}

export function parseEvent(value: string): EventView | undefined {
  try {
    return toEventView(JSON.parse(value));
  } catch {
    return undefined;
  }
}

/**
 * What a value the CLI does not show is: an event of a type it does not know (a newer producer's:
 * skipped, counted apart) or something it cannot read at all.
 */
export function unreadKind(value: string): 'other-type' | 'unreadable' {
  try {
    const e: unknown = JSON.parse(value);
    if (typeof e !== 'object' || e === null) return 'unreadable';
    const type = (e as Record<string, unknown>).event_type;
    return typeof type === 'string' && type !== 'telemetry' && !ALERT_ACTIONS.has(type) && !PRESENCE_TYPES.has(type) &&
      !['booking_confirmed', 'booking_failed', 'booking_expired', 'command_status'].includes(type)
      ? 'other-type'
      : 'unreadable';
  } catch {
    return 'unreadable';
  }
}
