/**
 * Redis behind Sentinel, for every GreenLane client: `REDIS_URL=redis-sentinel://h1:p1,h2:p2,h3:p3[/db]#master`
 * (the address form Lettuce and Spring use). The program's node-redis client connects to a local
 * tunnel that forwards each connection to the primary Sentinel names at that moment, so every
 * client (scripts, MULTI, pub/sub, WAIT, duplicate()) works unchanged and follows a failover by
 * itself:
 *   - Sentinel's `+switch-master` (and a poll every second, in case that message is missed) makes
 *     the tunnel cut every connection to the old primary; node-redis reconnects, and each new
 *     connection goes to the new primary. What was in flight on a cut connection fails, as on a
 *     Redis restart: callers retry (the ingestion fails the batch, cars resend).
 *   - Before a connection is forwarded, the node is asked `ROLE`: a node Sentinel still names but
 *     that has become a replica (an old primary rejoining) is never written to.
 * node-redis's own Sentinel client has a different type from the plain client every service is
 * written against, without duplicate(); the tunnel keeps one client type everywhere.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createClient } from 'redis';
import { ConfigError } from './config.js';
import type { Logger } from './logger.js';

export interface SentinelAddress {
  /** Sentinels, host:port. */
  sentinels: Array<{ host: string; port: number }>;
  masterName: string;
  db: number;
  username: string | undefined;
  password: string | undefined;
}

export const SENTINEL_SCHEME = 'redis-sentinel:';

/** Parses `redis-sentinel://[user:pass@]h1:p1,h2:p2[/db]#master`; undefined for another scheme. */
export function parseSentinelUrl(url: string, variable = 'REDIS_URL'): SentinelAddress | undefined {
  if (!url.startsWith(`${SENTINEL_SCHEME}//`)) return undefined;
  const expected = 'redis-sentinel://host:port[,host:port...][/db]#master-name';
  const hash = url.indexOf('#');
  const masterName = hash < 0 ? '' : decodeURIComponent(url.slice(hash + 1));
  if (masterName === '') throw new ConfigError(variable, url, `${expected} (the #master-name is missing)`);
  let rest = url.slice(SENTINEL_SCHEME.length + 2, hash);
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    // user:password@ or password@ (the node-redis URL form without a user).
    const credentials = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = credentials.indexOf(':');
    if (colon < 0) password = decodeURIComponent(credentials);
    else {
      username = decodeURIComponent(credentials.slice(0, colon)) || undefined;
      password = decodeURIComponent(credentials.slice(colon + 1));
    }
  }
  const slash = rest.indexOf('/');
  const hosts = slash < 0 ? rest : rest.slice(0, slash);
  const dbText = slash < 0 ? '' : rest.slice(slash + 1);
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || db > 15) throw new ConfigError(variable, url, `${expected} (db ${JSON.stringify(dbText)} is not 0-15)`);
  const sentinels = hosts.split(',').map((part) => {
    const match = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(part);
    if (!match || Number(match[2]) > 65535) throw new ConfigError(variable, url, `${expected} (${JSON.stringify(part)} is not host:port)`);
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) };
  });
  return { sentinels, masterName, db, username, password };
}

/** The same address without its password, for logs. */
export function describeSentinels(address: SentinelAddress): string {
  return `${SENTINEL_SCHEME}//${address.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}/${address.db}#${address.masterName}`;
}

interface Primary {
  host: string;
  port: number;
}

const same = (a: Primary | undefined, b: Primary | undefined) => a !== undefined && b !== undefined && a.host === b.host && a.port === b.port;

/** Asks one node `ROLE`: true when it is a primary. */
function isPrimary(primary: Primary, address: SentinelAddress, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(primary.port, primary.host);
    let answer = '';
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => {
      const auth = address.password === undefined ? '' : address.username === undefined
        ? `AUTH ${address.password}\r\n`
        : `AUTH ${address.username} ${address.password}\r\n`;
      socket.write(`${auth}ROLE\r\n`);
    });
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
      // ROLE answers an array whose first element is master, slave or sentinel.
      const role = /\$(\d+)\r\n(master|slave|sentinel)\r\n/.exec(answer);
      if (role) done(role[2] === 'master');
      else if (/-(NOAUTH|WRONGPASS|ERR)[^\r]*\r\n/.test(answer) && !answer.startsWith('+OK')) done(false);
    });
  });
}

export class SentinelTunnel {
  private primary: Primary | undefined;
  private readonly pairs = new Set<{ inbound: Socket; upstream: Socket; to: Primary }>();
  private readonly sentinelClients: Array<ReturnType<typeof createClient>> = [];
  private poller: NodeJS.Timeout | undefined;
  private closed = false;
  failovers = 0;

  private constructor(
    private readonly address: SentinelAddress,
    private readonly log: Logger,
    private readonly server: Server,
  ) {}

  /** Listens on 127.0.0.1 (an ephemeral port) once Sentinel has named a primary. */
  static async open(address: SentinelAddress, log: Logger): Promise<SentinelTunnel> {
    const server = createServer();
    const tunnel = new SentinelTunnel(address, log.child({ component: 'redis-sentinel' }), server);
    server.on('connection', (socket) => tunnel.forward(socket));
    await tunnel.watch();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    server.unref();
    return tunnel;
  }

  get port(): number {
    const bound = this.server.address();
    return typeof bound === 'object' && bound !== null ? bound.port : 0;
  }

  /** The local URL the program's node-redis client connects to. */
  get url(): string {
    const auth = this.address.password === undefined ? '' : `${encodeURIComponent(this.address.username ?? '')}:${encodeURIComponent(this.address.password)}@`;
    return `redis://${auth}127.0.0.1:${this.port}/${this.address.db}`;
  }

  get currentPrimary(): Primary | undefined {
    return this.primary;
  }

  private async ask(): Promise<Primary | undefined> {
    for (const client of this.sentinelClients) {
      if (!client.isReady) continue;
      // Held while asked: an unreferenced socket's pending reply would not keep the program waiting for it.
      client.ref();
      try {
        const reply = (await client.sendCommand(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.address.masterName])) as [string, string] | null;
        if (Array.isArray(reply) && reply.length === 2) return { host: reply[0], port: Number(reply[1]) };
      } catch {
        // Ask the next Sentinel.
      } finally {
        client.unref();
      }
    }
    return undefined;
  }

  private async watch(): Promise<void> {
    for (const { host, port } of this.address.sentinels) {
      const client = createClient({ socket: { host, port, connectTimeout: 2000, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) } });
      client.on('error', () => {});
      this.sentinelClients.push(client);
      // The tunnel follows the program's own clients: it never keeps the process alive by itself.
      void client.connect().then(() => client.unref()).catch(() => {});
      const subscriber = client.duplicate();
      subscriber.on('error', () => {});
      this.sentinelClients.push(subscriber);
      void subscriber
        .connect()
        .then(() => (subscriber.unref(), subscriber))
        .then(() => subscriber.subscribe('+switch-master', (message) => {
          // "<master-name> <old-ip> <old-port> <new-ip> <new-port>"
          const [name, , , host, port] = message.split(' ');
          if (name === this.address.masterName && host !== undefined) this.switchTo({ host, port: Number(port) }, '+switch-master');
        }))
        .catch(() => {});
    }
    const deadline = Date.now() + 30_000;
    while (this.primary === undefined) {
      const named = await this.ask();
      if (named !== undefined) this.primary = named;
      else if (Date.now() > deadline) {
        await this.close();
        throw new Error(`no Sentinel of ${describeSentinels(this.address)} named a primary for "${this.address.masterName}" within 30 s: check the addresses and the master name`);
      } else await new Promise((r) => setTimeout(r, 200));
    }
    this.log.info({ primary: `${this.primary.host}:${this.primary.port}`, sentinels: describeSentinels(this.address) }, 'redis primary from Sentinel');
    this.poller = setInterval(() => {
      void this.ask().then((named) => {
        if (named !== undefined && !same(named, this.primary)) this.switchTo(named, 'poll');
      });
    }, 1000);
    this.poller.unref();
  }

  private switchTo(next: Primary, why: string): void {
    if (same(next, this.primary)) return;
    const previous = this.primary;
    this.primary = next;
    this.failovers++;
    this.log.warn({ from: previous ? `${previous.host}:${previous.port}` : undefined, to: `${next.host}:${next.port}`, why }, 'redis primary changed: connections to the old one are cut, clients reconnect to the new one');
    for (const pair of this.pairs) if (!same(pair.to, next)) this.cut(pair);
  }

  private cut(pair: { inbound: Socket; upstream: Socket }): void {
    pair.inbound.destroy();
    pair.upstream.destroy();
  }

  private forward(inbound: Socket): void {
    inbound.pause();
    const to = this.primary;
    if (to === undefined || this.closed) return void inbound.destroy();
    void isPrimary(to, this.address, 1000).then((primary) => {
      if (!primary || this.closed || !same(to, this.primary)) {
        // A stale name: ask again at once rather than wait for the poll; this client retries.
        if (!primary) void this.ask().then((named) => named !== undefined && !same(named, this.primary) && this.switchTo(named, 'role check'));
        inbound.destroy();
        return;
      }
      const upstream = connect(to.port, to.host);
      upstream.setNoDelay(true);
      inbound.setNoDelay(true);
      const pair = { inbound, upstream, to };
      this.pairs.add(pair);
      const end = () => {
        this.pairs.delete(pair);
        this.cut(pair);
      };
      upstream.on('error', end);
      inbound.on('error', end);
      upstream.on('close', end);
      inbound.on('close', end);
      upstream.on('connect', () => {
        inbound.pipe(upstream);
        upstream.pipe(inbound);
        inbound.resume();
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poller);
    for (const pair of this.pairs) this.cut(pair);
    await Promise.all(this.sentinelClients.map((c) => (c.isOpen ? c.close().catch(() => {}) : Promise.resolve())));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
