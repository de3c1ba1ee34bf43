/**
 * The faults of the cluster run (issue 20), in this order by default, each while traffic flows.
 * Each returns when the fault has been undone, with what it measured of the component's failover
 * (`details`, in ms from the fault): who was hit, when its role or its load had moved elsewhere,
 * and when it was back.
 */
import { sleep } from './stack.mjs';
import { clusterCmd, haproxyServers, kafkaAdmin, partitionsOf, redisNode, redisReplication, sentinelPrimary, timeUntil } from './cluster.mjs';

export const CLUSTER_DEFAULTS = {
  /** How long the killed Kafka node stays down. */
  kafkaDownSec: 60,
  /** How long the old Redis primary stays down (the new one runs without a replica meanwhile). */
  redisDownSec: 20,
  /** When the killed ingestion and pricing worker are started again. */
  restartAfterSec: 15,
};

const metricValue = async (url, name) => {
  try {
    const text = await (await fetch(url, { signal: AbortSignal.timeout(2000) })).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  } catch {
    return undefined;
  }
};

export const CLUSTER_FAULTS = {
  /**
   * kill -9 of the Kafka node leading the most partitions of the run's topic; down kafkaDownSec,
   * started again (same data), back in every ISR, then the preferred leaders elected again (what
   * the brokers do by themselves every 5 minutes), all under traffic.
   */
  'kafka-leader-kill': async ({ cfg, u, topic, o, say }) => {
    const admin = kafkaAdmin(u.brokers);
    await admin.connect();
    try {
      const before = await partitionsOf(admin, topic);
      const count = new Map();
      for (const p of before) count.set(p.leader, (count.get(p.leader) ?? 0) + 1);
      const [[victim, led]] = [...count].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
      const node = `kafka-${victim}`;
      // Whether it is also the active controller: then the others first elect one (infra/cluster/README.md).
      const quorum = await clusterCmd(cfg, 'quorum').then((r) => r.stdout, () => '');
      const controller = /leader (kafka-\d)/.exec(quorum)?.[1];
      const at = Date.now();
      await clusterCmd(cfg, 'kill', node);
      say(`  ${node} killed (led ${led} of ${before.length} partitions of the run's topic)`);
      // Every partition led by a node that is alive (the killed one fenced after its session timeout).
      const leadersMovedMs = await timeUntil(async () => (await partitionsOf(admin, topic)).every((p) => p.leader >= 0 && p.leader !== victim), 60_000, 100, at);
      const isrShrunkMs = await timeUntil(async () => (await partitionsOf(admin, topic)).every((p) => !p.isr.includes(victim)), 60_000, 200, at);
      await sleep(Math.max(0, at + o.kafkaDownSec * 1000 - Date.now()));
      const startAt = Date.now();
      await clusterCmd(cfg, 'start', node);
      const startedMs = Date.now() - startAt;
      const isrRejoinMs = await timeUntil(async () => (await partitionsOf(admin, topic)).every((p) => p.isr.includes(victim)), 180_000, 250, startAt);
      const rebalanceAt = Date.now();
      await clusterCmd(cfg, 'rebalance');
      const rebalanceMs = Date.now() - rebalanceAt;
      // The election's outcome reaches the metadata a moment later.
      await timeUntil(async () => (await partitionsOf(admin, topic)).some((p) => p.leader === victim), 10_000, 250);
      const after = await partitionsOf(admin, topic).catch(() => []);
      return {
        node,
        wasController: controller === undefined ? null : controller === node,
        partitionsLed: led,
        partitions: before.length,
        leadersMovedMs,
        isrShrunkMs,
        downMs: startAt - at,
        startedMs,
        isrRejoinMs,
        rebalanceMs,
        leadsAfterRebalance: after.filter((p) => p.leader === victim).length,
      };
    } finally {
      await admin.disconnect().catch(() => {});
    }
  },

  /**
   * kill -9 of the Redis primary: the Sentinels promote the replica; the old primary is started
   * again after redisDownSec and rejoins as the new primary's replica (until then WAIT finds no
   * replica and bookings are answered "ask again").
   */
  'redis-primary-kill': async ({ cfg, o, say }) => {
    const primary = await sentinelPrimary(cfg);
    const node = redisNode(cfg, primary);
    const at = Date.now();
    await clusterCmd(cfg, 'kill', node);
    say(`  ${node} (the primary, :${primary}) killed`);
    const promotedMs = await timeUntil(async () => (await sentinelPrimary(cfg)) !== primary, 60_000, 100, at);
    const newPrimary = await sentinelPrimary(cfg).catch(() => undefined);
    await sleep(Math.max(0, at + o.redisDownSec * 1000 - Date.now()));
    const startAt = Date.now();
    await clusterCmd(cfg, 'start', node);
    const startedMs = Date.now() - startAt;
    const rejoinedMs = await timeUntil(async () => {
      const r = await redisReplication(primary);
      return r?.role === 'slave' && r.link === 'up';
    }, 120_000, 200, startAt);
    return { node, newPrimary: newPrimary === undefined ? undefined : redisNode(cfg, newPrimary), promotedMs, downMs: startAt - at, startedMs, rejoinedAsReplicaMs: rejoinedMs };
  },

  /**
   * kill -9 of one ingestion of three (the one holding the most streams): its cars' streams break,
   * they reconnect through HAProxy, which sends them to the two others (and marks it DOWN after
   * its failed checks). Started again restartAfterSec later; HAProxy takes it back once /ready.
   */
  'ingestion-kill': async ({ cfg, u, services, o, say }) => {
    const streams = await Promise.all(cfg.cluster.ingestion.map((p) => metricValue(`http://127.0.0.1:${p.httpPort}/metrics`, 'ingestion_active_streams')));
    const i = streams.reduce((best, n, k) => ((n ?? -1) > (streams[best] ?? -1) ? k : best), 0);
    const target = services.ingestion[i];
    const at = Date.now();
    await target.kill9();
    say(`  ${target.name} killed (${streams[i]} streams; the others ${streams.filter((_, k) => k !== i).join(', ')})`);
    const server = `ingestion-${i + 1}`;
    const markedDownMs = await timeUntil(async () => (await haproxyServers(u)).find((s) => s.server === server)?.status.startsWith('DOWN'), 30_000, 100, at);
    await sleep(Math.max(0, at + o.restartAfterSec * 1000 - Date.now()));
    const startAt = Date.now();
    await target.start();
    const readyMs = Date.now() - startAt;
    const upAgainMs = await timeUntil(async () => (await haproxyServers(u)).find((s) => s.server === server)?.status === 'UP', 30_000, 100, startAt);
    const streamsAfter = await Promise.all(cfg.cluster.ingestion.map((p) => metricValue(`http://127.0.0.1:${p.httpPort}/metrics`, 'ingestion_active_streams')));
    return { instance: target.name, streamsBefore: streams, markedDownMs, downMs: startAt - at, readyMs, upAgainInHaproxyMs: upAgainMs, streamsAfter };
  },

  /**
   * kill -9 of one pricing worker of three: the group gives its partitions to the two others once
   * its session times out (10 s in chaos runs). Started again restartAfterSec later.
   */
  'pricing-kill': async ({ services, o, say }) => {
    const target = services.pricing[1];
    const at = Date.now();
    await target.kill9();
    say(`  ${target.name} killed`);
    await sleep(Math.max(0, at + o.restartAfterSec * 1000 - Date.now()));
    const startAt = Date.now();
    await target.start();
    return { worker: target.name, downMs: startAt - at, startedMs: Date.now() - startAt };
  },

  /** The balancer restarted (infra/cluster.sh restart haproxy): every car's stream is cut, and all reconnect. */
  'haproxy-restart': async ({ cfg, u, say }) => {
    const at = Date.now();
    await clusterCmd(cfg, 'restart', 'haproxy');
    const restartedMs = Date.now() - at;
    say(`  haproxy restarted in ${(restartedMs / 1000).toFixed(1)} s`);
    const allUpMs = await timeUntil(async () => (await haproxyServers(u)).every((s) => s.status === 'UP'), 30_000, 100, at);
    return { restartedMs, allBackendsUpMs: allUpMs };
  },
};

export const ALL_CLUSTER_FAULTS = Object.keys(CLUSTER_FAULTS);

/** Rough seconds each fault takes to inject and undo, for planning the fleet's size. */
export function plannedSec(name, o) {
  return { 'kafka-leader-kill': o.kafkaDownSec + 30, 'redis-primary-kill': o.redisDownSec + 5, 'ingestion-kill': o.restartAfterSec + 3, 'pricing-kill': o.restartAfterSec + 2, 'haproxy-restart': 3 }[name] ?? 10;
}
