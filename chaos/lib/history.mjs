/**
 * The history writer in a chaos run (issue 19): its service on the private stack, and the check
 * that every acknowledged CarStatus is in car_telemetry exactly once, through the same faults.
 *
 * 1. Every acknowledged `car_id timestamp` (the acked logs) has exactly one row.
 * 2. Every telemetry event on the topic that the writer takes (decode.ts) has its row, by event_id;
 *    no event_id is stored twice and no row is unexplained by the topic.
 */
import pg from 'pg';
import { Service } from './stack.mjs';
import { readAckedLogs, readTopic } from './checker.mjs';
import { decodeTelemetry } from '../../history-writer/dist/src/decode.js';

/** The history writer of a run (ops port 19466 + offset), consuming the run's topic as its own group (`brokers`: the stack's one by default). */
export function historyService(cfg, { topic, dbUrl, logDir, brokers = [`127.0.0.1:${cfg.kafkaPort}`] }) {
  const httpPort = 19466 + cfg.offset;
  return new Service(
    'history-writer',
    'history-writer/dist/src/main.js',
    {
      KAFKA_BROKERS: brokers.join(','),
      FLEET_EVENTS_TOPIC: topic,
      HISTORY_GROUP_ID: historyGroup(topic),
      DATABASE_URL: dbUrl,
      HISTORY_HTTP_ADDR: `127.0.0.1:${httpPort}`,
      HISTORY_SESSION_TIMEOUT_MS: '10000',
      LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'info',
    },
    logDir,
    `http://127.0.0.1:${httpPort}/health`,
  );
}

export const historyGroup = (topic) => `${topic}-history`;

export async function checkHistory(run) {
  const { acked } = readAckedLogs(run.ackedLogs);
  const onTopic = new Map(); // event_id → "car ts"
  await readTopic(run.brokers, run.topic, (value) => {
    const { rows } = decodeTelemetry([value]);
    if (rows.count === 1) onTopic.set(rows.eventId[0], `${rows.carId[0]} ${rows.timeMs[0]}`);
  });
  const client = new pg.Client({ connectionString: run.dbUrl });
  await client.connect();
  let rows;
  try {
    ({ rows } = await client.query(`SELECT event_id, car_id, round(extract(epoch FROM time) * 1000)::bigint::text AS ms FROM car_telemetry`));
  } finally {
    await client.end();
  }
  const byKey = new Map();
  const byEvent = new Map();
  for (const r of rows) {
    const key = `${r.car_id} ${r.ms}`;
    byKey.set(key, (byKey.get(key) ?? 0) + 1);
    byEvent.set(r.event_id, (byEvent.get(r.event_id) ?? 0) + 1);
  }
  const ackedMissing = [...acked.keys()].filter((key) => !byKey.has(key));
  const ackedTwice = [...acked.keys()].filter((key) => (byKey.get(key) ?? 0) > 1);
  const topicMissing = [...onTopic.keys()].filter((id) => !byEvent.has(id));
  const duplicated = [...byEvent].filter(([, n]) => n > 1).map(([id]) => id);
  const unexplained = [...byEvent.keys()].filter((id) => !onTopic.has(id));
  const totals = {
    acknowledged: acked.size,
    telemetryEvents: onTopic.size,
    rows: rows.length,
    ackedMissing: ackedMissing.length,
    ackedTwice: ackedTwice.length,
    topicMissing: topicMissing.length,
    duplicated: duplicated.length,
    unexplained: unexplained.length,
  };
  const ok = acked.size > 0 && ackedMissing.length + ackedTwice.length + topicMissing.length + duplicated.length + unexplained.length === 0;
  return { ok, totals, examples: { ackedMissing: ackedMissing.slice(0, 5), ackedTwice: ackedTwice.slice(0, 5), topicMissing: topicMissing.slice(0, 5), duplicated: duplicated.slice(0, 5), unexplained: unexplained.slice(0, 5) } };
}

export function formatHistory(history) {
  const t = history.totals;
  return `history (car_telemetry): ${history.ok ? 'ok' : 'FAIL'}; acknowledged ${t.acknowledged}, telemetry on topic ${t.telemetryEvents}, rows ${t.rows}: ` +
    `acknowledged missing ${t.ackedMissing}, acknowledged twice ${t.ackedTwice}, topic events missing ${t.topicMissing}, duplicated ${t.duplicated}, unexplained ${t.unexplained}`;
}

