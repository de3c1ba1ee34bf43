/**
 * The seam between ingestion and the bookings module (src/bookings/, issue 4). Ingestion gives the
 * desk what only it has: the topic, the grid price, and the cars' open streams; the stream handler
 * hands it every durable CarStatus (observe) and the booking requests (request).
 */
import { createBookingDesk, type BookingDesk, type BookingDeskDeps } from './bookings/index.js';

export type { BookingDesk, BookingDeskDeps };

export function openBookingDesk(deps: BookingDeskDeps): Promise<BookingDesk> {
  return createBookingDesk(deps);
}
