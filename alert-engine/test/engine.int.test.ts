/**
 * The engine on the real Kafka, Redis (DB 13) and PostgreSQL 15: each rule's raise, refresh,
 * clear and acknowledge; a kill -9 and a restart that raise nothing again; duplicated and replayed
 * events that change nothing; fleet_alerts holding each alert event once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { createTopic, freshDatabase } from '@greenlane/common/testing-programs';
import type { Input } from '../src/types.js';
import { expired, INSIDE, offline, online, OUTSIDE, telemetry } from './helpers.js';
import { api, dropPrefix, kafka, metric, readAlerts, redisDb13, send, sequence, startEngine, topicEnd, uniqueName, waitFor, type Engine } from './servers.js';

const plugged = (car: string, sec: number, meter: number, extra: Partial<Parameters<typeof telemetry>[2]> = {}) =>
  telemetry(car, sec, { stationId: 'ST-7', charging: true, energyKwh: meter, pluggedInAt: 1_767_600_000_000, ...extra });

test('every rule raised, refreshed, acknowledged and cleared; kill -9 and restart raise nothing again; replays change nothing', async () => {
  const db = await freshDatabase('alerts');
  const topic = uniqueName('alert-events');
  const alertsTopic = `${topic}-alerts`;
  const prefix = `${uniqueName('alert-test')}:`;
  const group = uniqueName('alert-engine');
  const env = {
    FLEET_EVENTS_TOPIC: topic, FLEET_ALERTS_TOPIC: alertsTopic, FLEET_ALERTS_PARTITIONS: '3', ALERT_GROUP_ID: group, ALERT_REDIS_PREFIX: prefix,
    DATABASE_URL: db.url, ALERT_REFRESH_SECONDS: '5', ALERT_STALL_MINUTES: '0.1',
  };
  const engines: Engine[] = [];
  let reader: Awaited<ReturnType<typeof readAlerts>> | undefined;
  let produced = 0;
  const sendAll = async (events: Input[]) => {
    await send(topic, events);
    produced += events.length;
  };
  try {
    await createTopic(kafka, topic, 3);
    const first = await startEngine(env);
    engines.push(first);
    reader = await readAlerts(alertsTopic);
    const events = reader.events;
    const count = (car: string) => sequence(events, car).length;

    // 1. Raise and refresh, every rule.
    const phase1: Input[] = [
      ...[[0, 30], [2, 19], [4, 18.9], [6, 18.8], [8, 18.7], [10, 14]].map(([s, b]) => telemetry('BAT', s!, { battery: b! })),
      ...[0, 2, 4, 6, 8, 10, 12, 14, 16].map((s) => telemetry('OVR', s, { velocity: 120 })),
      ...[[0, 30], [2, 150], [4, 30]].map(([s, v]) => telemetry('NOISY', s!, { velocity: v! })),
      telemetry('OFF', 0), offline('OFF', 10, 0), offline('OFF', 20, 0), telemetry('OFF', 30, { late: true }),
      telemetry('OFF2', 0), offline('OFF2', 5, 0), telemetry('OFF2', 8),
      plugged('STL', 0, 1), ...[2, 4, 6, 8, 10, 12, 14].map((s) => plugged('STL', s, 1.5)),
      telemetry('AREA', 0, INSIDE), telemetry('AREA', 2, OUTSIDE), telemetry('AREA', 8, OUTSIDE),
      telemetry('NOSHOW', 0), expired('NOSHOW', 10, 'BK-1'), expired('NOSHOW', 20, 'BK-2'),
      telemetry('LATE', 10, { battery: 50 }), telemetry('LATE', 2, { battery: 5, late: true }),
    ];
    await sendAll(phase1);
    await waitFor('phase 1 consumed', async () => (await metric(first.port, 'alert_events_consumed_total')) === produced, 60_000, 200);
    await waitFor('phase 1 alerts', () => count('BAT') === 3 && count('OVR') === 2 && count('OFF') === 2 && count('OFF2') === 2 && count('STL') === 2 && count('AREA') === 2 && count('NOSHOW') === 2, 30_000);
    assert.equal(sequence(events, 'BAT'), ['raised:warning', 'refreshed:warning', 'refreshed:critical']);
    assert.equal(sequence(events, 'NOISY'), [], 'one noisy sample raises nothing');
    assert.equal(sequence(events, 'LATE'), [], 'a late event raises nothing');
    assert.equal(await metric(first.port, 'alert_events_skipped_total', 'reason="late"'), 2);

    // 2. Operators acknowledge: the alerts stay active.
    const active = await api(first, '/v1/alerts');
    assert.is(active.status, 200);
    assert.equal(active.body.alerts.map((a: { car_id: string }) => a.car_id).sort(), ['AREA', 'BAT', 'NOSHOW', 'OFF', 'OVR', 'STL']);
    assert.is(active.body.alerts[0].car_id, 'BAT', 'critical first');
    const ids = new Map<string, string>(active.body.alerts.map((a: { car_id: string; alert_id: string }) => [a.car_id, a.alert_id]));
    for (const [car, id] of ids) {
      const ack = await api(first, `/v1/alerts/${id}/ack`, { method: 'POST', body: JSON.stringify({ operator: 'ana', note: `seen ${car}` }) });
      assert.is(ack.status, 200, JSON.stringify(ack.body));
      assert.is(ack.body.already_acknowledged, false);
      assert.is(ack.body.alert.status, 'active', 'an acknowledgement does not clear');
      assert.is(ack.body.alert.acknowledged_by, 'ana');
    }
    const again = await api(first, `/v1/alerts/${ids.get('BAT')}/ack`, { method: 'POST' });
    assert.is(again.status, 200);
    assert.is(again.body.already_acknowledged, true);
    await waitFor('six acknowledgements on the topic', () => events.filter((e) => e.event_type === 'alert_acknowledged').length === 6, 20_000);
    const cleared = await api(first, '/v1/alerts?status=cleared');
    assert.equal(cleared.body.alerts.map((a: { car_id: string }) => a.car_id), ['OFF2']);

    // 3. kill -9, then a new engine of the same group: conditions still true are refreshed, never raised again.
    first.signal('SIGKILL');
    await first.exited;
    const second = await startEngine(env);
    engines.push(second);
    const before = events.length;
    const phase3: Input[] = [
      telemetry('BAT', 20, { battery: 14 }), telemetry('OVR', 24, { velocity: 120 }), offline('OFF', 30, 0), plugged('STL', 20, 1.5),
      telemetry('AREA', 14, OUTSIDE), expired('NOSHOW', 10, 'BK-1'), expired('NOSHOW', 30, 'BK-3'),
    ];
    await sendAll([...phase1, ...phase3]);
    await waitFor('phase 3 consumed', async () => (await metric(second.port, 'alert_events_consumed_total')) + (await metric(second.port, 'alert_events_skipped_total', 'reason="replayed"')) >= phase1.length + phase3.length, 60_000, 200);
    await waitFor('six refreshes after the restart', () => events.slice(before).filter((e) => e.event_type === 'alert_refreshed').length === 6, 30_000);
    assert.equal(events.slice(before).filter((e) => e.event_type === 'alert_raised'), [], 'nothing raised again');

    // 4. Conditions end: cleared; cleared and acknowledged alerts are done.
    await sendAll([
      telemetry('BAT', 30, { battery: 30 }), telemetry('OVR', 26, { velocity: 30 }), online('OFF', 40), plugged('STL', 22, 2),
      telemetry('AREA', 16, INSIDE), telemetry('NOSHOW', 40, { stationId: 'ST-2' }),
    ]);
    await waitFor('six cleared', () => events.filter((e) => e.event_type === 'alert_cleared').length === 7, 30_000);
    const open = await api(second, '/v1/alerts?status=open');
    assert.equal(open.body.alerts.map((a: { car_id: string }) => a.car_id), ['OFF2'], 'only the cleared alert nobody acknowledged');
    const off2 = open.body.alerts[0].alert_id as string;
    const redis = await redisDb13();
    try {
      const ttl = await redis.ttl(`${prefix}alert:${off2}`);
      assert.ok(ttl > 86_400 && ttl <= 604_800, `a cleared, unacknowledged alert expires after ALERT_CLEARED_RETENTION_S (ttl ${ttl})`);
      assert.is(await redis.ttl(`${prefix}alert:${ids.get('OVR')}`) <= 86_400, true, 'a cleared and acknowledged alert expires after ALERT_DONE_RETENTION_S');
      assert.is((await api(second, `/v1/alerts/${off2}/ack`, { method: 'POST' })).status, 200);
      const done = await redis.ttl(`${prefix}alert:${off2}`);
      assert.ok(done > 0 && done <= 86_400, `acknowledged after it cleared: done (ttl ${done})`);
      assert.is(await redis.ttl(`${prefix}alert:${ids.get('BAT')}`) > 0, true);
    } finally {
      await redis.quit();
    }
    assert.equal((await api(second, '/v1/alerts?status=open')).body.alerts, []);
    const bat = await api(second, `/v1/alerts/${ids.get('BAT')}`);
    assert.equal([bat.body.status, bat.body.acknowledged, bat.body.severity], ['cleared', true, 'critical']);

    await waitFor('every acknowledgement on the topic', () => events.filter((e) => e.event_type === 'alert_acknowledged').length >= 7, 20_000);
    const lifecycle = ['raised:warning', 'refreshed:warning', 'acknowledged:warning', 'refreshed:warning', 'cleared:warning'];
    assert.equal(sequence(events, 'BAT'), ['raised:warning', 'refreshed:warning', 'refreshed:critical', 'acknowledged:critical', 'refreshed:critical', 'cleared:critical']);
    for (const car of ['OVR', 'OFF', 'STL', 'AREA', 'NOSHOW']) assert.equal(sequence(events, car), lifecycle, car);
    assert.equal(sequence(events, 'OFF2'), ['raised:warning', 'cleared:warning', 'acknowledged:warning']);
    const raised = events.filter((e) => e.event_type === 'alert_raised');
    assert.is(new Set(raised.map((e) => e.alert_id)).size, 7, 'seven alerts, each raised once');

    // fleet_alerts: each alert event once.
    const distinct = new Set(events.map((e) => e.event_id));
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const rows = await waitFor('every alert event in fleet_alerts', async () => {
        const { rows } = await client.query<{ event_id: string; car_id: string; transition: string; severity: string }>('SELECT event_id, car_id, transition, severity FROM fleet_alerts ORDER BY time');
        return rows.length === distinct.size ? rows : undefined;
      }, 20_000);
      assert.equal(new Set(rows.map((r) => r.event_id)), distinct);
      assert.equal(rows.filter((r) => r.car_id === 'OVR').map((r) => `${r.transition}:${r.severity}`).sort(), [...lifecycle].sort());
    } finally {
      await client.end();
    }

    // 5. A new group of the same state replays the whole topic: it applies nothing, sends nothing.
    second.signal('SIGTERM');
    assert.is(await second.exited, 0, second.output());
    const end = await topicEnd(alertsTopic);
    const replay = await startEngine({ ...env, ALERT_GROUP_ID: uniqueName('alert-replay') });
    engines.push(replay);
    await waitFor('the replay read', async () => (await metric(replay.port, 'alert_events_skipped_total', 'reason="replayed"')) === produced, 60_000, 200);
    assert.is(await metric(replay.port, 'alert_transitions_total'), 0);
    assert.is(await topicEnd(alertsTopic), end, 'nothing new on fleet-alerts');
    replay.signal('SIGTERM');
    assert.is(await replay.exited, 0, replay.output());
  } finally {
    for (const e of engines) e.signal('SIGKILL');
    await Promise.all(engines.map((e) => e.exited));
    await reader?.stop();
    await dropPrefix(prefix);
    await db.drop();
  }
});

test.run();
