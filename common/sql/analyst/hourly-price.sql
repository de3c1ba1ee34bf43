-- Average price per kWh paid in each hour, newest first.
-- psql "$DATABASE_URL" -f common/sql/analyst/hourly-price.sql
SELECT date_trunc('hour', time) AS hour, avg(price_rate) FROM charging_sessions
  GROUP BY hour ORDER BY hour DESC;
