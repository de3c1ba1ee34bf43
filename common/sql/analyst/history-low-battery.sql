-- The cars that sat at low battery longest: time spent below a threshold (default 20 %) while
-- not charging, over a range (default the last 7 days), longest first.
-- psql "$DATABASE_URL" -v threshold=15 -v from=2026-11-24 -v to=2026-12-01 -f common/sql/analyst/history-low-battery.sql
\if :{?threshold} \else
  \set threshold 20
\endif
\if :{?to} \else
  SELECT now()::text AS "to" \gset
\endif
\if :{?from} \else
  SELECT (:'to'::timestamptz - interval '7 days')::text AS "from" \gset
\endif
SELECT car_id,
       round((sum(interval_s) / 60)::numeric, 1) AS minutes_below,
       min(battery) AS lowest_battery,
       min(time) AS first_seen_low,
       max(time) AS last_seen_low
FROM car_telemetry
WHERE time >= :'from'::timestamptz AND time < :'to'::timestamptz
  AND battery < :'threshold'::float8 AND NOT charging
GROUP BY car_id
ORDER BY minutes_below DESC, car_id
LIMIT 20;
