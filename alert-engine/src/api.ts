/**
 * The operators' HTTP API (openapi.json): active alerts with filters, one alert, one car's alerts,
 * acknowledge an alert, cars by presence and one car's state. Every /v1 request needs an operator
 * credential (common/src/operator-auth.ts) with its route's scope: acknowledging operator:command,
 * every read operator:read; /openapi.json and the ops paths need none. Every refusal is counted by
 * reason.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger, RedisClient } from '@greenlane/common';
import { sendJson } from '@greenlane/common/ops-http';
import { refusalHeaders, type OperatorAuth, type OperatorScope } from '@greenlane/common/operator-auth';
import type { PresenceReader } from './presence.js';
import type { AlertRecord, AlertStore } from './store.js';
import { RULES, SEVERITIES } from './types.js';

export interface ApiDeps {
  store: AlertStore;
  presence: PresenceReader;
  /** Redis holding the live index `car:{id}` (the same as the engine's). */
  redis: RedisClient;
  auth: OperatorAuth;
  openapi: string;
  maxBodyBytes: number;
  log: Logger;
  /** Sends queued acknowledgements (fleet-alerts, fleet_alerts). */
  flushAcks(): Promise<void>;
  refused(reason: string): void;
  rateLimited(route: string): void;
  observe(route: string, status: number, seconds: number): void;
}

export class HttpError extends Error {
  constructor(readonly status: number, readonly reason: string, message: string, readonly parameter?: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

export const CAR_ID = /^[A-Za-z0-9_.-]{1,64}$/;
export const ALERT_ID = /^[A-Za-z0-9_.-]{1,200}$/;
const STATUSES = ['active', 'cleared', 'open'] as const;
const PRESENCE = ['online', 'offline'] as const;
const ACK_FIELDS = new Set(['operator', 'note']);

/**
 * Every route, with its OpenAPI path template, query parameters and the scope it needs (api.test.ts
 * holds the document to them): acknowledging acts, so operator:command; the rest reads.
 */
export const ROUTES: Array<{ method: string; path: string; pattern: RegExp; name: string; params: readonly string[]; scope: OperatorScope }> = [
  { method: 'GET', path: '/v1/alerts', pattern: /^\/v1\/alerts$/, name: 'alerts', params: ['car_id', 'rule', 'severity', 'status', 'limit'], scope: 'operator:read' },
  { method: 'POST', path: '/v1/alerts/{alert_id}/ack', pattern: /^\/v1\/alerts\/([^/]+)\/ack$/, name: 'ack', params: [], scope: 'operator:command' },
  { method: 'GET', path: '/v1/alerts/{alert_id}', pattern: /^\/v1\/alerts\/([^/]+)$/, name: 'alert', params: [], scope: 'operator:read' },
  { method: 'GET', path: '/v1/cars', pattern: /^\/v1\/cars$/, name: 'cars', params: ['status', 'limit'], scope: 'operator:read' },
  { method: 'GET', path: '/v1/cars/{car_id}/alerts', pattern: /^\/v1\/cars\/([^/]+)\/alerts$/, name: 'car_alerts', params: ['limit'], scope: 'operator:read' },
  { method: 'GET', path: '/v1/cars/{car_id}', pattern: /^\/v1\/cars\/([^/]+)$/, name: 'car', params: [], scope: 'operator:read' },
];

/** WWW-Authenticate realm of this API's refusals. */
const REALM = 'greenlane-alerts';

/** Query parameters, refusing unknown and repeated ones (a typo must not silently widen a filter). */
export function readQuery(url: URL, allowed: readonly string[]): Map<string, string> {
  const q = new Map<string, string>();
  for (const [key, value] of url.searchParams) {
    if (key === 'token') continue;
    if (!allowed.includes(key)) throw new HttpError(400, 'bad_parameter', `unknown parameter ${JSON.stringify(key)}${allowed.length > 0 ? `: the parameters are ${allowed.join(', ')}` : ': this endpoint takes none'}`, key);
    if (q.has(key)) throw new HttpError(400, 'bad_parameter', `parameter ${key} given twice`, key);
    q.set(key, value);
  }
  return q;
}

export function oneOf<T extends string>(q: Map<string, string>, name: string, allowed: readonly T[]): T | undefined {
  const value = q.get(name);
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new HttpError(400, 'bad_parameter', `invalid ${name}=${JSON.stringify(value.slice(0, 80))}: one of ${allowed.join(', ')}`, name);
  return value as T;
}

export function intParam(q: Map<string, string>, name: string, fallback: number, min: number, max: number): number {
  const raw = q.get(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < min || value > max) throw new HttpError(400, 'bad_parameter', `invalid ${name}=${JSON.stringify(raw.slice(0, 80))}: an integer from ${min} to ${max}`, name);
  return value;
}

function idParam(raw: string, pattern: RegExp, name: string): string {
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, 'bad_id', `${name} is not valid percent-encoding`, name);
  }
  if (!pattern.test(id)) throw new HttpError(400, 'bad_id', `invalid ${name} ${JSON.stringify(id.slice(0, 80))}: letters, digits, "-_.", at most ${pattern === CAR_ID ? 64 : 200}`, name);
  return id;
}

/** The acknowledge body: empty, or a JSON object with optional operator (≤ 64) and note (≤ 500). */
export function parseAckBody(text: string): { operator: string; note: string } {
  if (text.trim() === '') return { operator: '', note: '' };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, 'bad_json', `malformed JSON body: ${(error as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'bad_body', 'the body must be a JSON object (or empty)');
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) if (!ACK_FIELDS.has(key)) throw new HttpError(400, 'bad_body', `unknown field ${JSON.stringify(key)}: the fields are operator, note`, key);
  const text_ = (field: string, max: number): string => {
    const v = b[field];
    if (v === undefined) return '';
    if (typeof v !== 'string' || v.length > max || v.includes('\u0000')) throw new HttpError(400, 'bad_body', `invalid ${field}: a string of at most ${max} characters`, field);
    return v;
  };
  return { operator: text_('operator', 64), note: text_('note', 500) };
}

function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) return reject(new HttpError(413, 'too_large', `body of ${declared} bytes; at most ${max}`));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        reject(new HttpError(413, 'too_large', `body over ${max} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const SEVERITY_ORDER: Record<string, number> = { critical: 0, warning: 1 };

export function sortAlerts(alerts: AlertRecord[]): AlertRecord[] {
  return alerts.sort((a, b) => (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9) || b.raised_at - a.raised_at || (a.alert_id < b.alert_id ? -1 : 1));
}

export function createApiHandler(deps: ApiDeps): (req: IncomingMessage, res: ServerResponse, path: string) => void {
  return (req, res, path) => {
    if (path === '/openapi.json' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(deps.openapi);
      return;
    }
    const started = process.hrtime.bigint();
    let route = 'unknown';
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      sendJson(res, status, body, headers);
      deps.observe(route, status, Number(process.hrtime.bigint() - started) / 1e9);
    };
    (async () => {
      const matched = ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).filter((x) => x.m !== null);
      if (matched.length === 0) throw new HttpError(404, 'not_found', `no such path ${path.slice(0, 100)}; see /openapi.json`);
      const hit = matched.find((x) => x.r.method === req.method);
      if (hit === undefined) throw new HttpError(405, 'method', `${req.method} is not allowed on ${path.slice(0, 100)}; see /openapi.json`);
      route = hit.r.name;
      const auth = await deps.auth.authorize(req, hit.r.scope);
      if (!auth.ok) {
        if (auth.status === 429) deps.rateLimited(route);
        throw new HttpError(auth.status, auth.reason, auth.message, undefined, refusalHeaders(auth, REALM));
      }
      const q = readQuery(new URL(req.url ?? '/', 'http://x'), hit.r.params);
      const m = hit.m!;
      switch (route) {
        case 'alerts': {
          const car = q.has('car_id') ? idParam(q.get('car_id')!, CAR_ID, 'car_id') : undefined;
          const rule = oneOf(q, 'rule', RULES);
          const severity = oneOf(q, 'severity', SEVERITIES);
          const status = oneOf(q, 'status', STATUSES) ?? 'active';
          const limit = intParam(q, 'limit', 100, 1, 1000);
          const all = car !== undefined ? await deps.store.ofCar(car, 50) : await deps.store.open();
          const matching = sortAlerts(all.filter((a) =>
            (car === undefined || a.car_id === car) && (rule === undefined || a.rule === rule) && (severity === undefined || a.severity === severity)
            && (status === 'open' ? a.status === 'active' || !a.acknowledged : status === 'active' ? a.status === 'active' : a.status === 'cleared' && !a.acknowledged)));
          return answer(200, { status, total: matching.length, alerts: matching.slice(0, limit) });
        }
        case 'alert': {
          const id = idParam(m[1]!, ALERT_ID, 'alert_id');
          const alert = await deps.store.get(id);
          if (alert === undefined) throw new HttpError(404, 'unknown_alert', `unknown alert ${id} (or done more than ALERT_DONE_RETENTION_S ago)`);
          return answer(200, alert);
        }
        case 'ack': {
          const id = idParam(m[1]!, ALERT_ID, 'alert_id');
          const body = parseAckBody(await readBody(req, deps.maxBodyBytes));
          const alert = await deps.store.get(id);
          if (alert === undefined) throw new HttpError(404, 'unknown_alert', `unknown alert ${id} (or done more than ALERT_DONE_RETENTION_S ago)`);
          const { outcome, event } = await deps.store.acknowledge(alert, body.operator, body.note, Date.now());
          if (outcome === 'unknown') throw new HttpError(404, 'unknown_alert', `unknown alert ${id}`);
          if (outcome === 'ok') {
            await deps.flushAcks().catch((error: Error) => deps.log.warn({ err: error.message, alert: id }, 'acknowledgement recorded; its event is sent later'));
          }
          const now = await deps.store.get(id);
          return answer(200, { already_acknowledged: outcome === 'already', event_id: event.event_id, alert: now ?? alert });
        }
        case 'cars': {
          const status = oneOf(q, 'status', PRESENCE);
          const limit = intParam(q, 'limit', 1000, 1, 100_000);
          const { cars, total } = await deps.presence.list(status, limit);
          return answer(200, { status: status ?? 'any', total, cars });
        }
        case 'car_alerts': {
          const car = idParam(m[1]!, CAR_ID, 'car_id');
          const limit = intParam(q, 'limit', 50, 1, 50);
          return answer(200, { car_id: car, alerts: (await deps.store.ofCar(car, limit)) });
        }
        case 'car': {
          const car = idParam(m[1]!, CAR_ID, 'car_id');
          const [presence, alerts, live] = await Promise.all([
            deps.presence.get(car),
            deps.store.ofCar(car, 50),
            deps.redis.hGetAll(`car:${car}`).catch(() => ({}) as Record<string, string>),
          ]);
          const open = sortAlerts(alerts.filter((a) => a.status === 'active' || !a.acknowledged));
          const telemetry = Object.keys(live).length === 0 ? null : Object.fromEntries(Object.entries(live).map(([k, v]) => [k, v !== '' && Number.isFinite(Number(v)) ? Number(v) : v]));
          if (presence === undefined && alerts.length === 0 && telemetry === null) throw new HttpError(404, 'unknown_car', `unknown car ${car}: no presence, alert or telemetry`);
          return answer(200, { car_id: car, presence: presence ?? null, telemetry, alerts: open });
        }
      }
    })().catch((error: unknown) => {
      if (error instanceof HttpError) {
        deps.refused(error.reason);
        return answer(error.status, { error: error.reason, message: error.message, ...(error.parameter !== undefined ? { parameter: error.parameter } : {}) }, error.headers);
      }
      deps.log.error({ err: error, path }, 'alert API request failed');
      deps.refused('unavailable');
      answer(503, { error: 'unavailable', message: `could not serve the request (${(error as Error).message}); retry` });
    });
  };
}
