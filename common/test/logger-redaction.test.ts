/**
 * No secret reaches a log line: the logger of every program (createLogger) writing to a stream of
 * the test's own, fed what services log (request headers, a config object with its tokens, a URL
 * with a password or ?token=, errors) holding a bearer token, a cookie, a JWT and a PEM private key.
 * Each line must still be JSON and keep every field that is not a secret.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { generateKeyPairSync } from 'node:crypto';
import { createLogger, sanitizeUrl, scrubSecrets } from '../src/logger.js';
import { hs256Key, mintToken } from '../src/jwt-mint.js';

const STATIC = 'op-static-9f8e7d6c5b4a';
const COOKIE_TOKEN = 'cookie-held-token-1234';
const PASSWORD = 'pa55w0rd-db';
const SECRET = 'hs256-development-secret-of-32-chars!';
const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const PEM_BODY = PEM.split('\n')[1]!;

function capture(): { lines: () => Array<Record<string, unknown>>; text: () => string; stream: Writable } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text, lines: () => text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test('headers, tokens, passwords, secrets and keys are written [redacted]; the rest as it was', async () => {
  const jwt = await mintToken(hs256Key(SECRET), { subject: 'ana', scopes: ['operator:read'] });
  const out = capture();
  const log = createLogger('redaction-test', { LOG_LEVEL: 'info' }, out.stream);
  log.info({ req: { method: 'GET', url: '/api/v1/cars', headers: { authorization: `Bearer ${jwt}`, cookie: `greenlane_operator=${COOKIE_TOKEN}`, host: '127.0.0.1:8090' } } }, 'request');
  log.info({ headers: { authorization: `Bearer ${STATIC}`, 'x-api-token': STATIC, 'user-agent': 'curl/8' } }, 'headers alone');
  const liveConfig = { addr: '0.0.0.0:8091', operators: { tokens: [STATIC], development: false }, apiTokens: [STATIC] };
  log.info({ config: liveConfig }, 'config');
  // Redaction works on the output: the program's own objects keep their values.
  assert.equal(liveConfig.operators.tokens, [STATIC]);
  log.info({ token: jwt, car: 'CAR-001', password: PASSWORD, secret: SECRET, privateKey: PEM, signingKey: { pem: PEM } }, 'top level');
  log.info({ jwt: { hs256Secret: SECRET, issuer: 'greenlane' }, key: 'CAR-042' }, 'nested');
  log.info({ url: `redis://app:${PASSWORD}@127.0.0.1:6379/3` }, 'redis connection restored');
  log.child({ component: 'liveops' }).warn({ url: `/ws?token=${STATIC}&probe=1` }, 'upgrade');
  const lines = out.lines();
  const text = out.text();
  for (const secret of [jwt, STATIC, COOKIE_TOKEN, PASSWORD, SECRET, PEM_BODY, jwt.split('.')[1]!]) assert.not.ok(text.includes(secret), `a secret is in the log: ${secret.slice(0, 20)}…`);
  const [request, headers, config, top, nested, redis, upgrade] = lines as any[];
  assert.equal(request.req.headers, { authorization: '[redacted]', cookie: '[redacted]', host: '127.0.0.1:8090' });
  assert.is(request.req.method, 'GET');
  assert.is(request.req.url, '/api/v1/cars');
  assert.equal(headers.headers, { authorization: '[redacted]', 'x-api-token': '[redacted]', 'user-agent': 'curl/8' });
  assert.equal(config.config.operators, { tokens: '[redacted]', development: false });
  assert.is(config.config.apiTokens, '[redacted]');
  assert.is(config.config.addr, '0.0.0.0:8091');
  assert.equal([top.token, top.password, top.secret, top.privateKey, top.signingKey, top.car], ['[redacted]', '[redacted]', '[redacted]', '[redacted]', '[redacted]', 'CAR-001']);
  // A Kafka message key (a car id) is not key material.
  assert.equal([nested.jwt, nested.key], ['[redacted]', 'CAR-042']);
  assert.is(redis.url, 'redis://app:[redacted]@127.0.0.1:6379/3');
  assert.is(upgrade.url, '/ws?token=[redacted]&probe=1');
  assert.is(upgrade.component, 'liveops');
  assert.is(upgrade.msg, 'upgrade');
});

test('secrets written into messages, errors and unknown fields are caught by their shape', async () => {
  const jwt = await mintToken(hs256Key(SECRET), { subject: 'bo', scopes: ['operator:command'] });
  const out = capture();
  const log = createLogger('redaction-test', { LOG_LEVEL: 'info' }, out.stream);
  log.warn(`refused authorization: Bearer ${STATIC} from 10.0.0.7`);
  log.error({ err: new Error(`upstream said no to ${jwt}`) }, 'proxy failed');
  log.info({ presented: jwt, pemInside: `key follows\n${PEM}`, cookieHeader: `a=1; greenlane_operator=${COOKIE_TOKEN}; b=2` }, 'odd fields');
  log.info(`fetching http://127.0.0.1:8090/?token=${STATIC}&x=1 and postgres://u:${PASSWORD}@db:5432/x`);
  log.info('send authorization: Bearer <token> (one of OPERATOR_TOKENS)');
  const text = out.text();
  for (const secret of [jwt, STATIC, COOKIE_TOKEN, PASSWORD, PEM_BODY]) assert.not.ok(text.includes(secret), `a secret is in the log: ${secret.slice(0, 20)}…`);
  const [message, error, odd, urls, help] = out.lines() as any[];
  assert.is(message.msg, 'refused authorization: Bearer [redacted] from 10.0.0.7');
  assert.match(error.err.message, /^upstream said no to \[redacted\]$/);
  assert.match(error.err.stack, /Error: upstream said no/);
  assert.is(odd.presented, '[redacted]');
  assert.match(odd.pemInside, /^key follows\n-----BEGIN PRIVATE KEY-----\[redacted\]/);
  assert.is(odd.cookieHeader, 'a=1; greenlane_operator=[redacted]; b=2');
  assert.is(urls.msg, `fetching http://127.0.0.1:8090/?token=[redacted]&x=1 and postgres://u:[redacted]@db:5432/x`);
  assert.is(help.msg, 'send authorization: Bearer <token> (one of OPERATOR_TOKENS)', 'an instruction is not a token');
});

test('the helpers alone: URLs keep everything but the password and the token', () => {
  assert.is(sanitizeUrl('redis://127.0.0.1:6379/2'), 'redis://127.0.0.1:6379/2');
  assert.is(sanitizeUrl('rediss://:hunter2@cache:6380'), 'rediss://:[redacted]@cache:6380');
  assert.is(sanitizeUrl('/api/v1/fleet/summary?from=a&token=t0k&to=b'), '/api/v1/fleet/summary?from=a&token=[redacted]&to=b');
  assert.is(scrubSecrets('{"msg":"http://127.0.0.1:8090/ is up"}'), '{"msg":"http://127.0.0.1:8090/ is up"}');
  assert.is(scrubSecrets('{"h":"Bearer realm=\\"x\\""}'), '{"h":"Bearer realm=\\"x\\""}');
});

test('a level below the threshold writes nothing; LOG_LEVEL still sets it', () => {
  const out = capture();
  const log = createLogger('redaction-test', { LOG_LEVEL: 'warn' }, out.stream);
  log.info({ token: STATIC }, 'hidden');
  log.warn('shown');
  assert.equal(out.lines().map((l) => l.msg), ['shown']);
});

test.run();
