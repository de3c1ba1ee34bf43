-- Samples and energy per station over the last day.
-- psql "$DATABASE_URL" -f common/sql/analyst/stations-last-day.sql
SELECT station_id, count(*), sum(kwh_usage) FROM charging_sessions
  WHERE time > now() - interval '1 day' GROUP BY station_id;
