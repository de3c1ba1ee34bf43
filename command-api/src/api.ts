/**
 * The operators' HTTP API (openapi.json): issue a command to a car, read it, list a car's recent
 * ones, and wait for one's outcome (a long poll answered the moment it is final). Every request
 * to /v1 needs an operator credential (common/src/operator-auth.ts) holding its route's scope:
 * issuing needs operator:command, the reads operator:read. Every refusal is counted by reason.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CommandStore, type CommandRecord, type Logger } from '@greenlane/common';
import { sendJson } from '@greenlane/common/ops-http';
import { refusalHeaders, type OperatorAuth, type OperatorScope } from '@greenlane/common/operator-auth';
import type { CommandLogTail } from './log-tail.js';
import { ID_PATTERN, parseCommandRequest, RequestError } from './request.js';

export interface ApiDeps {
  store: CommandStore;
  tail: CommandLogTail;
  auth: OperatorAuth;
  openapi: string;
  maxPendingPerCar: number;
  defaultTimeoutMs: number;
  maxBodyBytes: number;
  maxWaitMs: number;
  log: Logger;
  refused(reason: string): void;
  rateLimited(route: string): void;
  issued(type: string): void;
  observe(route: string, status: number, seconds: number): void;
}

class HttpError extends Error {
  constructor(readonly status: number, readonly reason: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

/** WWW-Authenticate realm of this API's refusals. */
const REALM = 'greenlane-commands';

function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) return reject(new HttpError(413, 'too_large', `body of ${declared} bytes; at most ${max}`));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size > max) return; // refused already: the rest is read and dropped, so the client gets its 413
      size += chunk.length;
      if (size > max) return reject(new HttpError(413, 'too_large', `body over ${max} bytes`));
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Every route with the scope it needs: acting on a car is operator:command, reading operator:read. */
export const ROUTES: Array<{ method: string; pattern: RegExp; name: string; scope: OperatorScope }> = [
  { method: 'POST', pattern: /^\/v1\/cars\/([^/]+)\/commands$/, name: 'issue', scope: 'operator:command' },
  { method: 'GET', pattern: /^\/v1\/cars\/([^/]+)\/commands$/, name: 'list', scope: 'operator:read' },
  { method: 'GET', pattern: /^\/v1\/commands\/([^/]+)\/wait$/, name: 'wait', scope: 'operator:read' },
  { method: 'GET', pattern: /^\/v1\/commands\/([^/]+)$/, name: 'get', scope: 'operator:read' },
];

export function createApiHandler(deps: ApiDeps): (req: IncomingMessage, res: ServerResponse, path: string) => void {
  return (req, res, path) => {
    if (path === '/openapi.json' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(deps.openapi);
      return;
    }
    const startedAt = process.hrtime.bigint();
    let route = 'unknown';
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      sendJson(res, status, body, headers);
      deps.observe(route, status, Number(process.hrtime.bigint() - startedAt) / 1e9);
    };
    const refuse = (error: HttpError) => {
      deps.refused(error.reason);
      answer(error.status, { error: error.message }, error.headers);
    };
    (async () => {
      const matched = ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).filter((x) => x.m !== null);
      if (matched.length === 0) throw new HttpError(404, 'not_found', `no such path ${path}; see /openapi.json`);
      const hit = matched.find((x) => x.r.method === req.method);
      if (hit === undefined) throw new HttpError(405, 'method', `${req.method} is not allowed on ${path}; see /openapi.json`);
      route = hit.r.name;
      const auth = await deps.auth.authorize(req, hit.r.scope);
      if (!auth.ok) {
        if (auth.status === 429) deps.rateLimited(route);
        throw new HttpError(auth.status, auth.reason, auth.message, refusalHeaders(auth, REALM));
      }
      let id: string;
      try {
        id = decodeURIComponent(hit.m![1]!);
      } catch {
        throw new HttpError(400, 'bad_id', `malformed percent-encoding in the path ${JSON.stringify(path.slice(0, 80))}`);
      }
      if (!ID_PATTERN.test(id)) throw new HttpError(400, 'bad_id', `invalid id ${JSON.stringify(id.slice(0, 80))}: letters, digits, "-_.", at most 64`);
      const url = new URL(req.url ?? '/', 'http://x');
      switch (route) {
        case 'issue':
          return answer(202, await issue(deps, id, await readBody(req, deps.maxBodyBytes)));
        case 'list': {
          const limit = intParam(url, 'limit', 20, 1, 50);
          return answer(200, { car_id: id, commands: await deps.store.recent(id, limit) });
        }
        case 'get':
          return answer(200, await found(deps, id));
        case 'wait':
          return answer(200, await wait(deps, id, intParam(url, 'timeout_ms', 30_000, 0, deps.maxWaitMs)));
      }
    })().catch((error: unknown) => {
      if (error instanceof HttpError) return refuse(error);
      deps.log.error({ err: error, path }, 'command API request failed');
      deps.refused('unavailable');
      answer(503, { error: `could not serve the request (${(error as Error).message}); retry` });
    });
  };
}

function intParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new HttpError(400, 'bad_parameter', `invalid ${name}=${JSON.stringify(raw)}: an integer from ${min} to ${max}`);
  return value;
}

async function issue(deps: ApiDeps, carId: string, text: string): Promise<CommandRecord> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, 'bad_json', `malformed JSON body: ${(error as Error).message}`);
  }
  let request;
  try {
    request = parseCommandRequest(body, deps.defaultTimeoutMs);
  } catch (error) {
    if (error instanceof RequestError) throw new HttpError(400, `bad_${error.field}`, error.message);
    throw error;
  }
  const issuedAt = Date.now();
  const input = {
    command_id: randomUUID(),
    car_id: carId,
    type: request.type,
    issued_at: issuedAt,
    expires_at: issuedAt + request.ttlMs,
    timeout_ms: request.timeoutMs,
    latitude: request.latitude,
    longitude: request.longitude,
    station_id: request.station_id,
  };
  const outcome = await deps.store.issue(input, deps.maxPendingPerCar);
  if (!outcome.ok) {
    if (outcome.reason === 'unknown_car') throw new HttpError(404, 'unknown_car', `unknown car ${carId}: it has never sent telemetry`);
    throw new HttpError(429, 'too_many_pending', `car ${carId} already has ${outcome.pending} unfinished commands (at most ${deps.maxPendingPerCar}); wait for them or let them expire`);
  }
  deps.issued(request.type);
  // The command as accepted: it may be SENT already by the time the answer leaves.
  const record: CommandRecord = {
    command_id: input.command_id, car_id: carId, type: request.type, status: 'QUEUED', final: false,
    issued_at: input.issued_at, expires_at: input.expires_at, timeout_ms: input.timeout_ms, deliveries: 0,
  };
  if (request.latitude !== undefined) record.latitude = request.latitude;
  if (request.longitude !== undefined) record.longitude = request.longitude;
  if (request.station_id !== undefined) record.station_id = request.station_id;
  return record;
}

async function found(deps: ApiDeps, id: string): Promise<CommandRecord> {
  const record = await deps.store.get(id);
  if (record === undefined) throw new HttpError(404, 'unknown_command', `unknown command ${id} (or finished over a day ago)`);
  return record;
}

/** Answers once the command is final, or at the timeout with its status then. */
async function wait(deps: ApiDeps, id: string, timeoutMs: number): Promise<CommandRecord> {
  let wake: () => void = () => undefined;
  const changed = new Promise<void>((resolve) => (wake = resolve));
  // Listen before reading, so a change between the two is not missed.
  const unlisten = deps.tail.listen(id, (change) => {
    if (change.status === 'SUCCEEDED' || change.status === 'FAILED' || change.status === 'TIMED_OUT' || change.status === 'EXPIRED') wake();
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const first = await found(deps, id);
    if (first.final || timeoutMs === 0) return first;
    await Promise.race([changed, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    return await found(deps, id);
  } finally {
    clearTimeout(timer);
    unlisten();
  }
}
