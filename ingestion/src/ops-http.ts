/**
 * The operations port: liveness, readiness, Prometheus metrics and the operators' JSON views.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '@greenlane/common';
import type { Registry } from 'prom-client';

export interface Readiness {
  ready: boolean;
  redis: boolean;
  kafka: boolean;
  draining: boolean;
}

export interface OpsRoutes {
  registry: Registry;
  readiness(): Promise<Readiness>;
  connections(): unknown;
  /** undefined when the bookings module is absent. */
  stations: (() => Promise<unknown>) | undefined;
  log: Logger;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function createOpsServer(routes: OpsRoutes): Server {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'only GET' });
    switch (path) {
      case '/health':
        return json(res, 200, { status: 'ok' });
      case '/ready': {
        const state = await routes.readiness();
        return json(res, state.ready ? 200 : 503, state);
      }
      case '/metrics': {
        const text = await routes.registry.metrics();
        res.writeHead(200, { 'content-type': routes.registry.contentType });
        res.end(text);
        return;
      }
      case '/api/v1/connections': {
        const connections = routes.connections() as unknown[];
        return json(res, 200, { count: connections.length, connections });
      }
      case '/api/v1/stations':
        if (routes.stations === undefined) return json(res, 404, { error: 'bookings are not enabled on this instance' });
        return json(res, 200, await routes.stations());
      default:
        return json(res, 404, { error: `no route ${path}` });
    }
  };
  return createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      routes.log.error({ err: error, url: req.url }, 'ops request failed');
      if (!res.headersSent) json(res, 500, { error: (error as Error).message });
      else res.end();
    });
  });
}
