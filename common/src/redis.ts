import { createClient } from 'redis';
import { ConfigError, envString } from './config.js';
import type { Logger } from './logger.js';
import { SentinelTunnel, describeSentinels, parseSentinelUrl } from './redis-sentinel.js';

export type RedisClient = ReturnType<typeof createClient>;

/**
 * A connected node-redis client that reconnects with capped backoff and logs (rather than throws)
 * connection errors, so a Redis restart pauses a service instead of crashing it.
 */
export async function connectRedis(url: string, log: Logger): Promise<RedisClient> {
  // Through a Sentinel tunnel a reconnect is local and cheap, and each one may find the new primary:
  // retry often, so a failover costs Sentinel's detection and little more.
  const maxBackoffMs = parseSentinelUrl(url) === undefined ? 2000 : 200;
  const client = createClient({
    url: await resolveRedisUrl(url, log),
    socket: { reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, maxBackoffMs), connectTimeout: 5000 },
  });
  let lastError = '';
  client.on('error', (error: Error) => {
    // One line per distinct failure, not one per reconnect attempt.
    if (error.message !== lastError) log.warn({ err: error.message, url: displayRedisUrl(url) }, 'redis connection error');
    lastError = error.message;
  });
  client.on('ready', () => {
    if (lastError !== '') log.info({ url: displayRedisUrl(url) }, 'redis connection restored');
    lastError = '';
  });
  await client.connect();
  return client;
}

const tunnels = new Map<string, Promise<SentinelTunnel>>();

/**
 * What node-redis connects to: the URL itself, or for `redis-sentinel://...#master` the local
 * tunnel to the primary Sentinel names (redis-sentinel.ts), one per URL in a process.
 */
export async function resolveRedisUrl(url: string, log: Logger): Promise<string> {
  const sentinel = parseSentinelUrl(url);
  if (sentinel === undefined) return url;
  let tunnel = tunnels.get(url);
  if (tunnel === undefined) {
    tunnel = SentinelTunnel.open(sentinel, log);
    tunnels.set(url, tunnel);
    tunnel.catch(() => tunnels.delete(url));
  }
  return (await tunnel).url;
}

/** A Redis URL for logs: no password. */
export function displayRedisUrl(url: string): string {
  const sentinel = parseSentinelUrl(url);
  if (sentinel !== undefined) return describeSentinels(sentinel);
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '<invalid url>';
  }
}

export const REDIS_URL_FORMS = 'redis://host:port[/db], rediss://..., or redis-sentinel://host:port,host:port[/db]#master-name';

/** REDIS_URL (or another variable): a plain, TLS or Sentinel address, checked at start. */
export function envRedisUrl(env: Record<string, string | undefined>, name: string, fallback: string): string {
  const value = envString(env, name, fallback);
  if (parseSentinelUrl(value, name) !== undefined) return value;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(name, value, REDIS_URL_FORMS);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new ConfigError(name, value, REDIS_URL_FORMS);
  return value;
}
