/**
 * A GreenLane Redis client given Sentinel's addresses follows a failover by itself, on the
 * cluster layout's real primary, replica and three Sentinels (infra/cluster.sh up redis).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connectRedis, createLogger, envRedisUrl, ConfigError } from '../src/index.js';
import { parseSentinelUrl } from '../src/redis-sentinel.js';
import { waitFor } from '../src/testing.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cluster = (...args: string[]) => execFileSync('bash', [`${root}infra/cluster.sh`, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
const SENTINELS = process.env.TEST_REDIS_SENTINELS ?? '127.0.0.1:26479,127.0.0.1:26480,127.0.0.1:26481';
const URL_ = `redis-sentinel://${SENTINELS}/2#greenlane`;
const log = createLogger('sentinel-test', { LOG_LEVEL: 'warn' });

test.before(() => {
  cluster('up', 'redis');
});

test('the address form: sentinels, db, master name, credentials; a bad one names the variable', () => {
  assert.equal(parseSentinelUrl('redis-sentinel://u:p%40ss@10.0.0.1:26379,[::1]:26380/3#fleet'), {
    sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '::1', port: 26380 }],
    masterName: 'fleet',
    db: 3,
    username: 'u',
    password: 'p@ss',
  });
  assert.is(parseSentinelUrl('redis://127.0.0.1:6379'), undefined);
  for (const bad of ['redis-sentinel://127.0.0.1:26379', 'redis-sentinel://127.0.0.1/0#m', 'redis-sentinel://127.0.0.1:26379/99#m', 'http://x']) {
    assert.throws(() => envRedisUrl({ REDIS_URL: bad }, 'REDIS_URL', 'redis://127.0.0.1:6379'), (e: unknown) => e instanceof ConfigError && e.variable === 'REDIS_URL', bad);
  }
});

test('writes go on through a kill -9 of the primary: Sentinel promotes the replica and the client follows, with no write lost that was answered', async () => {
  const redis = await connectRedis(URL_, log);
  const key = `sentinel-test:${Date.now()}`;
  const answered: number[] = [];
  const answeredAt: number[] = [];
  const replicated = new Set<number>();
  let failed = 0;
  let running = true;
  const writer = (async () => {
    for (let i = 0; running; i++) {
      try {
        await redis.rPush(key, String(i));
        // Acknowledged by the replica too, as a booking confirmation is (WAIT).
        // (Until the old primary rejoins, the new one has no replica: WAIT then returns 0 after 200 ms.)
        const replicas = Number(await redis.sendCommand(['WAIT', '1', '200']));
        answered.push(i);
        answeredAt.push(Date.now());
        if (replicas >= 1) replicated.add(i);
      } catch {
        failed++;
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  await waitFor('writes before the fault', () => answered.length >= 20, 10_000);
  const before = answered.length;
  const killedAt = Date.now();
  cluster('kill', 'redis-primary');
  await waitFor('writes after the failover', () => answered.length >= before + 20, 60_000);
  running = false;
  await writer;
  const stored = (await redis.lRange(key, 0, -1)).map(Number);
  // A write the replica had not confirmed before the kill may be lost with the old primary, as
  // Redis allows; one it confirmed, or one the new primary answered, may not.
  const mustSurvive = answered.filter((i, k) => replicated.has(i) || answeredAt[k]! > killedAt);
  for (const i of mustSurvive) assert.ok(stored.includes(i), `write ${i} was answered and is on the new primary`);
  const resumedAt = answeredAt[before]!;
  assert.ok(resumedAt > killedAt, 'the kill was felt');
  process.stdout.write(`  (primary killed: no write answered for ${resumedAt - killedAt} ms; ${failed} attempts refused meanwhile)\n`);
  await redis.del(key);
  await redis.quit();
  // The old primary rejoins as a replica.
  cluster('start', 'redis-1', 'redis-2');
});

test.run();
