/**
 * JWT bearer tokens, shared by the vehicles' port (ingestion) and the operators' APIs.
 *
 * Keys come from a JWKS (`AUTH_JWKS`: a file path, or an http(s) URL fetched and cached by jose);
 * HS256 with a shared secret (`AUTH_JWT_HS256_SECRET`) only when explicitly configured, and never
 * with NODE_ENV=production. Every token must carry the configured issuer and audience, `exp`, and
 * `nbf` when present must have passed; `alg: none` is never accepted (jose refuses unsecured JWTs).
 *
 * Scopes are the space-separated `scope` claim (OAuth 2.0), or a `scp` array:
 *   - `vehicle`: a car; its `sub` is the car id it may speak for, and nothing else;
 *   - `operator:read`: operators' reads (the map, alerts, commands' statuses);
 *   - `operator:command`: operators' writes (commands to cars, acknowledging alerts).
 */
import { readFile, stat } from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { ConfigError, envInt, envOptional, envString } from './config.js';

export const SCOPES = ['vehicle', 'operator:read', 'operator:command'] as const;
export type Scope = (typeof SCOPES)[number];

export const JWT_VARIABLES = {
  jwks: 'AUTH_JWKS',
  issuer: 'AUTH_JWT_ISSUER',
  audience: 'AUTH_JWT_AUDIENCE',
  hs256Secret: 'AUTH_JWT_HS256_SECRET',
  clockTolerance: 'AUTH_JWT_CLOCK_TOLERANCE_S',
} as const;

export const JWT_DEFAULTS = { issuer: 'greenlane', audience: 'greenlane', clockToleranceS: 5 } as const;

/** Signature algorithms accepted from a JWKS: asymmetric only. */
const ASYMMETRIC_ALGORITHMS = ['ES256', 'ES384', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'];

export interface JwtConfig {
  /** File path or http(s) URL of the JWKS; undefined when only HS256 is configured. */
  jwks: string | undefined;
  issuer: string;
  audience: string;
  /** Development only: a shared HS256 secret. */
  hs256Secret: string | undefined;
  clockToleranceS: number;
}

/** The JWT settings from the environment, or undefined when neither AUTH_JWKS nor AUTH_JWT_HS256_SECRET is set. */
export function readJwtConfig(env: Record<string, string | undefined>): JwtConfig | undefined {
  const jwks = envOptional(env, JWT_VARIABLES.jwks);
  const hs256Secret = envOptional(env, JWT_VARIABLES.hs256Secret);
  if (jwks === undefined && hs256Secret === undefined) return undefined;
  if (hs256Secret !== undefined) {
    if (env.NODE_ENV === 'production') {
      throw new ConfigError(JWT_VARIABLES.hs256Secret, '<set>', 'unset when NODE_ENV=production (HS256 shared secrets are for development; use AUTH_JWKS)');
    }
    if (hs256Secret.length < 32) throw new ConfigError(JWT_VARIABLES.hs256Secret, '<hidden>', 'at least 32 characters');
  }
  if (jwks !== undefined && /^[a-z]+:\/\//i.test(jwks) && !/^https?:\/\//i.test(jwks)) {
    throw new ConfigError(JWT_VARIABLES.jwks, jwks, 'a file path or an http(s) URL of a JWKS');
  }
  return {
    jwks,
    issuer: envString(env, JWT_VARIABLES.issuer, JWT_DEFAULTS.issuer),
    audience: envString(env, JWT_VARIABLES.audience, JWT_DEFAULTS.audience),
    hs256Secret,
    clockToleranceS: envInt(env, JWT_VARIABLES.clockTolerance, JWT_DEFAULTS.clockToleranceS, 0, 300),
  };
}

/** What a verified token says. */
export interface JwtIdentity {
  subject: string;
  scopes: ReadonlySet<string>;
  /** Unix epoch ms at which the token expires. */
  expiresAt: number;
}

/** Why a token was refused: a short, stable reason (a metric label) and a sentence for the caller. */
export type JwtRefusal = { reason: 'malformed' | 'signature' | 'expired' | 'not_yet_valid' | 'claims' | 'keys_unavailable'; message: string };

export type JwtResult = ({ ok: true } & JwtIdentity) | ({ ok: false } & JwtRefusal);

export interface JwtVerifier {
  verify(token: string): Promise<JwtResult>;
}

/** Longer than any real token; a huge `authorization` value is refused before parsing. */
export const MAX_TOKEN_LENGTH = 8192;

function scopesOf(payload: JWTPayload): Set<string> {
  const scopes = new Set<string>();
  if (typeof payload.scope === 'string') for (const s of payload.scope.split(' ')) if (s !== '') scopes.add(s);
  if (Array.isArray(payload.scp)) for (const s of payload.scp) if (typeof s === 'string') scopes.add(s);
  return scopes;
}

function refusal(error: unknown): JwtRefusal {
  if (error instanceof joseErrors.JWTExpired) return { reason: 'expired', message: 'token expired' };
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return { reason: 'not_yet_valid', message: 'token not yet valid (nbf)' };
    return { reason: 'claims', message: `token claim ${error.claim} refused: ${error.reason}` };
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed || error instanceof joseErrors.JWKSNoMatchingKey) {
    return { reason: 'signature', message: 'token signature not verified by any configured key' };
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return { reason: 'signature', message: 'token algorithm not accepted' };
  if (error instanceof joseErrors.JWKSTimeout || (error instanceof Error && /fetch|ECONNREFUSED|ENOTFOUND/i.test(error.message))) {
    return { reason: 'keys_unavailable', message: 'signing keys unavailable; try again' };
  }
  return { reason: 'malformed', message: 'token malformed' };
}

/** A local JWKS file, re-read when its modification time changes (checked at most once a second). */
function fileKeySet(path: string): JWTVerifyGetKey {
  let current: { mtimeMs: number; getKey: JWTVerifyGetKey } | undefined;
  let checkedAt = 0;
  const load = async (): Promise<JWTVerifyGetKey> => {
    const now = Date.now();
    if (current !== undefined && now - checkedAt < 1000) return current.getKey;
    checkedAt = now;
    const { mtimeMs } = await stat(path);
    if (current === undefined || current.mtimeMs !== mtimeMs) {
      const keys = JSON.parse(await readFile(path, 'utf8')) as JSONWebKeySet;
      current = { mtimeMs, getKey: createLocalJWKSet(keys) };
    }
    return current.getKey;
  };
  return async (header, token) => (await load())(header, token);
}

/**
 * A verifier for the configured keys. With a JWKS file it checks at start that the file parses
 * (a ConfigError naming AUTH_JWKS otherwise), so a typo stops the program instead of refusing
 * every car.
 */
export async function createJwtVerifier(cfg: JwtConfig): Promise<JwtVerifier> {
  let jwksKey: JWTVerifyGetKey | undefined;
  if (cfg.jwks !== undefined) {
    if (/^https?:\/\//i.test(cfg.jwks)) {
      jwksKey = createRemoteJWKSet(new URL(cfg.jwks), { timeoutDuration: 2000, cooldownDuration: 30_000 });
    } else {
      try {
        createLocalJWKSet(JSON.parse(await readFile(cfg.jwks, 'utf8')) as JSONWebKeySet);
      } catch (error) {
        throw new ConfigError(JWT_VARIABLES.jwks, cfg.jwks, `a readable JWKS file (${(error as Error).message})`);
      }
      jwksKey = fileKeySet(cfg.jwks);
    }
  }
  const secret = cfg.hs256Secret === undefined ? undefined : new TextEncoder().encode(cfg.hs256Secret);
  const options = { issuer: cfg.issuer, audience: cfg.audience, clockTolerance: cfg.clockToleranceS, requiredClaims: ['exp', 'sub'] };

  const accept = (payload: JWTPayload): JwtResult => ({
    ok: true,
    subject: payload.sub!,
    scopes: scopesOf(payload),
    expiresAt: payload.exp! * 1000,
  });

  return {
    async verify(token) {
      if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'malformed', message: `token length ${token.length} not accepted` };
      // The header says which key type signed it; an HS256 token never reaches the JWKS, nor the other way round.
      let alg: unknown;
      try {
        const header = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8')) as { alg?: unknown };
        alg = header.alg;
      } catch {
        return { ok: false, reason: 'malformed', message: 'token malformed' };
      }
      try {
        if (alg === 'HS256') {
          if (secret === undefined) return { ok: false, reason: 'signature', message: 'token algorithm HS256 not accepted' };
          return accept((await jwtVerify(token, secret, { ...options, algorithms: ['HS256'] })).payload);
        }
        if (jwksKey === undefined) return { ok: false, reason: 'signature', message: `token algorithm ${String(alg)} not accepted` };
        return accept((await jwtVerify(token, jwksKey, { ...options, algorithms: ASYMMETRIC_ALGORITHMS })).payload);
      } catch (error) {
        return { ok: false, ...refusal(error) };
      }
    },
  };
}
