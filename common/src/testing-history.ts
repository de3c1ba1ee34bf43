/**
 * A small, hand-checkable history for the tests of the analyst queries and the analytics API,
 * inserted straight into car_telemetry and charging_sessions (the schema of migrate() and
 * migrateTelemetry() must exist), one sample per car per minute from START for 90 minutes:
 *
 * - CAR-A drives minutes 0-29 (30 km/h, 0.5 km and -0.5 % a minute), stands still 30-39, drives
 *   40-59, then charges at ST-1 60-89 (+1 % a minute). Battery 50 → 35.5 → 25.5 → 55.5.
 * - CAR-B stands at 10 % battery the whole time (never charging).
 * - CAR-C drives the whole time at 40 km/h, 0.5 km a minute, battery 25 − 0.2·i (below 20 from i = 26).
 * - charging_sessions: CAR-A's stay at ST-1 (minutes 60-89, 0.5 kWh at $0.30 each) and CAR-E's at
 *   ST-2 (minutes 0-59, 0.25 kWh at $0.20 each).
 *
 * interval_s is 60 (0 for a car's first sample), distance_km is 0.5 on a driving minute after the
 * first. EXPECTED holds the figures these give, worked out by hand.
 */
import type pg from 'pg';

export const HISTORY_START = Date.UTC(2020, 0, 6, 10, 0, 0);
const MIN = 60_000;

interface Row {
  car: string; i: number; lat: number; lon: number; battery: number; velocity: number; station: string | null; charging: boolean; km: number;
}

function carRows(): Row[] {
  const rows: Row[] = [];
  let battery = 50;
  let lat = 40.7;
  for (let i = 0; i < 90; i++) {
    const driving = i < 30 || (i >= 40 && i < 60);
    const charging = i >= 60;
    if (i > 0 && driving) {
      battery -= 0.5;
      lat += 0.0045;
    }
    if (charging) battery += 1;
    rows.push({ car: 'CAR-A', i, lat, lon: -73.98, battery, velocity: driving ? 30 : 0, station: charging ? 'ST-1' : null, charging, km: i > 0 && driving ? 0.5 : 0 });
    rows.push({ car: 'CAR-B', i, lat: 40.75, lon: -73.99, battery: 10, velocity: 0, station: null, charging: false, km: 0 });
    rows.push({ car: 'CAR-C', i, lat: 40.71 + 0.0045 * i, lon: -73.97, battery: 25 - 0.2 * i, velocity: 40, station: null, charging: false, km: i > 0 ? 0.5 : 0 });
  }
  // CAR-A row 0 is a driving row with the starting battery (no decrement before its first sample).
  return rows;
}

export async function insertKnownHistory(client: pg.ClientBase): Promise<void> {
  const rows = carRows();
  await client.query(
    `INSERT INTO car_telemetry (time, car_id, event_id, lat, lon, battery, velocity, station_id, charging, interval_s, distance_km)
     SELECT to_timestamp(($1::float8 + u.i * 60000) / 1000.0), u.car, u.car || '-' || u.i, u.lat, u.lon, u.battery, u.velocity, u.station, u.charging,
            CASE WHEN u.i = 0 THEN 0 ELSE 60 END, u.km
     FROM unnest($2::text[], $3::int[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::text[], $9::bool[], $10::float8[])
       AS u(car, i, lat, lon, battery, velocity, station, charging, km)`,
    [HISTORY_START, rows.map((r) => r.car), rows.map((r) => r.i), rows.map((r) => r.lat), rows.map((r) => r.lon), rows.map((r) => r.battery),
      rows.map((r) => r.velocity), rows.map((r) => r.station), rows.map((r) => r.charging), rows.map((r) => r.km)],
  );
  await client.query(
    `INSERT INTO charging_sessions (time, session_id, station_id, car_id, kwh_usage, price_rate, meter_kwh)
     SELECT to_timestamp(($1::float8 + i * 60000) / 1000.0), 'stay-a', 'ST-1', 'CAR-A', 0.5, 0.3, 0.5 * (i - 59) FROM generate_series(60, 89) i
     UNION ALL
     SELECT to_timestamp(($1::float8 + i * 60000) / 1000.0), 'stay-e', 'ST-2', 'CAR-E', 0.25, 0.2, 0.25 * (i + 1) FROM generate_series(0, 59) i`,
    [HISTORY_START],
  );
}

export const at = (minutes: number): string => new Date(HISTORY_START + minutes * MIN).toISOString();

export const EXPECTED = {
  /** Samples per car. */
  samplesPerCar: 90,
  tripsA: [
    { started: at(0), ended: at(29), samples: 30, distance_km: 14.5, start_battery: 50, end_battery: 35.5 },
    { started: at(40), ended: at(59), samples: 20, distance_km: 10, start_battery: 35, end_battery: 25.5 },
  ],
  /** CAR-A's battery per 30-minute bucket: average, min, max. */
  batteryA30m: [
    { time: at(0), value: 42.75, min: 35.5, max: 50, samples: 30 },
    { time: at(30), value: (355 + 605) / 30, min: 25.5, max: 35.5, samples: 30 },
    { time: at(60), value: 41, min: 26.5, max: 55.5, samples: 30 },
  ],
  /** Minutes below 20 % battery, not charging: B all but its first sample, C from i = 26. */
  lowBattery: [
    { car_id: 'CAR-B', minutes: 89 },
    { car_id: 'CAR-C', minutes: 64 },
  ],
  /** Energy and cost per hour and station. */
  energyByHour: [
    { hour: at(0), station_id: 'ST-2', kwh: 15, cost: 3 },
    { hour: at(60), station_id: 'ST-1', kwh: 15, cost: 4.5 },
  ],
  stays: {
    'CAR-A': [{ session_id: 'stay-a', station_id: 'ST-1', started: at(60), ended: at(89), samples: 30, kwh: 15, cost: 4.5 }],
  },
  /** Over [START, START + 2 h). */
  stations: [
    { station_id: 'ST-1', stays: 1, cars: 1, samples: 30, kwh: 15, cost: 4.5, charging_hours: 29 / 60, avg_cars_charging: (29 * 60) / 7200 },
    { station_id: 'ST-2', stays: 1, cars: 1, samples: 60, kwh: 15, cost: 3, charging_hours: 59 / 60, avg_cars_charging: (59 * 60) / 7200 },
  ],
  fleet: [
    { hour: at(0), car_minutes: 180, samples: 180, distance_km: 14.5 + 10 + 29.5, max_speed_kmh: 40, min_battery: 10, avg_speed_kmh: (50 * 30 + 60 * 40) / 180, charging_hours: 0 },
    { hour: at(60), car_minutes: 90, samples: 90, distance_km: 15, max_speed_kmh: 40, min_battery: 25 - 0.2 * 89, avg_speed_kmh: (30 * 40) / 90, charging_hours: 0.5 },
  ],
};
