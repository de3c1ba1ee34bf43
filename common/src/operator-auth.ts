/**
 * The operators' check, shared by every HTTP or WebSocket API operators use (the live web map, the
 * command API, the alert engine, the analytics API). Operators' credentials are not the vehicles':
 * a static token comes from `OPERATOR_TOKENS` (comma-separated), never from `API_TOKENS`, and a
 * JWT holding the `vehicle` scope is refused here whatever else it holds.
 *
 * A presented bearer value is accepted as either
 *   - one of the static tokens (OPERATOR_TOKENS; the development token when nothing at all is
 *     configured outside production): legacy, and holds both operator scopes; or
 *   - a JWT verified by the shared verifier (jwt-auth.ts), when AUTH_JWKS or AUTH_JWT_HS256_SECRET
 *     is set: its `scope` claim says what it may do.
 * With a JWT key configured and OPERATOR_TOKENS unset there is no static token at all (the
 * development token exists only so that a bare checkout works).
 *
 * Scopes, each route declaring the one it needs:
 *   - `operator:read`: reads (lists, statuses, the map and its WebSocket, analytics queries);
 *   - `operator:command`: writes that act (commands to cars, acknowledging alerts).
 * `operator:command` does NOT imply `operator:read`: a token that sends a command and follows its
 * outcome holds both. Least privilege, and what a token may do is exactly what it lists.
 *
 * Where a request may carry the token, first found wins:
 *   1. the header `authorization: Bearer <token>` (scripts, curl, any non-browser client);
 *   2. the cookie `greenlane_operator=<token>` (browsers: set by the server after a `?token=` visit,
 *      sent by the browser on every same-origin request, the WebSocket upgrade included);
 *   3. the query parameter `?token=<token>` (a link an operator opens; a WebSocket client that
 *      cannot set headers). Query strings end up in logs and history: prefer the two above.
 * A request that names a token in one place and a different one in another is judged by the first.
 *
 * Refusals: missing or not accepted (bad signature, expired, wrong audience...) 401; accepted but
 * without the route's scope (a vehicle token, a read-only token on a write) 403; over the
 * identity's rate (OPERATOR_RATE, OPERATOR_BURST) 429 with Retry-After; JWKS URL unreachable 503.
 *
 * Static tokens are compared in constant time (token-check.ts). Rate limits are kept per identity:
 * a JWT's subject, or a hash of a static token, so that no token is ever a map key or a log field.
 */
import { createHash } from 'node:crypto';
import { ConfigError, envInt, envList, envNumber, envOptional } from './config.js';
import { createJwtVerifier, JWT_VARIABLES, readJwtConfig, type JwtConfig, type JwtVerifier } from './jwt-auth.js';
import type { Logger } from './logger.js';
import { TokenBuckets, type RateLimit } from './token-bucket.js';
import { tokenChecker } from './token-check.js';

export const OPERATOR_TOKENS_VARIABLE = 'OPERATOR_TOKENS';
export const OPERATOR_RATE_VARIABLE = 'OPERATOR_RATE';
export const OPERATOR_BURST_VARIABLE = 'OPERATOR_BURST';
/** Development-only operator token, accepted when nothing is configured (refused in production). */
export const DEVELOPMENT_OPERATOR_TOKEN = 'greenlane-operator-token';
export const OPERATOR_COOKIE = 'greenlane_operator';
/** Requests a second per identity, on average, unless OPERATOR_RATE says otherwise (0: no limit). */
export const DEFAULT_OPERATOR_RATE = 20;

export const OPERATOR_READ = 'operator:read';
export const OPERATOR_COMMAND = 'operator:command';
export type OperatorScope = typeof OPERATOR_READ | typeof OPERATOR_COMMAND;
/** What a static token holds: everything an operator may do, as before scopes existed. */
const STATIC_SCOPES: ReadonlySet<string> = new Set([OPERATOR_READ, OPERATOR_COMMAND]);

export interface OperatorTokens {
  tokens: string[];
  /** True when nothing was configured and the development token is in use. */
  development: boolean;
}

export interface OperatorAuthSettings extends OperatorTokens {
  /** The JWT keys and claims; undefined when neither AUTH_JWKS nor AUTH_JWT_HS256_SECRET is set. */
  jwt: JwtConfig | undefined;
  /** Per-identity token bucket; ratePerSecond 0 is no limit. */
  rate: RateLimit;
}

function jwtConfigured(env: Record<string, string | undefined>): boolean {
  return envOptional(env, JWT_VARIABLES.jwks) !== undefined || envOptional(env, JWT_VARIABLES.hs256Secret) !== undefined;
}

/**
 * OPERATOR_TOKENS from the environment, parsed once at start. Unset: no static token when a JWT key
 * is configured; otherwise the development token, unless NODE_ENV=production, where it is a
 * ConfigError naming the variable (as is an empty list).
 */
export function readOperatorTokens(env: Record<string, string | undefined>): OperatorTokens {
  const raw = envOptional(env, OPERATOR_TOKENS_VARIABLE);
  if (raw === undefined) {
    if (jwtConfigured(env)) return { tokens: [], development: false };
    if (env.NODE_ENV === 'production') {
      throw new ConfigError(OPERATOR_TOKENS_VARIABLE, '', `at least one token, or ${JWT_VARIABLES.jwks} for JWTs, when NODE_ENV=production (the development token is refused in production)`);
    }
    return { tokens: [DEVELOPMENT_OPERATOR_TOKEN], development: true };
  }
  return { tokens: envList(env, OPERATOR_TOKENS_VARIABLE, []), development: false };
}

/** OPERATOR_RATE (requests/s, 0 = no limit) and OPERATOR_BURST (default twice the rate). */
export function readOperatorRateLimit(env: Record<string, string | undefined>): RateLimit {
  const ratePerSecond = envNumber(env, OPERATOR_RATE_VARIABLE, DEFAULT_OPERATOR_RATE, 0, 1_000_000);
  if (ratePerSecond === 0) return { ratePerSecond: 0, burst: 0 };
  const burst = envInt(env, OPERATOR_BURST_VARIABLE, Math.max(1, Math.ceil(2 * ratePerSecond)), 0, 10_000_000);
  if (burst < 1) throw new ConfigError(OPERATOR_BURST_VARIABLE, String(burst), `at least 1 while ${OPERATOR_RATE_VARIABLE} > 0 (${OPERATOR_RATE_VARIABLE}=0 turns the limit off)`);
  return { ratePerSecond, burst };
}

/** The variables of the check, for each service's --help (the same in every operators' service). */
export const OPERATOR_AUTH_ENVIRONMENT: Array<[string, string]> = [
  [OPERATOR_TOKENS_VARIABLE, 'static operator tokens, comma-separated, each holding operator:read and operator:command; vehicle tokens (API_TOKENS) are never accepted here [unset: none when AUTH_JWKS or AUTH_JWT_HS256_SECRET is set, else the development token greenlane-operator-token; required when NODE_ENV=production without AUTH_JWKS]'],
  [JWT_VARIABLES.jwks, 'JWKS file path or http(s) URL: operator JWTs signed by these keys are accepted, with their scopes (operator:read, operator:command) [unset: no JWT]'],
  [JWT_VARIABLES.issuer, 'the iss every JWT must carry [greenlane]'],
  [JWT_VARIABLES.audience, 'the aud every JWT must carry [greenlane]'],
  [JWT_VARIABLES.hs256Secret, 'development only (refused with NODE_ENV=production): an HS256 shared secret of at least 32 characters [unset]'],
  [JWT_VARIABLES.clockTolerance, 'seconds of clock skew allowed on exp and nbf [5]'],
  [OPERATOR_RATE_VARIABLE, `requests a second per operator identity (JWT subject, or static token), on average; more is refused with 429 and Retry-After; 0: no limit [${DEFAULT_OPERATOR_RATE}]`],
  [OPERATOR_BURST_VARIABLE, `requests an identity may make at once, at least 1 [twice OPERATOR_RATE: ${2 * DEFAULT_OPERATOR_RATE}]`],
];

/** Everything the check needs, from the environment, validated at start (each ConfigError names its variable). */
export function readOperatorAuth(env: Record<string, string | undefined>): OperatorAuthSettings {
  return { ...readOperatorTokens(env), jwt: readJwtConfig(env), rate: readOperatorRateLimit(env) };
}

/** The settings as they may be logged: counts and addresses, never a token or a secret. */
export function describeOperatorAuth(settings: OperatorAuthSettings): Record<string, unknown> {
  return {
    staticTokens: settings.tokens.length,
    developmentToken: settings.development,
    jwt: settings.jwt === undefined ? false : { jwks: settings.jwt.jwks ?? null, hs256: settings.jwt.hs256Secret !== undefined, issuer: settings.jwt.issuer, audience: settings.jwt.audience },
    rate: settings.rate.ratePerSecond === 0 ? 'off' : settings.rate,
  };
}

/** The start-up lines every operators' service writes about its check. */
export function logOperatorAuth(log: Logger, settings: OperatorAuthSettings): void {
  if (settings.development) log.warn(`${OPERATOR_TOKENS_VARIABLE} is unset: accepting the development operator token ${DEVELOPMENT_OPERATOR_TOKEN} (never in production)`);
  log.info({ operatorAuth: describeOperatorAuth(settings) }, 'operator authentication');
}

/** What an HTTP request (node:http IncomingMessage, a ws upgrade request) offers the check. */
export interface RequestLike {
  url?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}

export type TokenSource = 'header' | 'cookie' | 'query';

export interface OperatorIdentity {
  kind: 'static' | 'jwt';
  /** Who, as it may be logged: the JWT's subject, or `static-token:<hash prefix>`. */
  subject: string;
  scopes: ReadonlySet<string>;
  source: TokenSource;
  /** Unix epoch ms at which the credential stops being valid; undefined for static tokens. */
  expiresAt: number | undefined;
  /** The rate-limit key: `jwt:<subject>` or `static:<hash prefix>`. */
  key: string;
}

/**
 * A refusal's stable code (a metric label): `token_*` are 401s, `vehicle_token` and
 * `insufficient_scope` 403s, `rate_limited` 429, `keys_unavailable` 503.
 */
export type OperatorRefusalReason =
  | 'token_missing'
  | 'token_wrong'
  | 'token_malformed'
  | 'token_signature'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'token_claims'
  | 'keys_unavailable'
  | 'vehicle_token'
  | 'insufficient_scope'
  | 'rate_limited';

export interface OperatorRefusal {
  ok: false;
  status: 401 | 403 | 429 | 503;
  reason: OperatorRefusalReason;
  /** A sentence for the caller saying why (never the token). */
  message: string;
  source?: TokenSource;
  identity?: OperatorIdentity;
  /** The scope the route needed (403). */
  scope?: OperatorScope;
  /** Seconds to wait before trying again (429, 503). */
  retryAfterSeconds?: number;
}

export type OperatorAuthResult = { ok: true; identity: OperatorIdentity } | OperatorRefusal;

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

/** The request's URL without the operator token of its query string: what may be logged. */
export function urlForLog(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  if (q < 0) return url;
  return `${url.slice(0, q)}?${url.slice(q + 1).split('&').map((p) => (/^(token|access_token)=/i.test(p) ? `${p.slice(0, p.indexOf('='))}=[redacted]` : p)).join('&')}`;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const hashPrefix = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 16);

export interface OperatorAuth {
  /** Who the request is, with no scope or rate check: 401 (or 503) when it is nobody. */
  identify(req: RequestLike): Promise<OperatorAuthResult>;
  /** What each route calls: identify, then the route's scope (403), then the identity's rate (429). */
  authorize(req: RequestLike, scope: OperatorScope): Promise<OperatorAuthResult>;
  readonly settings: OperatorAuthSettings;
}

/**
 * The check, built once at start from the settings (readOperatorAuth). With a JWKS file it reads
 * it now: a ConfigError naming AUTH_JWKS when it does not parse. `verifier` and `now` are for tests.
 */
export async function createOperatorAuth(
  settings: OperatorAuthSettings,
  opts: { verifier?: JwtVerifier; now?: () => number } = {},
): Promise<OperatorAuth> {
  const isStatic = tokenChecker(settings.tokens);
  const verifier = opts.verifier ?? (settings.jwt === undefined ? undefined : await createJwtVerifier(settings.jwt));
  const buckets = new TokenBuckets(settings.rate, opts.now);
  const accepted = [settings.tokens.length > 0 ? `one of ${OPERATOR_TOKENS_VARIABLE}` : '', verifier ? 'an operator JWT' : ''].filter(Boolean).join(' or ') || 'nothing (no operator token is configured)';

  const identify = async (req: RequestLike): Promise<OperatorAuthResult> => {
    const presented = presentedOperatorToken(req);
    if (presented === undefined) {
      return { ok: false, status: 401, reason: 'token_missing', message: `missing operator token: send authorization: Bearer <token> (${accepted})` };
    }
    const { token, source } = presented;
    if (isStatic(token)) {
      const digest = hashPrefix(token);
      return { ok: true, identity: { kind: 'static', subject: `static-token:${digest.slice(0, 8)}`, scopes: STATIC_SCOPES, source, expiresAt: undefined, key: `static:${digest}` } };
    }
    if (verifier === undefined || !JWT_SHAPE.test(token)) {
      return { ok: false, status: 401, reason: 'token_wrong', source, message: `wrong operator token: not ${accepted} (vehicle tokens are not operator tokens)` };
    }
    const verified = await verifier.verify(token);
    if (!verified.ok) {
      if (verified.reason === 'keys_unavailable') return { ok: false, status: 503, reason: 'keys_unavailable', source, message: verified.message, retryAfterSeconds: 1 };
      return { ok: false, status: 401, reason: `token_${verified.reason}` as OperatorRefusalReason, source, message: verified.message };
    }
    return { ok: true, identity: { kind: 'jwt', subject: verified.subject, scopes: verified.scopes, source, expiresAt: verified.expiresAt, key: `jwt:${verified.subject}` } };
  };

  return {
    settings,
    identify,
    async authorize(req, scope) {
      const result = await identify(req);
      if (!result.ok) return result;
      const { identity } = result;
      // A car's credential never acts as an operator, whatever else it lists.
      if (identity.scopes.has('vehicle')) {
        return { ok: false, status: 403, reason: 'vehicle_token', identity, scope, message: `a vehicle token (subject ${identity.subject}) is not accepted on the operators' APIs; this request needs ${scope}` };
      }
      if (!identity.scopes.has(scope)) {
        const held = [...identity.scopes].join(' ') || 'no scope';
        return { ok: false, status: 403, reason: 'insufficient_scope', identity, scope, message: `this request needs the scope ${scope}; the token of ${identity.subject} holds ${held}` };
      }
      const taken = buckets.take(identity.key);
      if (!taken.ok) {
        const retryAfterSeconds = Math.max(1, Math.ceil(taken.retryAfterMs / 1000));
        return {
          ok: false, status: 429, reason: 'rate_limited', identity, retryAfterSeconds,
          message: `too many requests from ${identity.subject}: at most ${settings.rate.ratePerSecond}/s (bursts of ${settings.rate.burst}); retry in ${retryAfterSeconds} s`,
        };
      }
      return result;
    },
  };
}

/** A quoted-string of an HTTP header: no quote, backslash or control character survives. */
const quoted = (text: string): string => `"${text.replace(/["\\\u0000-\u001f\u007f]/g, "'").slice(0, 300)}"`;

/**
 * The headers a refusal is answered with: WWW-Authenticate (RFC 6750: no error code when no token
 * was presented, `invalid_token` for one not accepted, `insufficient_scope` with the scope needed),
 * Retry-After for 429 and 503.
 */
export function refusalHeaders(refusal: OperatorRefusal, realm: string): Record<string, string> {
  const headers: Record<string, string> = {};
  if (refusal.status === 401) {
    headers['www-authenticate'] = refusal.reason === 'token_missing'
      ? `Bearer realm=${quoted(realm)}`
      : `Bearer realm=${quoted(realm)}, error="invalid_token", error_description=${quoted(refusal.message)}`;
  } else if (refusal.status === 403) {
    headers['www-authenticate'] = `Bearer realm=${quoted(realm)}, error="insufficient_scope", scope=${quoted(refusal.scope ?? '')}, error_description=${quoted(refusal.message)}`;
  }
  if (refusal.retryAfterSeconds !== undefined) headers['retry-after'] = String(refusal.retryAfterSeconds);
  return headers;
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
