/**
 * The JSON events on `fleet-events` (CONTRACTS.md). The contract fields are the minimum every
 * consumer may rely on; producers may add more.
 */
export interface TelemetryEvent {
  event_type: 'telemetry';
  event_id: string;
  car_id: string;
  lat: number;
  lon: number;
  battery: number;
  velocity: number;
  timestamp: number;
  station_id?: string;
  charging?: boolean;
  charge_energy_kwh?: number;
  plugged_in_at?: number;
  /**
   * True when the car had already reported a newer state (its own clock) before this one arrived:
   * a buffered upload or a resend. The live index kept the newer state; history and pricing still
   * take this one. Absent otherwise. Not part of event_id, which names the CarStatus alone.
   */
  late?: true;
}

export type BookingEventType = 'booking_confirmed' | 'booking_failed' | 'booking_expired';

export interface BookingEvent {
  event_type: BookingEventType;
  event_id: string;
  car_id: string;
  booking_id: string;
  station_id: string;
  price_rate: number;
  timestamp: number;
  lat?: number;
  lon?: number;
  battery?: number;
  velocity?: number;
  message?: string;
}

export type FleetEvent = TelemetryEvent | BookingEvent;
