/**
 * The operators' commands, for the page's side panel: the page talks to this origin only (its CSP
 * is default-src 'self'), so liveops-web forwards two routes to the command API (COMMAND_API_URL),
 * after its own operator-token check, with the operator's token passed on as `authorization: Bearer`:
 *   POST /api/v1/cars/{id}/commands       -> POST {COMMAND_API_URL}/v1/cars/{id}/commands
 *   GET  /api/v1/commands/{id}/wait?...   -> GET  {COMMAND_API_URL}/v1/commands/{id}/wait?...
 * The command API's answers (2xx and 4xx alike) come back as they are; unreachable, a 502.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { presentedOperatorToken } from '@greenlane/common';
import { sendJson } from '@greenlane/common/ops-http';

/** A command request is a few fields; the command API's own limit is 16 KiB by default. */
export const MAX_COMMAND_BODY_BYTES = 16 * 1024;
/** The longest /wait the command API allows is 60 s by default; a little more for the answer to come. */
const UPSTREAM_TIMEOUT_MS = 75_000;

const ID = '[A-Za-z0-9_.-]{1,64}';
const ISSUE = new RegExp(`^/api/v1/cars/(${ID})/commands$`);
const WAIT = new RegExp(`^/api/v1/commands/(${ID})/wait$`);

/** Whether `path` is one of the proxied routes (any method: a wrong one is answered 405 here). */
export function isCommandRoute(path: string): boolean {
  return ISSUE.test(path) || WAIT.test(path);
}

class TooLarge extends Error {}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new TooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new TooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Forwards one request (already authenticated by the caller) to the command API at `base`. */
export async function proxyCommand(base: string, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const issue = ISSUE.exec(path);
  const wait = WAIT.exec(path);
  let target: string;
  let init: RequestInit;
  const token = presentedOperatorToken(req)?.token ?? '';
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
  if (issue) {
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'only POST' }, { allow: 'POST' });
    let body: Buffer;
    try {
      body = await readBody(req, MAX_COMMAND_BODY_BYTES);
    } catch (error) {
      if (error instanceof TooLarge) return sendJson(res, 413, { error: `body larger than ${MAX_COMMAND_BODY_BYTES} bytes` });
      throw error;
    }
    target = `${base.replace(/\/+$/, '')}/v1/cars/${issue[1]}/commands`;
    init = { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: new Uint8Array(body) };
  } else if (wait) {
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'only GET' }, { allow: 'GET' });
    const search = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const query = new URLSearchParams();
    const timeout = search.get('timeout_ms');
    if (timeout !== null) query.set('timeout_ms', timeout);
    target = `${base.replace(/\/+$/, '')}/v1/commands/${wait[1]}/wait${query.size > 0 ? `?${query}` : ''}`;
    init = { method: 'GET', headers };
  } else {
    return sendJson(res, 404, { error: `no route ${path}` });
  }
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), UPSTREAM_TIMEOUT_MS);
  // The browser gone: no need to keep waiting upstream.
  res.on('close', () => abort.abort());
  let upstream: Response;
  let text: string;
  try {
    upstream = await fetch(target, { ...init, signal: abort.signal });
    text = await upstream.text();
  } catch (error) {
    if (res.destroyed) return;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return sendJson(res, 502, { error: `the command API (COMMAND_API_URL=${base}) is unreachable: ${cause?.code ?? cause?.message ?? (error as Error).message}` });
  } finally {
    clearTimeout(timer);
  }
  if (upstream.status >= 500 && upstream.status !== 503) {
    return sendJson(res, 502, { error: `the command API answered ${upstream.status}`, upstream: safeJson(text) });
  }
  res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text.slice(0, 500);
  }
}
