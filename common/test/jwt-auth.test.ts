/**
 * The shared JWT check with real keys: an ES256 key pair published as a JWKS file, an HS256
 * development secret. Each refusal has its reason, and no token signed otherwise gets through.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { createJwtVerifier, readJwtConfig, type JwtVerifier } from '../src/jwt-auth.js';
import { hs256Key, mintToken, type SigningKey } from '../src/jwt-mint.js';
import { ConfigError } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'greenlane-jwt-'));
const SECRET = 'a-development-secret-of-32-chars!!';
let signing: SigningKey;
let stranger: SigningKey;
let verifier: JwtVerifier;

test.before(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  const other = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
  signing = { key: pair.privateKey, alg: 'ES256', kid: 'k1' };
  stranger = { key: other.privateKey, alg: 'ES256', kid: 'k1' };
  const cfg = readJwtConfig({ AUTH_JWKS: join(dir, 'jwks.json'), AUTH_JWT_HS256_SECRET: SECRET })!;
  verifier = await createJwtVerifier(cfg);
});

test('a token signed by the JWKS key is accepted with its subject, scopes and expiry', async () => {
  const token = await mintToken(signing, { subject: 'CAR-001', scopes: ['vehicle'], ttlSeconds: 60 });
  const result = await verifier.verify(token);
  assert.ok(result.ok);
  if (!result.ok) return;
  assert.is(result.subject, 'CAR-001');
  assert.ok(result.scopes.has('vehicle'));
  assert.ok(Math.abs(result.expiresAt - (Date.now() + 60_000)) < 2000);
});

test('wrong key, expired, not yet valid, wrong audience and wrong issuer are refused, each with its reason', async () => {
  const cases: Array<[string, Promise<string>, string]> = [
    ['wrong key', mintToken(stranger, { subject: 'CAR-001', scopes: ['vehicle'] }), 'signature'],
    ['expired', mintToken(signing, { subject: 'CAR-001', scopes: ['vehicle'], ttlSeconds: -60 }), 'expired'],
    ['not yet valid', mintToken(signing, { subject: 'CAR-001', scopes: ['vehicle'], notBeforeSeconds: 120 }), 'not_yet_valid'],
    ['audience', mintToken(signing, { subject: 'CAR-001', scopes: ['vehicle'], audience: 'someone-else' }), 'claims'],
    ['issuer', mintToken(signing, { subject: 'CAR-001', scopes: ['vehicle'], issuer: 'evil' }), 'claims'],
  ];
  for (const [name, token, reason] of cases) {
    const result = await verifier.verify(await token);
    assert.is(result.ok, false, name);
    if (!result.ok) assert.is(result.reason, reason, name);
  }
});

test('alg none, garbage and oversized tokens are refused as malformed or unsigned', async () => {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'CAR-001', scope: 'vehicle', iss: 'greenlane', aud: 'greenlane', exp: now + 60 })}.`;
  for (const token of [none, 'garbage', 'a.b.c', '....', 'x'.repeat(100_000), '']) {
    const result = await verifier.verify(token);
    assert.is(result.ok, false, token.slice(0, 20));
  }
});

test('HS256 is accepted only with the configured secret, and an HS256 token never reaches the JWKS', async () => {
  const good = await mintToken(hs256Key(SECRET), { subject: 'alice', scopes: ['operator:read'] });
  assert.ok((await verifier.verify(good)).ok);
  const forged = await mintToken(hs256Key('another-secret-that-is-32-chars-long'), { subject: 'alice', scopes: ['operator:read'] });
  assert.is((await verifier.verify(forged)).ok, false);
  const jwksOnly = await createJwtVerifier(readJwtConfig({ AUTH_JWKS: join(dir, 'jwks.json') })!);
  assert.is((await jwksOnly.verify(good)).ok, false);
});

test('a token without exp is refused', async () => {
  const token = await new SignJWT({ scope: 'vehicle' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('CAR-001')
    .setIssuer('greenlane').setAudience('greenlane').sign(signing.key as CryptoKey);
  assert.is((await verifier.verify(token)).ok, false);
});

test('configuration: HS256 refused in production, a short secret refused, a missing JWKS file names AUTH_JWKS', async () => {
  assert.is(readJwtConfig({}), undefined);
  assert.throws(() => readJwtConfig({ AUTH_JWT_HS256_SECRET: SECRET, NODE_ENV: 'production' }), (e: unknown) => e instanceof ConfigError && e.variable === 'AUTH_JWT_HS256_SECRET');
  assert.throws(() => readJwtConfig({ AUTH_JWT_HS256_SECRET: 'short' }), (e: unknown) => e instanceof ConfigError && e.variable === 'AUTH_JWT_HS256_SECRET');
  try {
    await createJwtVerifier(readJwtConfig({ AUTH_JWKS: join(dir, 'missing.json') })!);
    assert.unreachable('a missing JWKS file must stop the start');
  } catch (error) {
    assert.ok(error instanceof ConfigError && error.variable === 'AUTH_JWKS', String(error));
  }
});

test.run();
