-- The ten newest charging samples of one car.
-- psql "$DATABASE_URL" -v car="'CAR-001'" -f common/sql/analyst/recent-by-car.sql
SELECT * FROM charging_sessions WHERE car_id = :car ORDER BY time DESC LIMIT 10;
