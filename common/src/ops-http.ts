import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What /metrics needs of a prom-client Registry. */
export interface MetricsRegistry {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/**
 * /health (process up), /ready (consuming or serving), /metrics (Prometheus). `handle` answers
 * every other path (a service's own API); without it they are 404.
 */
export function createOpsServer(opts: {
  registry: MetricsRegistry;
  ready: () => boolean;
  health: () => Record<string, unknown>;
  handle?: (req: IncomingMessage, res: ServerResponse, path: string) => void;
}): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/health') return sendJson(res, 200, { status: 'ok', ...opts.health() });
    if (path === '/ready') return opts.ready() ? sendJson(res, 200, { ready: true }) : sendJson(res, 503, { ready: false });
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': opts.registry.contentType });
          res.end(text);
        },
        (error: Error) => sendJson(res, 500, { error: error.message }),
      );
      return;
    }
    if (opts.handle) return opts.handle(req, res, path);
    sendJson(res, 404, { error: 'try /health, /ready or /metrics' });
  });
}

/** Listens on host:port ([v6]:port too); resolves with the port (useful with port 0). */
export async function listen(server: Server, addr: string): Promise<number> {
  const separator = addr.lastIndexOf(':');
  const host = addr.slice(0, separator).replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(addr.slice(separator + 1)), host, resolve);
  });
  return (server.address() as AddressInfo).port;
}

/** Closes the server and every connection it still has. */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
