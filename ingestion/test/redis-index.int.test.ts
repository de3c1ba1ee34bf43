/**
 * The live index's script on the real Redis (database 4, emptied before and after; test files run one
 * at a time): positions of a batch go in one
 * GEOADD per 1,000 cars, so a batch over that size must still place every car, and a GEOADD that
 * Redis refuses must still answer per car.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connectRedis, type RedisClient } from '@greenlane/common';
import { LOCATIONS_KEY, writeFleetIndex } from '../src/redis-index.js';
import { carStatus, log, redisUrl } from './helpers.js';

const it = suite<{ redis: RedisClient }>('live index script');

it.before(async (ctx) => {
  ctx.redis = await connectRedis(redisUrl(4), log);
  await ctx.redis.flushDb();
});

it.after(async (ctx) => {
  await ctx.redis.flushDb();
  await ctx.redis.quit();
});

it('a batch of 2,500 cars (three GEOADD chunks) places every car where its status says and writes its hash', async ({ redis }) => {
  const statuses = Array.from({ length: 2500 }, (_, i) =>
    carStatus(`IDX-${i}`, 0, { latitude: 10 + i * 0.01, longitude: -20 - i * 0.01, timestamp: 1_700_000_000_000 + i }));
  const outcome = await writeFleetIndex(redis, statuses);
  assert.is(outcome.refused.size, 0);
  assert.is(outcome.late.reduce((a, b) => a + b, 0), 0);
  assert.is(await redis.zCard(LOCATIONS_KEY), 2500);
  // The cars at each chunk's edges, and one in the middle of a chunk.
  for (const i of [0, 999, 1000, 1999, 2000, 2499, 1234]) {
    const [position] = await redis.geoPos(LOCATIONS_KEY, `IDX-${i}`);
    assert.ok(Math.abs(Number(position!.latitude) - (10 + i * 0.01)) < 1e-5, `latitude of IDX-${i}`);
    assert.ok(Math.abs(Number(position!.longitude) - (-20 - i * 0.01)) < 1e-5, `longitude of IDX-${i}`);
    assert.is(await redis.hGet(`car:IDX-${i}`, 'timestamp'), String(1_700_000_000_000 + i));
  }
});

it('when Redis refuses the batch GEOADD (fleet:locations of the wrong type), each car of it is answered with the refusal, as is a car whose hash Redis refused first', async ({ redis }) => {
  await redis.flushDb();
  await redis.set(LOCATIONS_KEY, 'not a sorted set');
  await redis.set('car:IDX-B', 'not a hash');
  const statuses = ['IDX-A', 'IDX-B', 'IDX-C'].map((car, i) => carStatus(car, 0, { timestamp: 1_700_000_000_000 + i }));
  const outcome = await writeFleetIndex(redis, statuses);
  assert.equal([...outcome.refused.keys()].sort(), [0, 1, 2]);
  for (const error of outcome.refused.values()) assert.match(error, /^WRONGTYPE/);
  // B was refused at its hash and never reached the GEOADD; A and C were refused at the GEOADD.
  assert.is(await redis.get('car:IDX-B'), 'not a hash');
});

it.run();
