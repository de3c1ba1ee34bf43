import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** /health (process up), /ready (consuming), /metrics (Prometheus). */
export function createOpsServer(opts: { registry: Registry; ready: () => boolean; health: () => Record<string, unknown> }): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/health') return json(200, { status: 'ok', ...opts.health() });
    if (path === '/ready') return opts.ready() ? json(200, { ready: true }) : json(503, { ready: false });
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': opts.registry.contentType });
          res.end(text);
        },
        (error: Error) => json(500, { error: error.message }),
      );
      return;
    }
    json(404, { error: 'try /health, /ready or /metrics' });
  });
}

export async function listen(server: Server, addr: string): Promise<number> {
  const separator = addr.lastIndexOf(':');
  const host = addr.slice(0, separator).replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(addr.slice(separator + 1)), host, resolve);
  });
  return (server.address() as import('node:net').AddressInfo).port;
}
