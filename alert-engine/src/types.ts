/** The engine's vocabulary: decoded inputs, rule verdicts, per-car state, alert transitions. */

export const RULES = ['battery_low', 'overspeed', 'offline', 'charging_stalled', 'outside_service_area', 'booking_no_show'] as const;
export type RuleName = (typeof RULES)[number];
export type Severity = 'warning' | 'critical';
export const SEVERITIES: readonly Severity[] = ['warning', 'critical'];
export type Transition = 'raised' | 'refreshed' | 'cleared' | 'acknowledged';

export interface Telemetry {
  kind: 'telemetry';
  eventId: string;
  carId: string;
  /** The car's own timestamp, ms. */
  ts: number;
  lat: number;
  lon: number;
  battery: number;
  velocity: number;
  /** Non-empty when plugged in. */
  stationId: string | undefined;
  charging: boolean;
  energyKwh: number | undefined;
  pluggedInAt: number | undefined;
  late: boolean;
}

export interface BookingExpired {
  kind: 'booking_expired';
  eventId: string;
  carId: string;
  ts: number;
  bookingId: string;
  stationId: string;
}

export interface Presence {
  kind: 'presence';
  eventId: string;
  carId: string;
  ts: number;
  online: boolean;
  instance: string | undefined;
  reason: string | undefined;
  lastSeen: number | undefined;
  /** car_offline: the instance that held the car's stream (the ingestion's `held_by`). */
  heldBy?: string | undefined;
}

export type Input = Telemetry | BookingExpired | Presence;

/**
 * What one rule says about one event: the condition holds (with its severity and the values that
 * show it), it does not (any active alert of the rule clears), or undefined: nothing either way.
 */
export type Verdict = { holds: true; severity: Severity; values: Record<string, unknown> } | { holds: false; values: Record<string, unknown> };

export interface ActiveAlert {
  id: string;
  severity: Severity;
  raisedAt: number;
  /** `at` of the last raised/refreshed event sent (the refresh rate limit counts from it). */
  sentAt: number;
}

/** Each rule's own memory for one car (what it needs from earlier events). */
export interface RuleMemory {
  overspeed?: { since: number; max: number };
  charging_stalled?: { stay: string; meter: number; since: number };
  offline?: { lastSeen: number };
  booking_no_show?: { until: number };
}

export interface CarState {
  v: 1;
  /** Newest in-order telemetry timestamp applied (car's clock); older or equal ones change nothing. */
  ts: number;
  /** Newest presence event timestamp applied. */
  presenceTs: number;
  /** Recent event ids of non-telemetry events (bookings, presence), for dropping duplicates. */
  ids: string[];
  /** Station the car was plugged in at in its newest telemetry. */
  plugged: string | undefined;
  memory: RuleMemory;
  active: Partial<Record<RuleName, ActiveAlert>>;
}

export function newCarState(): CarState {
  return { v: 1, ts: 0, presenceTs: 0, ids: [], plugged: undefined, memory: {}, active: {} };
}

/** One alert event, as on fleet-alerts and in fleet_alerts. */
export interface AlertEvent {
  event_type: `alert_${Transition}`;
  event_id: string;
  alert_id: string;
  car_id: string;
  rule: RuleName;
  severity: Severity;
  /** The instant of the event that caused the transition (the car's clock for telemetry). */
  at: number;
  raised_at: number;
  values: Record<string, unknown>;
  /** The fleet event behind it (absent for acknowledgements). */
  trigger_event_id?: string;
  operator?: string;
  note?: string;
}

export function transitionOf(event: AlertEvent): Transition {
  return event.event_type.slice('alert_'.length) as Transition;
}
