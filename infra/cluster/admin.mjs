#!/usr/bin/env node
// The cluster launcher's (infra/cluster.sh) questions to Kafka and HAProxy, answered in lines the
// shell script prints or reads. kafkajs (the services' own client) instead of a JVM tool per
// question: a status takes a second, not ten.
//
//   node infra/cluster/admin.mjs kafka-ready BROKERS TOPIC PARTITIONS SECONDS
//       waits until all three brokers are registered, then creates TOPIC (replication factor 3,
//       min.insync.replicas=2, unclean leader election off) when missing; prints what it did
//   node infra/cluster/admin.mjs kafka-leaders BROKERS TOPIC
//       "leads NODE PARTITIONS" per broker, then "summary TEXT" (replication, ISR, offline)
//   node infra/cluster/admin.mjs kafka-leader-most BROKERS TOPIC
//       the id of the broker leading the most partitions of TOPIC (the lowest id on a tie)
//   node infra/cluster/admin.mjs kafka-in-sync BROKERS
//       exit 0 when every partition of every topic has its full ISR
//   node infra/cluster/admin.mjs haproxy STATS_PORT
//       "NAME STATUS streams=N check=..." per backend server of HAProxy's stats page
// BROKERS is comma-separated host:port. Exit 1 with the reason on stderr when nothing answers.
import kafkajs from 'kafkajs';

const { Kafka, logLevel, ConfigResourceTypes } = kafkajs;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function admin(brokers) {
  const kafka = new Kafka({
    clientId: 'greenlane-cluster-launcher',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1500,
    requestTimeout: 5000,
    retry: { initialRetryTime: 100, maxRetryTime: 500, retries: 4 },
  });
  return kafka.admin();
}

async function withAdmin(brokers, fn) {
  const a = admin(brokers);
  await a.connect();
  try {
    return await fn(a);
  } finally {
    await a.disconnect().catch(() => {});
  }
}

async function describe(a, topic) {
  const metadata = await a.fetchTopicMetadata({ topics: [topic] });
  return metadata.topics[0].partitions.sort((x, y) => x.partitionId - y.partitionId);
}

async function kafkaReady(brokers, topic, partitions, seconds) {
  const deadline = Date.now() + seconds * 1000;
  let last = '';
  let result;
  for (;;) {
    try {
      result ??= await withAdmin(brokers, async (a) => {
        const cluster = await a.describeCluster();
        if (cluster.brokers.length < 3) throw new Error(`${cluster.brokers.length} of 3 brokers registered`);
        const existing = await a.listTopics();
        if (existing.includes(topic)) return `topic ${topic} exists`;
        // Not waitForLeaders: on three nodes kafkajs then fails with UNKNOWN_TOPIC_OR_PARTITION
        // while the new topic reaches the answering broker's metadata; the wait below is ours.
        await a
          .createTopics({
            waitForLeaders: false,
            topics: [{
              topic,
              numPartitions: partitions,
              replicationFactor: 3,
              configEntries: [
                { name: 'min.insync.replicas', value: '2' },
                { name: 'unclean.leader.election.enable', value: 'false' },
              ],
            }],
          })
          .catch((error) => {
            if (error.type !== 'TOPIC_ALREADY_EXISTS') throw error;
          });
        return `topic ${topic} created: ${partitions} partitions, replication factor 3, min.insync.replicas 2`;
      });
      // Every partition led and fully replicated before the launcher says ready.
      const parts = await withAdmin(brokers, (a) => describe(a, topic));
      if (parts.some((p) => p.leader < 0 || p.isr.length < 3)) throw new Error('partitions not yet in sync');
      console.log(result);
      return;
    } catch (error) {
      last = error.message;
    }
    if (Date.now() > deadline) throw new Error(`the cluster on ${brokers} was not ready within ${seconds}s: ${last}`);
    await sleep(500);
  }
}

async function kafkaLeaders(brokers, topic) {
  const { parts, minIsr } = await withAdmin(brokers, async (a) => {
    const parts = await describe(a, topic);
    let minIsr = '?';
    try {
      const configs = await a.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['min.insync.replicas'] }], includeSynonyms: false });
      minIsr = configs.resources[0].configEntries.find((e) => e.configName === 'min.insync.replicas')?.configValue ?? '?';
    } catch {
      // a status line without it
    }
    return { parts, minIsr };
  });
  const leads = new Map();
  for (const p of parts) {
    if (p.leader < 0) continue;
    leads.set(p.leader, [...(leads.get(p.leader) ?? []), p.partitionId]);
  }
  for (const [node, list] of [...leads].sort((x, y) => x[0] - y[0])) console.log(`leads ${node} ${list.join(',')}`);
  const rf = Math.max(...parts.map((p) => p.replicas.length));
  const offline = parts.filter((p) => p.leader < 0).map((p) => p.partitionId);
  const under = parts.filter((p) => p.isr.length < p.replicas.length).map((p) => `${p.partitionId} (ISR ${p.isr.join(',')})`);
  const state = [
    offline.length ? `offline: ${offline.join(',')}` : '',
    under.length ? `under-replicated: ${under.join(' ')}` : '',
  ].filter(Boolean).join('; ') || 'all in sync';
  console.log(`summary ${topic}: ${parts.length} partitions, replication factor ${rf}, min.insync.replicas ${minIsr}; ${state}`);
}

async function kafkaLeaderMost(brokers, topic) {
  const parts = await withAdmin(brokers, (a) => describe(a, topic));
  const count = new Map();
  for (const p of parts) if (p.leader >= 0) count.set(p.leader, (count.get(p.leader) ?? 0) + 1);
  const [best] = [...count].sort((x, y) => y[1] - x[1] || x[0] - y[0]);
  if (!best) throw new Error(`no partition of ${topic} has a leader`);
  console.log(best[0]);
}

async function kafkaInSync(brokers) {
  const lagging = await withAdmin(brokers, async (a) => {
    const { topics } = await a.fetchTopicMetadata();
    return topics.flatMap((t) => t.partitions.filter((p) => p.isr.length < p.replicas.length).map((p) => `${t.name}/${p.partitionId}`));
  });
  if (lagging.length > 0) throw new Error(`not in sync: ${lagging.join(' ')}`);
}

/** HAProxy's CSV stats: one line per server of each backend (not the FRONTEND/BACKEND rows). */
async function haproxy(port) {
  const response = await fetch(`http://127.0.0.1:${port}/stats;csv;norefresh`, { signal: AbortSignal.timeout(3000) });
  if (!response.ok) throw new Error(`stats answered ${response.status}`);
  const [header, ...rows] = (await response.text()).trim().split('\n');
  const names = header.replace(/^# /, '').split(',');
  for (const row of rows) {
    const f = Object.fromEntries(row.split(',').map((v, i) => [names[i], v]));
    if (f.svname === 'FRONTEND' || f.svname === 'BACKEND' || f.pxname === 'stats') continue;
    const check = [f.check_status, f.check_code, f.last_chk].filter(Boolean).join(' ');
    console.log(`${f.svname} ${f.status} streams=${f.scur} total=${f.stot} check=${check || '-'}`);
  }
}

const [command, ...args] = process.argv.slice(2);
try {
  if (command === 'kafka-ready') await kafkaReady(args[0], args[1], Number(args[2]), Number(args[3]));
  else if (command === 'kafka-leaders') await kafkaLeaders(args[0], args[1]);
  else if (command === 'kafka-leader-most') await kafkaLeaderMost(args[0], args[1]);
  else if (command === 'kafka-in-sync') await kafkaInSync(args[0]);
  else if (command === 'haproxy') await haproxy(Number(args[0]));
  else {
    process.stderr.write('usage: admin.mjs kafka-ready|kafka-leaders|kafka-leader-most BROKERS TOPIC ... | haproxy STATS_PORT\n');
    process.exit(2);
  }
} catch (error) {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}
