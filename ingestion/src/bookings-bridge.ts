/**
 * The seam between ingestion and the bookings module (src/bookings/index.ts, issue 4). Ingestion
 * gives the desk what only it has: the topic, the grid price, and the cars' open streams. The
 * module is loaded at start when present; without it every CarStatus gets the plain ack.
 */
import type { BookingEvent, Logger, RedisClient } from '@greenlane/common';
import type { BookingResponse, CarStatus } from '@greenlane/common/gen/fleet/fleet';

export interface BookingDeskDeps {
  redis: RedisClient;
  log: Logger;
  /** Produces to the fleet topic keyed by car id; resolves when Kafka acknowledged them. */
  publish: (events: BookingEvent[]) => Promise<void>;
  /** The grid's price per kWh now. */
  currentPrice: () => Promise<number>;
  /** Writes to the car's stream on this instance; false when the car is not connected here. */
  notifyCar: (carId: string, response: BookingResponse) => boolean;
  env: Record<string, string | undefined>;
}

export interface BookingDesk {
  request(status: CarStatus): Promise<BookingResponse>;
  observe(status: CarStatus): Promise<void>;
  stationsReport(): Promise<unknown>;
  close(): Promise<void>;
}

type BookingsModule = { createBookingDesk(deps: BookingDeskDeps): Promise<BookingDesk> };

/** The desk, or undefined when the bookings module is not part of this build. */
export async function loadBookingDesk(deps: BookingDeskDeps): Promise<BookingDesk | undefined> {
  let mod: BookingsModule;
  try {
    // A computed specifier, so this file compiles whether or not the module exists yet.
    const specifier = new URL('./bookings/index.js', import.meta.url).href;
    mod = (await import(specifier)) as BookingsModule;
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    if (code === 'ERR_MODULE_NOT_FOUND' && message?.includes('bookings/index.js') === true) {
      deps.log.warn('bookings module not present: booking requests get the plain acknowledgement');
      return undefined;
    }
    throw error;
  }
  return mod.createBookingDesk(deps);
}
