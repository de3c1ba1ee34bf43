-- One car's trajectory: every position it reported over a range, oldest first (from the history).
-- psql "$DATABASE_URL" -v car=CAR-0042 -v from=2026-12-01T08:00Z -v to=2026-12-01T10:00Z -f common/sql/analyst/history-trajectory.sql
-- from/to default to the last hour; at most 10,000 points.
\if :{?to} \else
  SELECT now()::text AS "to" \gset
\endif
\if :{?from} \else
  SELECT (:'to'::timestamptz - interval '1 hour')::text AS "from" \gset
\endif
SELECT time, lat, lon, velocity, battery, charging, station_id, distance_km
FROM car_telemetry
WHERE car_id = :'car' AND time >= :'from'::timestamptz AND time < :'to'::timestamptz
ORDER BY time
LIMIT 10000;
