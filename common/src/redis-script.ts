import { createHash } from 'node:crypto';
import type { RedisClient } from './redis.js';

/**
 * A Lua script run by its SHA (EVALSHA), sent in full once when the server does not know it (a
 * restart or SCRIPT FLUSH emptied its cache), so the hot path never ships the source.
 */
export class RedisScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: RedisClient, keys: string[], args: string[]): Promise<unknown> {
    const options = { keys, arguments: args };
    try {
      return await redis.evalSha(this.sha, options);
    } catch (error) {
      if (!String((error as Error).message).includes('NOSCRIPT')) throw error;
      return redis.eval(this.source, options);
    }
  }
}
