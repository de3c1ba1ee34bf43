/**
 * The simulator's transport security and credentials (issue 18): TLS, client certificates for
 * mutual TLS, JWT bearer tokens. Each from its flag, else its variable, else a default; a missing
 * or unreadable file, or a flag that needs another, throws ConfigError naming the flag.
 *
 * Everything here is plain data (paths, strings, numbers), so load mode can hand it to its worker
 * threads as it is: each thread reads the files and imports the signing key itself.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { createPrivateKey, createSecretKey, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { ConfigError, type Flags } from '@greenlane/common';

export interface ClientTlsConfig {
  /** --tls-ca: the CA the server's certificate must be signed by. */
  caFile: string;
  /** --tls-server-name: the name checked in the server's certificate and sent as SNI; unset = the target's host. */
  serverName: string | undefined;
  /** --cert/--key: one client certificate for every car (the server sees every car as its CN). */
  cert: { certFile: string; keyFile: string } | undefined;
  /** --cert-dir: each car its own connection, with DIR/<car>.pem and DIR/<car>-key.pem. */
  certDir: string | undefined;
}

/** How each car's bearer token comes to be: given once (--jwt), or minted per car (--jwt-key, --jwt-secret). */
export type JwtConfig =
  | { kind: 'static'; token: string; source: string }
  | { kind: 'key'; keyFile: string; alg: string; kid: string; ttlSeconds: number; issuer: string; audience: string; source: string }
  | { kind: 'secret'; secret: string; ttlSeconds: number; issuer: string; audience: string; source: string };

export interface SecurityOptions {
  tls: ClientTlsConfig | undefined;
  jwt: JwtConfig | undefined;
}

export const SECURITY_FLAGS = {
  'tls-ca': { type: 'string' },
  'tls-server-name': { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'cert-dir': { type: 'string' },
  jwt: { type: 'string' },
  'jwt-key': { type: 'string' },
  'jwt-secret': { type: 'string' },
  'jwt-kid': { type: 'string' },
  'jwt-alg': { type: 'string' },
  'jwt-ttl': { type: 'string' },
  'jwt-issuer': { type: 'string' },
  'jwt-audience': { type: 'string' },
} as const;

export const JWT_DEFAULTS = { kid: 'greenlane-dev-1', alg: 'ES256', ttlSeconds: 3600, issuer: 'greenlane', audience: 'greenlane' } as const;

export const SECURITY_USAGE: Array<[string, string]> = [
  ['--tls-ca FILE', 'connect with TLS, trusting the server\'s certificate only when signed by this CA (PEM) [SIM_TLS_CA; unset = plaintext]'],
  ['--tls-server-name NAME', 'with --tls-ca: the name the server\'s certificate must carry, sent as SNI [SIM_TLS_SERVER_NAME, the target\'s host]'],
  ['--cert FILE --key FILE', 'mutual TLS: one client certificate and its key for every car; the server takes every car on it for the certificate\'s CN, so use it for one car, or --cert-dir [SIM_TLS_CERT, SIM_TLS_KEY]'],
  ['--cert-dir DIR', 'mutual TLS, one certificate per car: each car its own connection with DIR/<car>.pem and DIR/<car>-key.pem (scripts/certs.mjs writes them in .cache/certs/cars); --channels is then ignored [SIM_TLS_CERT_DIR]'],
  ['--jwt TOKEN', 'bearer token sent by every car (authorization: Bearer TOKEN); fine for one car, never renewed [SIM_JWT]'],
  ['--jwt-key FILE', 'mint one JWT per car with this PKCS#8 PEM private key: sub = the car id, scope vehicle; renewed when a car reconnects within a minute of expiry or after its stream ended at expiry [SIM_JWT_KEY]'],
  ['--jwt-secret SECRET', 'as --jwt-key, signed HS256 with a shared secret of 32 characters or more (development: the ingestion\'s AUTH_JWT_HS256_SECRET) [SIM_JWT_SECRET]'],
  ['--jwt-kid KID', 'with --jwt-key: the key id in the token\'s header, as in the JWKS [SIM_JWT_KID, greenlane-dev-1]'],
  ['--jwt-alg ALG', 'with --jwt-key: ES256, ES384, RS256, PS256, EdDSA, ... [SIM_JWT_ALG, ES256]'],
  ['--jwt-ttl DUR', 'lifetime of a minted token: bare seconds, 90s, 60m, 1h [SIM_JWT_TTL, 3600]'],
  ['--jwt-issuer ISS, --jwt-audience AUD', 'iss and aud of minted tokens [SIM_JWT_ISSUER, SIM_JWT_AUDIENCE; greenlane, greenlane]'],
];

export const SECURITY_ENVIRONMENT: Array<[string, string]> = [
  ['SIM_TLS_CA, SIM_TLS_SERVER_NAME, SIM_TLS_CERT, SIM_TLS_KEY, SIM_TLS_CERT_DIR', 'as the flags'],
  ['SIM_JWT, SIM_JWT_KEY, SIM_JWT_SECRET', 'as the flags (a token or secret in a flag shows in ps: prefer the variable)'],
  ['SIM_JWT_KID, SIM_JWT_ALG, SIM_JWT_TTL, SIM_JWT_ISSUER, SIM_JWT_AUDIENCE', 'as the flags'],
];

/** Asymmetric algorithms a --jwt-key may sign with (those the ingestion accepts from a JWKS). */
const KEY_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'];

type Env = Record<string, string | undefined>;

interface Picked {
  value: string | undefined;
  name: string;
}

function pick(flags: Flags, flag: string, env: Env, variable: string): Picked {
  const fromFlag = flags[flag];
  if (typeof fromFlag === 'string') return { value: fromFlag.trim(), name: `--${flag}` };
  const fromEnv = env[variable]?.trim();
  return { value: fromEnv === undefined || fromEnv === '' ? undefined : fromEnv, name: variable };
}

/** The file's text, or a ConfigError naming the flag and saying why it cannot be read. */
function readFlagFile(picked: Picked & { value: string }, what: string): string {
  try {
    return readFileSync(picked.value, 'utf8');
  } catch (error) {
    throw new ConfigError(picked.name, picked.value, `${what}, readable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

function checkCertificate(picked: Picked & { value: string }, what: string): X509Certificate {
  const text = readFlagFile(picked, what);
  try {
    return new X509Certificate(text);
  } catch (error) {
    throw new ConfigError(picked.name, picked.value, `${what} (${(error as Error).message})`);
  }
}

function checkPrivateKey(picked: Picked & { value: string }, what: string, text = readFlagFile(picked, what)): ReturnType<typeof createPrivateKey> {
  try {
    return createPrivateKey(text);
  } catch (error) {
    throw new ConfigError(picked.name, picked.value, `${what} (${(error as Error).message})`);
  }
}

const given = (p: Picked): p is Picked & { value: string } => p.value !== undefined;

/** The per-car files of --cert-dir (scripts/certs.mjs's layout). */
export function carCertFiles(dir: string, carId: string): { certFile: string; keyFile: string } {
  return { certFile: join(dir, `${carId}.pem`), keyFile: join(dir, `${carId}-key.pem`) };
}

function parseTls(flags: Flags, env: Env, carIds: () => readonly string[]): ClientTlsConfig | undefined {
  const ca = pick(flags, 'tls-ca', env, 'SIM_TLS_CA');
  const serverName = pick(flags, 'tls-server-name', env, 'SIM_TLS_SERVER_NAME');
  const cert = pick(flags, 'cert', env, 'SIM_TLS_CERT');
  const key = pick(flags, 'key', env, 'SIM_TLS_KEY');
  const certDir = pick(flags, 'cert-dir', env, 'SIM_TLS_CERT_DIR');

  // A client certificate only means something inside TLS: say so rather than send it in the clear or drop it.
  for (const p of [cert, key, certDir, serverName]) if (given(p) && !given(ca)) throw new ConfigError(p.name, p.value, `${p.name} with --tls-ca (SIM_TLS_CA): it is used inside TLS only`);
  if (given(key) && !given(cert)) throw new ConfigError(key.name, key.value, 'a key with --cert (SIM_TLS_CERT), the certificate it belongs to');
  if (given(cert) && !given(key)) throw new ConfigError(cert.name, cert.value, 'a certificate with --key (SIM_TLS_KEY), its private key');
  if (given(cert) && given(certDir)) throw new ConfigError(certDir.name, certDir.value, 'either --cert/--key (one certificate) or --cert-dir (one per car), not both');
  if (!given(ca)) return undefined;

  checkCertificate(ca, 'a PEM CA certificate');
  let single: ClientTlsConfig['cert'];
  if (given(cert) && given(key)) {
    const x509 = checkCertificate(cert, 'a PEM client certificate');
    const privateKey = checkPrivateKey(key, 'a PEM private key');
    if (!x509.checkPrivateKey(privateKey)) throw new ConfigError(key.name, key.value, `the private key of --cert ${cert.value} (this key does not match it)`);
    single = { certFile: cert.value, keyFile: key.value };
  }
  if (given(certDir)) checkCertDir(certDir, carIds());
  return { caFile: ca.value, serverName: serverName.value, cert: single, certDir: certDir.value };
}

/** Every car's two files are there and readable (a run would otherwise lose cars one by one, later). */
function checkCertDir(dir: Picked & { value: string }, carIds: readonly string[]): void {
  try {
    if (!statSync(dir.value).isDirectory()) throw new Error('not a directory');
  } catch (error) {
    throw new ConfigError(dir.name, dir.value, `a directory of car certificates (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const missing: string[] = [];
  for (const id of carIds) {
    const { certFile, keyFile } = carCertFiles(dir.value, id);
    for (const file of [certFile, keyFile]) {
      try {
        accessSync(file, constants.R_OK);
      } catch {
        missing.push(file);
      }
    }
  }
  if (missing.length > 0) {
    throw new ConfigError(dir.name, dir.value,
      `<car>.pem and <car>-key.pem for each of the ${carIds.length} cars: ${missing.length} file(s) missing or unreadable, first ${missing[0]} ` +
        `(node scripts/certs.mjs --out DIR --car-ids ${carIds.slice(0, 2).join(',')}${carIds.length > 2 ? ',...' : ''} makes them in DIR/cars)`);
  }
  // The first car's pair must belong together; the rest are checked by the TLS handshake itself.
  const first = carIds[0];
  if (first !== undefined) {
    const { certFile, keyFile } = carCertFiles(dir.value, first);
    const x509 = checkCertificate({ name: dir.name, value: certFile }, 'a PEM client certificate');
    const key = checkPrivateKey({ name: dir.name, value: keyFile }, 'a PEM private key');
    if (!x509.checkPrivateKey(key)) throw new ConfigError(dir.name, keyFile, `the private key of ${certFile} (it does not match)`);
  }
}

function positiveSeconds(p: Picked, fallback: number): number {
  if (!given(p)) return fallback;
  const match = /^(\d+(?:\.\d+)?)\s*(s|m|h)?$/.exec(p.value);
  const seconds = match ? Number(match[1]) * { s: 1, m: 60, h: 3600 }[(match[2] ?? 's') as 's' | 'm' | 'h'] : NaN;
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 366 * 86400) throw new ConfigError(p.name, p.value, 'a lifetime from 1 s to a year, like 3600, 90s, 60m or 1h');
  return Math.round(seconds);
}

function parseJwt(flags: Flags, env: Env): JwtConfig | undefined {
  const token = pick(flags, 'jwt', env, 'SIM_JWT');
  const keyFile = pick(flags, 'jwt-key', env, 'SIM_JWT_KEY');
  const secret = pick(flags, 'jwt-secret', env, 'SIM_JWT_SECRET');
  const minting = { kid: pick(flags, 'jwt-kid', env, 'SIM_JWT_KID'), alg: pick(flags, 'jwt-alg', env, 'SIM_JWT_ALG'), ttl: pick(flags, 'jwt-ttl', env, 'SIM_JWT_TTL'),
    issuer: pick(flags, 'jwt-issuer', env, 'SIM_JWT_ISSUER'), audience: pick(flags, 'jwt-audience', env, 'SIM_JWT_AUDIENCE') };
  const sources = [token, keyFile, secret].filter(given);
  if (sources.length > 1) throw new ConfigError(sources[1]!.name, '<set>', `one of --jwt, --jwt-key, --jwt-secret (${sources[0]!.name} is set too)`);
  if (!given(keyFile) && !given(secret)) {
    // Minting settings without a key would be silently ignored: a typo'd command line, most likely.
    for (const p of Object.values(minting)) if (given(p)) throw new ConfigError(p.name, p.value, `${p.name} with --jwt-key or --jwt-secret (the tokens it shapes are minted)`);
  }
  if (given(token)) {
    // Three base64url parts: a JWS compact token. Anything else is a mistake best caught here.
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token.value)) throw new ConfigError(token.name, '<hidden>', 'a JWT (header.payload.signature, base64url)');
    return { kind: 'static', token: token.value, source: token.name };
  }
  const claims = {
    ttlSeconds: positiveSeconds(minting.ttl, JWT_DEFAULTS.ttlSeconds),
    issuer: minting.issuer.value ?? JWT_DEFAULTS.issuer,
    audience: minting.audience.value ?? JWT_DEFAULTS.audience,
  };
  if (given(secret)) {
    for (const p of [minting.kid, minting.alg]) if (given(p)) throw new ConfigError(p.name, p.value, `${p.name} with --jwt-key (--jwt-secret signs HS256, without a key id)`);
    // The ingestion refuses a shorter AUTH_JWT_HS256_SECRET, so a shorter one here could never match.
    if (secret.value.length < 32) throw new ConfigError(secret.name, '<hidden>', 'a secret of at least 32 characters (as the ingestion\'s AUTH_JWT_HS256_SECRET)');
    createSecretKey(Buffer.from(secret.value));
    return { kind: 'secret', secret: secret.value, ...claims, source: secret.name };
  }
  if (!given(keyFile)) return undefined;
  const alg = minting.alg.value ?? JWT_DEFAULTS.alg;
  if (!KEY_ALGORITHMS.includes(alg)) throw new ConfigError(minting.alg.name, alg, `one of ${KEY_ALGORITHMS.join(', ')}`);
  const pem = readFlagFile(keyFile, 'a PKCS#8 PEM private key');
  const key = checkPrivateKey(keyFile, 'a PKCS#8 PEM private key', pem);
  // jose imports PKCS#8 only; a "BEGIN EC PRIVATE KEY" (SEC1) file would fail later, in every thread.
  if (!pem.includes('-----BEGIN PRIVATE KEY-----')) {
    throw new ConfigError(keyFile.name, keyFile.value, `a PKCS#8 PEM private key ("BEGIN PRIVATE KEY"; convert with openssl pkcs8 -topk8 -nocrypt)`);
  }
  const keyAlg = key.asymmetricKeyType;
  const fits = alg.startsWith('ES') ? keyAlg === 'ec' : alg === 'EdDSA' ? keyAlg === 'ed25519' || keyAlg === 'ed448' : keyAlg === 'rsa' || keyAlg === 'rsa-pss';
  if (!fits) throw new ConfigError(keyFile.name, keyFile.value, `a key for ${alg} (this one is ${keyAlg}; set --jwt-alg to match)`);
  return { kind: 'key', keyFile: keyFile.value, alg, kid: minting.kid.value ?? JWT_DEFAULTS.kid, ...claims, source: keyFile.name };
}

/** `carIds`: the run's cars, asked only with --cert-dir (whose files are checked for each). */
export function parseSecurity(flags: Flags, env: Env, carIds: () => readonly string[]): SecurityOptions {
  return { tls: parseTls(flags, env, carIds), jwt: parseJwt(flags, env) };
}

/** Whether the x-api-token was given explicitly (a flag or API_TOKEN), not the development default. */
export function tokenGiven(flags: Flags, env: Env): boolean {
  return given(pick(flags, 'token', env, 'API_TOKEN'));
}
