-- Energy and what it cost, by hour and station, over a range (default the last day), newest hour first.
-- psql "$DATABASE_URL" -v from=2026-11-30 -v to=2026-12-01 -f common/sql/analyst/history-energy-cost.sql
\if :{?to} \else
  SELECT now()::text AS "to" \gset
\endif
\if :{?from} \else
  SELECT (:'to'::timestamptz - interval '1 day')::text AS "from" \gset
\endif
SELECT date_trunc('hour', time) AS hour, station_id,
       count(DISTINCT session_id) AS stays,
       round(sum(kwh_usage)::numeric, 3) AS kwh,
       round(sum(kwh_usage * price_rate)::numeric, 2) AS cost,
       round((sum(kwh_usage * price_rate) / nullif(sum(kwh_usage), 0))::numeric, 4) AS avg_price_per_kwh
FROM charging_sessions
WHERE time >= :'from'::timestamptz AND time < :'to'::timestamptz
GROUP BY 1, 2
ORDER BY hour DESC, station_id;
