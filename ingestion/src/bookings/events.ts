/**
 * Booking events on fleet-events (CONTRACTS.md). Confirmed and expired events get an event_id
 * derived from the booking, so a re-delivery (asking again, a retried expiry notice) is one a
 * consumer can drop as a duplicate.
 */
import { randomUUID } from 'node:crypto';
import type { BookingEvent, BookingEventType } from '@greenlane/common';

export interface BookingEventFields {
  car_id: string;
  booking_id: string;
  station_id: string;
  price_rate: number;
  timestamp: number;
  message: string;
  position?: { lat: number; lon: number; battery: number; velocity: number };
}

export function bookingEventId(type: BookingEventType, bookingId: string): string {
  return type === 'booking_failed' || bookingId === '' ? randomUUID() : `${type}:${bookingId}`;
}

export function bookingEvent(type: BookingEventType, f: BookingEventFields): BookingEvent {
  const event: BookingEvent = {
    event_type: type,
    event_id: bookingEventId(type, f.booking_id),
    car_id: f.car_id,
    booking_id: f.booking_id,
    station_id: f.station_id,
    price_rate: f.price_rate,
    timestamp: f.timestamp,
    message: f.message,
  };
  if (f.position) {
    event.lat = f.position.lat;
    event.lon = f.position.lon;
    event.battery = f.position.battery;
    event.velocity = f.position.velocity;
  }
  return event;
}
