import { createClient } from 'redis';
import type { Logger } from './logger.js';

export type RedisClient = ReturnType<typeof createClient>;

/**
 * A connected node-redis client that reconnects with capped backoff and logs (rather than throws)
 * connection errors, so a Redis restart pauses a service instead of crashing it.
 */
export async function connectRedis(url: string, log: Logger): Promise<RedisClient> {
  const client = createClient({
    url,
    socket: { reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2000), connectTimeout: 5000 },
  });
  let lastError = '';
  client.on('error', (error: Error) => {
    // One line per distinct failure, not one per reconnect attempt.
    if (error.message !== lastError) log.warn({ err: error.message, url }, 'redis connection error');
    lastError = error.message;
  });
  client.on('ready', () => {
    if (lastError !== '') log.info({ url }, 'redis connection restored');
    lastError = '';
  });
  await client.connect();
  return client;
}
