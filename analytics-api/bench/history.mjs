// Generated history for the benches: `cars` cars over `days` days at one sample per car per minute,
// written by the database itself (INSERT ... SELECT generate_series, a day at a time), in
// car_telemetry and charging_sessions as the services create them. Each car's day: drives
// 06:00-07:00, parks, drives 14:00-15:00, parks, drives 17:40-18:40, charges 18:40-19:10 at one
// of 50 stations (30 samples of 0.2 kWh), parks; the pattern shifted by car.
export const DAY_MINUTES = 1440;

export function telemetryDay(dayStartMs, cars) {
  return {
    text: `INSERT INTO car_telemetry (time, car_id, event_id, lat, lon, battery, velocity, station_id, charging, interval_s, distance_km)
           SELECT to_timestamp(($1::float8 + m * 60000) / 1000.0), car, car || '-' || ($1::bigint / 60000 + m), lat, lon,
                  battery, v, CASE WHEN ch THEN 'ST-' || lpad((c % 50)::text, 3, '0') END, ch, 60, v / 60.0
           FROM generate_series(0, $2::int - 1) c
           CROSS JOIN generate_series(0, ${DAY_MINUTES - 1}) m
           CROSS JOIN LATERAL (SELECT 'CAR-' || lpad(c::text, 5, '0') AS car, (m + c * 7) % ${DAY_MINUTES} AS p) k
           CROSS JOIN LATERAL (SELECT
             CASE WHEN p BETWEEN 360 AND 419 OR p BETWEEN 840 AND 899 OR p BETWEEN 1060 AND 1119 THEN 20 + (c % 25) + (m % 9) ELSE 0 END::float8 AS v,
             p BETWEEN 1120 AND 1149 AS ch,
             40.70 + (c % 150) * 0.001 + (p % 60) * 0.0004 AS lat,
             -74.02 + (c % 90) * 0.001 + (p % 45) * 0.0003 AS lon,
             CASE WHEN p < 1120 THEN 90 - p * 0.06 WHEN p < 1150 THEN 22.8 + (p - 1120) * 2.2 ELSE 88 END AS battery) s`,
    values: [dayStartMs, cars],
  };
}

export function chargingDay(dayStartMs, cars) {
  return {
    text: `INSERT INTO charging_sessions (time, session_id, station_id, car_id, kwh_usage, price_rate, meter_kwh)
           SELECT to_timestamp(($1::float8 + m * 60000) / 1000.0), car || '@' || ($1::bigint / 86400000), 'ST-' || lpad((c % 50)::text, 3, '0'), car,
                  0.2, 0.25 + 0.1 * ((m / 60) % 3), 0.2 * (p - 1119)
           FROM generate_series(0, $2::int - 1) c
           CROSS JOIN generate_series(0, ${DAY_MINUTES - 1}) m
           CROSS JOIN LATERAL (SELECT 'CAR-' || lpad(c::text, 5, '0') AS car, (m + c * 7) % ${DAY_MINUTES} AS p) k
           WHERE p BETWEEN 1120 AND 1149`,
    values: [dayStartMs, cars],
  };
}
