/**
 * Minting GreenLane JWTs: the development tooling (`make certs` writes a signing key and its JWKS),
 * the simulator (one token per car, `--jwt-key`) and the tests. Production tokens come from the
 * fleet's identity provider; this signs with a key file the same way one would.
 */
import { readFile } from 'node:fs/promises';
import { importPKCS8, SignJWT, type CryptoKey, type KeyObject } from 'jose';
import { JWT_DEFAULTS } from './jwt-auth.js';

export interface MintOptions {
  subject: string;
  scopes: readonly string[];
  /** Lifetime in seconds from now (default 3600). */
  ttlSeconds?: number;
  issuer?: string;
  audience?: string;
  /** Seconds from now before which the token is not valid (nbf); default: none. */
  notBeforeSeconds?: number;
}

export interface SigningKey {
  key: CryptoKey | KeyObject | Uint8Array;
  alg: string;
  kid?: string;
}

/** A PKCS#8 PEM private key (ES256 unless `alg` says otherwise), with the key id its JWKS names. */
export async function readSigningKey(path: string, alg = 'ES256', kid?: string): Promise<SigningKey> {
  const pem = await readFile(path, 'utf8');
  return { key: await importPKCS8(pem, alg), alg, ...(kid === undefined ? {} : { kid }) };
}

/** An HS256 development key from a shared secret (AUTH_JWT_HS256_SECRET). */
export function hs256Key(secret: string): SigningKey {
  return { key: new TextEncoder().encode(secret), alg: 'HS256' };
}

export async function mintToken(signing: SigningKey, options: MintOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ scope: options.scopes.join(' ') })
    .setProtectedHeader({ alg: signing.alg, typ: 'JWT', ...(signing.kid === undefined ? {} : { kid: signing.kid }) })
    .setSubject(options.subject)
    .setIssuer(options.issuer ?? JWT_DEFAULTS.issuer)
    .setAudience(options.audience ?? JWT_DEFAULTS.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.ttlSeconds ?? 3600));
  if (options.notBeforeSeconds !== undefined) jwt.setNotBefore(now + options.notBeforeSeconds);
  return jwt.sign(signing.key);
}
