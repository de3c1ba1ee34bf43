/**
 * Test fixtures: a generated fleet's telemetry events with what car_telemetry must hold for them
 * (distances computed here with the haversine formula, independently of the writer's SQL), and
 * the history writer as a child process.
 */
import { freePort, metricSum, spawnProgram, waitReady, type Child } from '@greenlane/common/testing-programs';
import { testServers } from '@greenlane/common/testing';

export interface CarTotals {
  samples: number;
  distanceKm: number;
  intervalS: number;
  chargingS: number;
}

export interface Fleet {
  events: Array<{ key: string; value: string }>;
  /** Distinct telemetry events (rows car_telemetry must have). */
  telemetry: number;
  totals: Map<string, CarTotals>;
}

export function haversineKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const r = (d: number) => (d * Math.PI) / 180;
  const a = Math.sin(r(lat2 - lat1) / 2) ** 2 + Math.cos(r(lat1)) * Math.cos(r(lat2)) * Math.sin(r(lon2 - lon1) / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(a)));
}

/**
 * `cars` cars, `samples` telemetry events each, `intervalMs` apart from `startMs`, each driving
 * north-east a little per sample, then plugged in and charging for its last quarter; a booking
 * event per car (not history). Event ids as the ingestion makes them: unique per CarStatus.
 */
export function generateFleet(opts: { cars: number; samples: number; startMs: number; intervalMs?: number; prefix?: string }): Fleet {
  const interval = opts.intervalMs ?? 2000;
  const prefix = opts.prefix ?? 'HW';
  const perCar: Array<Array<{ key: string; value: string }>> = [];
  const totals = new Map<string, CarTotals>();
  for (let c = 0; c < opts.cars; c++) {
    const car = `${prefix}-${String(c).padStart(4, '0')}`;
    const list: Array<{ key: string; value: string }> = [];
    const t: CarTotals = { samples: 0, distanceKm: 0, intervalS: 0, chargingS: 0 };
    let lat = 40.70 + c * 0.001;
    let lon = -74.0;
    const chargingFrom = Math.floor(opts.samples * 0.75);
    const plugged = opts.startMs + chargingFrom * interval;
    for (let i = 0; i < opts.samples; i++) {
      const charging = i >= chargingFrom;
      const [plat, plon] = [lat, lon];
      if (!charging) {
        lat += 0.0002 * ((c % 3) + 1);
        lon += 0.0001 * ((i % 4) + 1);
      }
      const timestamp = opts.startMs + i * interval;
      if (i > 0) {
        t.distanceKm += haversineKm(plat, plon, lat, lon);
        t.intervalS += interval / 1000;
        if (charging) t.chargingS += interval / 1000;
      }
      t.samples++;
      const event: Record<string, unknown> = {
        event_id: `${car}-${i}`, event_type: 'telemetry', car_id: car, lat, lon, battery: 90 - i * 0.05, velocity: charging ? 0 : 20 + (i % 10), timestamp,
      };
      if (charging) Object.assign(event, { station_id: `ST-${c % 3}`, charging: true, charge_energy_kwh: (i - chargingFrom) * 0.1, plugged_in_at: plugged });
      list.push({ key: car, value: JSON.stringify(event) });
    }
    list.push({ key: car, value: JSON.stringify({ event_type: 'booking_confirmed', event_id: `${car}-b`, car_id: car, booking_id: `B-${car}`, station_id: 'ST-0', price_rate: 0.3, timestamp: opts.startMs }) });
    totals.set(car, t);
    perCar.push(list);
  }
  const events: Array<{ key: string; value: string }> = [];
  const longest = Math.max(0, ...perCar.map((l) => l.length));
  for (let i = 0; i < longest; i++) for (const list of perCar) if (i < list.length) events.push(list[i]!);
  return { events, telemetry: opts.cars * opts.samples, totals };
}

export interface WriterEnv {
  topic: string;
  group: string;
  databaseUrl: string;
  schema?: string;
}

export async function startWriter(w: WriterEnv, extra: Record<string, string> = {}): Promise<Child & { port: number }> {
  const port = await freePort();
  const child = spawnProgram('history-writer/dist/src/main.js', {
    KAFKA_BROKERS: testServers.kafkaBrokers.join(','),
    FLEET_EVENTS_TOPIC: w.topic,
    HISTORY_GROUP_ID: w.group,
    DATABASE_URL: w.databaseUrl,
    ...(w.schema ? { HISTORY_DB_SCHEMA: w.schema } : {}),
    HISTORY_HTTP_ADDR: `127.0.0.1:${port}`,
    HISTORY_MAX_BYTES_PER_PARTITION: '65536',
    HISTORY_SESSION_TIMEOUT_MS: '8000',
    ...extra,
  });
  await waitReady(child, 'history writer ready', `http://127.0.0.1:${port}/ready`);
  return { ...child, port };
}

/** Sum of a Prometheus metric's samples of the writer whose line contains `match`. */
export async function metric(port: number, name: string, match = ''): Promise<number> {
  return metricSum(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), name, match);
}
