/**
 * The operators' token check, shared by every HTTP or WebSocket API operators use (the live web
 * map, the commands API). Operators' tokens are not the vehicles' tokens: they come from
 * `OPERATOR_TOKENS` (comma-separated), never from `API_TOKENS`.
 *
 * Where a request may carry the token, first found wins:
 *   1. the header `authorization: Bearer <token>` (scripts, curl, any non-browser client);
 *   2. the cookie `greenlane_operator=<token>` (browsers: set by the server after a `?token=` visit,
 *      sent by the browser on every same-origin request, the WebSocket upgrade included);
 *   3. the query parameter `?token=<token>` (a link an operator opens; a WebSocket client that
 *      cannot set headers). Query strings end up in logs and history: prefer the two above.
 * A request that names a token in one place and a different one in another is judged by the first.
 *
 * Every comparison takes the same time whatever the token: both sides are hashed to 32 bytes
 * (length leaks nothing) and every accepted token is compared, match or not.
 */
import { ConfigError, envList, envOptional } from './config.js';
import { tokenChecker } from './token-check.js';

export const OPERATOR_TOKENS_VARIABLE = 'OPERATOR_TOKENS';
/** Development-only operator token, accepted when OPERATOR_TOKENS is unset (refused in production). */
export const DEVELOPMENT_OPERATOR_TOKEN = 'greenlane-operator-token';
export const OPERATOR_COOKIE = 'greenlane_operator';

export interface OperatorTokens {
  tokens: string[];
  /** True when OPERATOR_TOKENS was unset and the development token is in use. */
  development: boolean;
}

/**
 * OPERATOR_TOKENS from the environment, parsed once at start. Unset: the development token, unless
 * NODE_ENV=production, where it is a ConfigError naming the variable (as is an empty list).
 */
export function readOperatorTokens(env: Record<string, string | undefined>): OperatorTokens {
  const raw = envOptional(env, OPERATOR_TOKENS_VARIABLE);
  if (raw === undefined) {
    if (env.NODE_ENV === 'production') {
      throw new ConfigError(OPERATOR_TOKENS_VARIABLE, '', 'at least one token when NODE_ENV=production (the development token is refused in production)');
    }
    return { tokens: [DEVELOPMENT_OPERATOR_TOKEN], development: true };
  }
  return { tokens: envList(env, OPERATOR_TOKENS_VARIABLE, []), development: false };
}

/** What an HTTP request (node:http IncomingMessage, a ws upgrade request) offers the check. */
export interface RequestLike {
  url?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}

export type TokenSource = 'header' | 'cookie' | 'query';

export type OperatorAuthResult =
  | { ok: true; source: TokenSource }
  | { ok: false; reason: 'missing' | 'wrong'; source?: TokenSource };

function header(req: RequestLike, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function cookieValue(cookieHeader: string | undefined, name: string): string | undefined {
  if (cookieHeader === undefined) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** The token a request presents and where it found it; undefined when it presents none. */
export function presentedOperatorToken(req: RequestLike): { token: string; source: TokenSource } | undefined {
  const authorization = header(req, 'authorization');
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match) return { token: match[1]!, source: 'header' };
  }
  const cookie = cookieValue(header(req, 'cookie'), OPERATOR_COOKIE);
  if (cookie !== undefined && cookie !== '') return { token: cookie, source: 'cookie' };
  const query = req.url === undefined ? null : new URL(req.url, 'http://localhost').searchParams.get('token');
  if (query !== null && query !== '') return { token: query, source: 'query' };
  return undefined;
}

/**
 * The check, built once from the accepted tokens: `check(req)` says whether the request carries
 * one of them (and where), `accepts(token)` judges a bare token.
 */
export function createOperatorAuth(tokens: readonly string[]): {
  check(req: RequestLike): OperatorAuthResult;
  accepts(token: string | undefined): boolean;
} {
  const accepts = tokenChecker(tokens);
  return {
    accepts,
    check(req) {
      const presented = presentedOperatorToken(req);
      if (presented === undefined) return { ok: false, reason: 'missing' };
      return accepts(presented.token) ? { ok: true, source: presented.source } : { ok: false, reason: 'wrong', source: presented.source };
    },
  };
}

/**
 * The Set-Cookie value that lets a browser present `token` from then on: HttpOnly (page scripts
 * never read it), SameSite=Strict (no cross-site request carries it), for the whole origin.
 */
export function operatorCookie(token: string, opts: { secure?: boolean; maxAgeSeconds?: number } = {}): string {
  const parts = [`${OPERATOR_COOKIE}=${encodeURIComponent(token)}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${opts.maxAgeSeconds ?? 12 * 3600}`];
  if (opts.secure) parts.push('Secure');
  return parts.join('; ');
}
