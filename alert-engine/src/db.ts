/**
 * fleet_alerts: one row per alert event (raised, refreshed, cleared, acknowledged), for analysts.
 * A hypertable (one-week chunks) where TimescaleDB is installed, a plain table with the same
 * columns and indexes where it is not (one warning). Written idempotently: (event_id, time) is
 * unique and every event id is derived from the alert and its transition, so a replay, a resend
 * from the outbox or a second engine adds no row.
 */
import type pg from 'pg';
import type { Logger } from '@greenlane/common';
import { transitionOf, type AlertEvent } from './types.js';

type Queryable = Pick<pg.ClientBase, 'query'>;

const TABLE = `
CREATE TABLE IF NOT EXISTS fleet_alerts (
  time             TIMESTAMPTZ NOT NULL,
  event_id         TEXT        NOT NULL,
  alert_id         TEXT        NOT NULL,
  car_id           TEXT        NOT NULL,
  rule             TEXT        NOT NULL,
  severity         TEXT        NOT NULL,
  transition       TEXT        NOT NULL,
  raised_at        TIMESTAMPTZ NOT NULL,
  values           JSONB       NOT NULL,
  trigger_event_id TEXT,
  operator         TEXT,
  note             TEXT
)`;

const INDEXES = [
  'CREATE UNIQUE INDEX IF NOT EXISTS fleet_alerts_event_time_key ON fleet_alerts (event_id, time)',
  'CREATE INDEX IF NOT EXISTS fleet_alerts_car_time_idx ON fleet_alerts (car_id, time DESC)',
  'CREATE INDEX IF NOT EXISTS fleet_alerts_rule_time_idx ON fleet_alerts (rule, time DESC)',
  'CREATE INDEX IF NOT EXISTS fleet_alerts_alert_idx ON fleet_alerts (alert_id, time)',
];
const TIME_INDEX = 'CREATE INDEX IF NOT EXISTS fleet_alerts_time_idx ON fleet_alerts (time DESC)';

export async function migrateAlerts(db: Queryable, log: Logger): Promise<{ timescale: boolean }> {
  const { rows } = await db.query<{ available: boolean }>("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available");
  const timescale = rows[0]?.available === true;
  if (timescale) await db.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
  await db.query(TABLE);
  if (timescale) await db.query("SELECT create_hypertable('fleet_alerts', 'time', chunk_time_interval => INTERVAL '7 days', if_not_exists => TRUE)");
  else {
    await db.query(TIME_INDEX);
    log.warn('TimescaleDB is not installed on this PostgreSQL server: fleet_alerts stays a plain table with the same columns and indexes');
  }
  for (const statement of INDEXES) await db.query(statement);
  return { timescale };
}

const INSERT = `
INSERT INTO fleet_alerts (time, event_id, alert_id, car_id, rule, severity, transition, raised_at, values, trigger_event_id, operator, note)
SELECT DISTINCT ON (u.event_id) to_timestamp(u.ms / 1000.0), u.event_id, u.alert_id, u.car_id, u.rule, u.severity, u.transition,
       to_timestamp(u.raised_ms / 1000.0), u.vals::jsonb, u.trigger, u.operator, u.note
FROM unnest($1::float8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::float8[], $9::text[], $10::text[], $11::text[], $12::text[])
  AS u(ms, event_id, alert_id, car_id, rule, severity, transition, raised_ms, vals, trigger, operator, note)
ORDER BY u.event_id
ON CONFLICT (event_id, time) DO NOTHING`;

/** Inserts the events; resolves with how many rows were new. */
export async function insertAlerts(db: Queryable, events: AlertEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const result = await db.query(INSERT, [
    events.map((e) => e.at), events.map((e) => e.event_id), events.map((e) => e.alert_id), events.map((e) => e.car_id),
    events.map((e) => e.rule), events.map((e) => e.severity), events.map((e) => transitionOf(e)), events.map((e) => e.raised_at),
    // NUL cannot be in PostgreSQL text or jsonb: the values come from fleet events, which anyone may send.
    events.map((e) => JSON.stringify(e.values).replace(/\\u0000/g, '')), events.map((e) => e.trigger_event_id ?? null),
    events.map((e) => e.operator ?? null), events.map((e) => e.note ?? null),
  ]);
  return result.rowCount ?? 0;
}
