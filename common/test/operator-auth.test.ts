/**
 * The operators' check with real keys (an ES256 pair published as a JWKS file, as `make certs`
 * writes them) and the static tokens beside: who is accepted, with which scopes, what each refusal
 * says, and the per-identity rate limit on a clock of the test's own.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { ConfigError } from '../src/config.js';
import { mintToken, type SigningKey } from '../src/jwt-mint.js';
import {
  DEVELOPMENT_OPERATOR_TOKEN,
  OPERATOR_COOKIE,
  createOperatorAuth,
  describeOperatorAuth,
  operatorCookie,
  presentedOperatorToken,
  readOperatorAuth,
  readOperatorRateLimit,
  readOperatorTokens,
  refusalHeaders,
  urlForLog,
  type OperatorAuth,
  type OperatorAuthResult,
  type OperatorAuthSettings,
  type OperatorRefusal,
} from '../src/operator-auth.js';

const dir = mkdtempSync(join(tmpdir(), 'greenlane-operator-auth-'));
const JWKS = join(dir, 'jwks.json');
let signing: SigningKey;
let stranger: SigningKey;

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const settings = (over: Partial<OperatorAuthSettings> = {}): OperatorAuthSettings => ({ tokens: ['op-a', 'op-b'], development: false, jwt: undefined, rate: { ratePerSecond: 0, burst: 0 }, ...over });
const refusal = (r: OperatorAuthResult): OperatorRefusal => {
  if (r.ok) throw new Error(`accepted ${r.identity.subject}`);
  return r;
};

test.before(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  const other = await generateKeyPair('ES256', { extractable: true });
  writeFileSync(JWKS, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
  signing = { key: pair.privateKey, alg: 'ES256', kid: 'k1' };
  stranger = { key: other.privateKey, alg: 'ES256', kid: 'k1' };
});

test('OPERATOR_TOKENS is parsed once: a list, the development token when nothing is configured, refused unset in production', () => {
  assert.equal(readOperatorTokens({ OPERATOR_TOKENS: 'op-a, op-b,,' }), { tokens: ['op-a', 'op-b'], development: false });
  assert.equal(readOperatorTokens({}), { tokens: [DEVELOPMENT_OPERATOR_TOKEN], development: true });
  // The vehicles' tokens are not operators' tokens.
  assert.equal(readOperatorTokens({ API_TOKENS: 'vehicle' }).tokens, [DEVELOPMENT_OPERATOR_TOKEN]);
  try {
    readOperatorTokens({ NODE_ENV: 'production' });
    assert.unreachable('production without OPERATOR_TOKENS must be refused');
  } catch (error) {
    assert.instance(error, ConfigError);
    assert.is((error as ConfigError).variable, 'OPERATOR_TOKENS');
  }
  assert.throws(() => readOperatorTokens({ OPERATOR_TOKENS: ' , ' }), /OPERATOR_TOKENS/);
});

test('with a JWT key configured and OPERATOR_TOKENS unset there is no static token, in production too', () => {
  assert.equal(readOperatorTokens({ AUTH_JWKS: JWKS }), { tokens: [], development: false });
  assert.equal(readOperatorTokens({ AUTH_JWKS: JWKS, NODE_ENV: 'production' }), { tokens: [], development: false });
  assert.equal(readOperatorTokens({ AUTH_JWT_HS256_SECRET: 'x'.repeat(32) }), { tokens: [], development: false });
  assert.equal(readOperatorTokens({ AUTH_JWKS: JWKS, OPERATOR_TOKENS: 'legacy' }), { tokens: ['legacy'], development: false });
  const all = readOperatorAuth({ AUTH_JWKS: JWKS });
  assert.is(all.jwt?.jwks, JWKS);
  assert.equal(all.rate, { ratePerSecond: 20, burst: 40 });
  // What is logged of it names no secret.
  const described = JSON.stringify(describeOperatorAuth(readOperatorAuth({ AUTH_JWT_HS256_SECRET: 's3cr3t'.repeat(6), OPERATOR_TOKENS: 'legacy-secret' })));
  assert.not.match(described, /s3cr3t|legacy-secret/);
  assert.match(described, /"hs256":true/);
});

test('OPERATOR_RATE and OPERATOR_BURST: defaults 20/s and twice the rate, 0 turns the limit off, bad values name their variable', () => {
  assert.equal(readOperatorRateLimit({}), { ratePerSecond: 20, burst: 40 });
  assert.equal(readOperatorRateLimit({ OPERATOR_RATE: '5' }), { ratePerSecond: 5, burst: 10 });
  assert.equal(readOperatorRateLimit({ OPERATOR_RATE: '0.5', OPERATOR_BURST: '3' }), { ratePerSecond: 0.5, burst: 3 });
  assert.equal(readOperatorRateLimit({ OPERATOR_RATE: '0', OPERATOR_BURST: 'whatever' }), { ratePerSecond: 0, burst: 0 });
  for (const [variable, env] of [
    ['OPERATOR_RATE', { OPERATOR_RATE: 'fast' }],
    ['OPERATOR_RATE', { OPERATOR_RATE: '-1' }],
    ['OPERATOR_BURST', { OPERATOR_BURST: '1.5' }],
    ['OPERATOR_BURST', { OPERATOR_BURST: '0' }],
  ] as const) {
    try {
      readOperatorRateLimit(env);
      assert.unreachable(JSON.stringify(env));
    } catch (error) {
      assert.instance(error, ConfigError);
      assert.is((error as ConfigError).variable, variable, JSON.stringify(env));
    }
  }
});

test('the token is found in the bearer header, then the cookie, then the query; the query token is never logged', () => {
  assert.equal(presentedOperatorToken({ headers: { authorization: 'Bearer abc' }, url: '/x?token=q' }), { token: 'abc', source: 'header' });
  assert.equal(presentedOperatorToken({ headers: { cookie: `a=1; ${OPERATOR_COOKIE}=c%20d; b=2` }, url: '/x?token=q' }), { token: 'c d', source: 'cookie' });
  assert.equal(presentedOperatorToken({ headers: {}, url: '/ws?token=q%2Bx' }), { token: 'q+x', source: 'query' });
  assert.is(presentedOperatorToken({ headers: { authorization: 'Basic Zm9v' }, url: '/' }), undefined);
  assert.is(presentedOperatorToken({ headers: { cookie: 'other=1' }, url: '/?token=' }), undefined);
  assert.is(urlForLog('/ws?a=1&token=secret&b=2'), '/ws?a=1&token=[redacted]&b=2');
  assert.is(urlForLog('/api/v1/cars'), '/api/v1/cars');
});

test('static tokens: exactly the configured ones, wherever presented, holding both operator scopes', async () => {
  const auth = await createOperatorAuth(settings());
  const header = await auth.authorize({ headers: { authorization: 'bearer op-b' } }, 'operator:command');
  assert.ok(header.ok);
  if (header.ok) {
    assert.is(header.identity.kind, 'static');
    assert.is(header.identity.source, 'header');
    assert.equal([...header.identity.scopes].sort(), ['operator:command', 'operator:read']);
    // Neither the subject nor the rate-limit key is the token.
    assert.not.match(header.identity.subject + header.identity.key, /op-b/);
  }
  assert.ok((await auth.authorize({ headers: { cookie: `${OPERATOR_COOKIE}=op-a` } }, 'operator:read')).ok);
  assert.ok((await auth.authorize({ headers: {}, url: '/?token=op-a' }, 'operator:read')).ok);
  const missing = refusal(await auth.authorize({ headers: {}, url: '/' }, 'operator:read'));
  assert.equal([missing.status, missing.reason], [401, 'token_missing']);
  assert.match(missing.message, /Bearer/);
  const wrong = refusal(await auth.authorize(bearer('op-c'), 'operator:read'));
  assert.equal([wrong.status, wrong.reason, wrong.source], [401, 'token_wrong', 'header']);
  // A prefix, a longer string, another case: all wrong; and a JWT where no key is configured.
  for (const token of ['op-', 'op-aa', 'OP-A', await mintToken(signing, { subject: 'ana', scopes: ['operator:read'] })]) {
    assert.is(refusal(await auth.identify(bearer(token))).reason, 'token_wrong', token);
  }
  assert.is(refusal(await (await createOperatorAuth(settings({ tokens: [] }))).identify(bearer('anything'))).reason, 'token_wrong');
});

test('JWTs: operator:read reads, operator:command commands, neither implies the other; a vehicle token is refused 403', async () => {
  const auth = await createOperatorAuth(settings({ jwt: readOperatorAuth({ AUTH_JWKS: JWKS }).jwt }));
  const reader = await mintToken(signing, { subject: 'ana', scopes: ['operator:read'] });
  const commander = await mintToken(signing, { subject: 'bo', scopes: ['operator:command'] });
  const both = await mintToken(signing, { subject: 'cy', scopes: ['operator:read', 'operator:command'] });
  const ok = await auth.authorize(bearer(reader), 'operator:read');
  assert.ok(ok.ok);
  if (ok.ok) {
    assert.equal([ok.identity.kind, ok.identity.subject, ok.identity.key], ['jwt', 'ana', 'jwt:ana']);
    assert.ok(ok.identity.expiresAt! > Date.now());
  }
  const readOnly = refusal(await auth.authorize(bearer(reader), 'operator:command'));
  assert.equal([readOnly.status, readOnly.reason, readOnly.scope], [403, 'insufficient_scope', 'operator:command']);
  assert.match(readOnly.message, /needs the scope operator:command; the token of ana holds operator:read/);
  assert.ok((await auth.authorize(bearer(commander), 'operator:command')).ok);
  assert.is(refusal(await auth.authorize(bearer(commander), 'operator:read')).reason, 'insufficient_scope');
  assert.ok((await auth.authorize(bearer(both), 'operator:read')).ok);
  assert.ok((await auth.authorize(bearer(both), 'operator:command')).ok);
  // A car's token, even one that also lists an operator scope.
  for (const scopes of [['vehicle'], ['vehicle', 'operator:read']]) {
    const car = refusal(await auth.authorize(bearer(await mintToken(signing, { subject: 'CAR-001', scopes })), 'operator:read'));
    assert.equal([car.status, car.reason], [403, 'vehicle_token']);
    assert.match(car.message, /vehicle token/);
  }
  // The static tokens still work beside the JWTs; the JWT travels in the cookie as well.
  assert.ok((await auth.authorize(bearer('op-a'), 'operator:command')).ok);
  assert.ok((await auth.authorize({ headers: { cookie: `${OPERATOR_COOKIE}=${reader}` } }, 'operator:read')).ok);
});

test('expired, wrong key, wrong audience, wrong issuer, not yet valid, garbage: 401, each saying why', async () => {
  const auth = await createOperatorAuth(settings({ jwt: readOperatorAuth({ AUTH_JWKS: JWKS }).jwt }));
  const cases: Array<[string, string, RegExp]> = [
    [await mintToken(signing, { subject: 'ana', scopes: ['operator:read'], ttlSeconds: -60 }), 'token_expired', /expired/],
    [await mintToken(stranger, { subject: 'ana', scopes: ['operator:read'] }), 'token_signature', /signature/],
    [await mintToken(signing, { subject: 'ana', scopes: ['operator:read'], audience: 'elsewhere' }), 'token_claims', /aud/],
    [await mintToken(signing, { subject: 'ana', scopes: ['operator:read'], issuer: 'evil' }), 'token_claims', /iss/],
    [await mintToken(signing, { subject: 'ana', scopes: ['operator:read'], notBeforeSeconds: 300 }), 'token_not_yet_valid', /not yet valid/],
    ['eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbmEifQ.', 'token_signature', /not accepted/],
    ['abc.def.ghi', 'token_malformed', /malformed/],
    ['not-a-jwt-nor-a-token', 'token_wrong', /wrong operator token/],
  ];
  for (const [token, reason, message] of cases) {
    const r = refusal(await auth.authorize(bearer(token), 'operator:read'));
    assert.equal([r.status, r.reason], [401, reason], token);
    assert.match(r.message, message, token);
    const headers = refusalHeaders(r, 'greenlane-test');
    assert.match(headers['www-authenticate']!, /^Bearer realm="greenlane-test", error="invalid_token", error_description="[^"]+"$/);
  }
  assert.equal(refusalHeaders(refusal(await auth.authorize({ headers: {} }, 'operator:read')), 'r'), { 'www-authenticate': 'Bearer realm="r"' });
});

test('a rate per identity: over its burst a token gets 429 with Retry-After, another token is untouched; tokens refill', async () => {
  let now = 1_000_000;
  const jwt = readOperatorAuth({ AUTH_JWKS: JWKS }).jwt;
  const auth: OperatorAuth = await createOperatorAuth(settings({ jwt, rate: { ratePerSecond: 2, burst: 3 } }), { now: () => now });
  const ana = await mintToken(signing, { subject: 'ana', scopes: ['operator:read'] });
  const anaAgain = await mintToken(signing, { subject: 'ana', scopes: ['operator:read'], ttlSeconds: 600 });
  for (let i = 0; i < 3; i++) assert.ok((await auth.authorize(bearer(ana), 'operator:read')).ok, `request ${i}`);
  // Another token of the same subject shares the subject's bucket.
  const limited = refusal(await auth.authorize(bearer(anaAgain), 'operator:read'));
  assert.equal([limited.status, limited.reason, limited.retryAfterSeconds], [429, 'rate_limited', 1]);
  assert.match(limited.message, /at most 2\/s/);
  assert.equal(refusalHeaders(limited, 'r'), { 'retry-after': '1' });
  for (let i = 0; i < 3; i++) assert.ok((await auth.authorize(bearer('op-a'), 'operator:read')).ok, 'a static token has its own bucket');
  assert.is(refusal(await auth.authorize(bearer('op-a'), 'operator:read')).status, 429);
  assert.ok((await auth.authorize(bearer('op-b'), 'operator:read')).ok, 'and each static token its own');
  now += 500;
  assert.ok((await auth.authorize(bearer(ana), 'operator:read')).ok, 'one token back after half a second');
  // Refusals for scope come before the rate: a 403 is final, retrying would not help.
  assert.is(refusal(await auth.authorize(bearer(ana), 'operator:command')).status, 403);
  // Off: no limit at all.
  const unlimited = await createOperatorAuth(settings());
  for (let i = 0; i < 500; i++) assert.ok((await unlimited.authorize(bearer('op-a'), 'operator:read')).ok);
});

test('the cookie a browser gets is HttpOnly, SameSite=Strict and round-trips through the check', async () => {
  const cookie = operatorCookie('tok en;', { secure: true });
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.match(cookie, /Secure/);
  const pair = cookie.split(';')[0]!;
  const result = await (await createOperatorAuth(settings({ tokens: ['tok en;'] }))).authorize({ headers: { cookie: pair } }, 'operator:read');
  assert.ok(result.ok && result.identity.source === 'cookie');
});

test('a JWKS file that does not parse stops the start, naming AUTH_JWKS', async () => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{nope');
  try {
    await createOperatorAuth(settings({ jwt: readOperatorAuth({ AUTH_JWKS: bad }).jwt }));
    assert.unreachable('a broken JWKS must be refused at start');
  } catch (error) {
    assert.instance(error, ConfigError);
    assert.is((error as ConfigError).variable, 'AUTH_JWKS');
  }
});

test.run();
