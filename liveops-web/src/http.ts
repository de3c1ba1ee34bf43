/**
 * The HTTP side: the page's static files (public: they hold no fleet data), the operators' JSON API
 * and the WebSocket upgrade (both behind the operator check, common/src/operator-auth.ts), the
 * OpenAPI document. /health, /ready and /metrics come from common's ops server.
 *
 * Scopes: everything the page reads (the data, the WebSocket, signing in) needs operator:read;
 * sending a command (POST, forwarded to the command API) operator:command, following it read.
 *
 * A browser signs in by opening `/?token=<operator token or JWT>` once: the service answers with
 * the cookie (HttpOnly, SameSite=Strict; no longer than a JWT lives) and a redirect to `/`, so the
 * token leaves the address bar and every later request, the WebSocket included, carries the cookie.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { operatorCookie, refusalHeaders, urlForLog, type Logger, type OperatorAuth, type OperatorRefusal, type OperatorScope } from '@greenlane/common';
import { sendJson } from '@greenlane/common/ops-http';
import type { FleetState } from './state.js';
import type { StationBoard } from './stations.js';
import type { Metrics } from './metrics.js';
import { isCommandRoute, proxyCommand } from './commands-proxy.js';

/** liveops-web/dist/src/http.js -> liveops-web/dist/page (scripts/build-page.mjs). */
export const PAGE_DIR = fileURLToPath(new URL('../page', import.meta.url));
/** liveops-web/openapi.json, committed beside the package. */
export const OPENAPI_FILE = fileURLToPath(new URL('../../openapi.json', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.map': 'application/json',
};

/** Nothing the page loads comes from another origin (no CDN, tiles or fonts): the policy says so too. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** WWW-Authenticate realm of this service's refusals. */
export const REALM = 'greenlane-operators';
/** A signed-in browser's cookie lives this long at most (and never past a JWT's expiry). */
const COOKIE_MAX_AGE_S = 12 * 3600;

export interface ApiDeps {
  state: FleetState;
  stations: StationBoard;
  auth: Pick<OperatorAuth, 'authorize'>;
  metrics: Metrics;
  log: Logger;
  /** The command API the side panel's command buttons go to (COMMAND_API_URL). */
  commandApiUrl: string;
  pageDir?: string;
}

export function createApiHandler(deps: ApiDeps): (req: IncomingMessage, res: ServerResponse, path: string) => void {
  const pageDir = deps.pageDir ?? PAGE_DIR;
  const refuse = (res: ServerResponse, result: OperatorRefusal, route: string) => {
    deps.metrics.refused.inc({ reason: result.reason });
    if (result.status === 429) deps.metrics.rateLimited.inc({ route });
    sendJson(res, result.status, { error: result.message, reason: result.reason }, refusalHeaders(result, REALM));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    if (isCommandRoute(path)) {
      // Sending acts on a car; waiting for the outcome reads. The command API checks again.
      const scope: OperatorScope = req.method === 'POST' ? 'operator:command' : 'operator:read';
      const auth = await deps.auth.authorize(req, scope);
      if (!auth.ok) return refuse(res, auth, 'commands');
      return proxyCommand(deps.commandApiUrl, req, res, path);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'only GET' });
    if (path === '/openapi.json') {
      const text = await readFile(OPENAPI_FILE);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': text.length });
      res.end(text);
      return;
    }
    if (path.startsWith('/api/')) {
      const auth = await deps.auth.authorize(req, 'operator:read');
      if (!auth.ok) return refuse(res, auth, 'api');
      if (path === '/api/v1/cars') {
        return sendJson(res, 200, { count: deps.state.size, cars: deps.state.ids.map((id) => deps.state.detail(id)).map((d) => d && { ...d, recentEvents: undefined }) });
      }
      if (path.startsWith('/api/v1/cars/')) {
        const id = decodeURIComponent(path.slice('/api/v1/cars/'.length));
        const detail = deps.state.detail(id);
        return detail ? sendJson(res, 200, detail) : sendJson(res, 404, { error: `no car ${id} seen since the service started` });
      }
      if (path === '/api/v1/stations') return sendJson(res, 200, { stations: deps.stations.stations, redis: deps.stations.redisOk });
      if (path === '/api/v1/alerts') return sendJson(res, 200, { total: deps.state.alerts.size, alerts: deps.state.alertList() });
      return sendJson(res, 404, { error: `no route ${path}; see /openapi.json` });
    }
    // The page. `/?token=` signs a browser in: the cookie, then the same page without the token.
    if (path === '/') {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.searchParams.has('token')) {
        const auth = await deps.auth.authorize({ headers: {}, url: req.url }, 'operator:read');
        if (!auth.ok) return refuse(res, auth, 'signin');
        const token = url.searchParams.get('token')!;
        url.searchParams.delete('token');
        const { expiresAt } = auth.identity;
        const maxAgeSeconds = expiresAt === undefined ? COOKIE_MAX_AGE_S : Math.max(0, Math.min(COOKIE_MAX_AGE_S, Math.floor((expiresAt - Date.now()) / 1000)));
        res.writeHead(303, { location: `/${url.search}`, 'set-cookie': operatorCookie(token, { maxAgeSeconds }) });
        res.end();
        return;
      }
    }
    const file = path === '/' ? 'index.html' : normalize(path).replace(/^\/+/, '');
    if (file.startsWith('..') || file.includes('\0')) return sendJson(res, 404, { error: `no route ${path}` });
    let body: Buffer;
    try {
      body = await readFile(join(pageDir, file));
    } catch {
      if (path === '/') return sendJson(res, 503, { error: `the page is not built: run npm run build:page -w liveops-web (looked in ${pageDir})` });
      return sendJson(res, 404, { error: `no route ${path}` });
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': body.length,
      'cache-control': 'no-cache',
      ...SECURITY_HEADERS,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  return (req, res, path) => {
    handle(req, res, path).catch((error: unknown) => {
      // Never the query's token: the URL as it may be logged.
      deps.log.error({ err: error, url: urlForLog(req.url) }, 'request failed');
      if (!res.headersSent) sendJson(res, 500, { error: (error as Error).message });
      else res.end();
    });
  };
}
