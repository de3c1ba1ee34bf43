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

export type EventView = TelemetryView | BookingView | CommandView;

/** The statuses a command ends in. */
export const FINAL_COMMAND_STATUSES: ReadonlySet<string> = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'EXPIRED']);

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

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

export function parseEvent(text: string): EventView | undefined {
  try {
    return toEventView(JSON.parse(text));
  } catch {
    return undefined;
  }
}
