import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../src/config.js';
import {
  DEVELOPMENT_OPERATOR_TOKEN,
  OPERATOR_COOKIE,
  createOperatorAuth,
  operatorCookie,
  presentedOperatorToken,
  readOperatorTokens,
} from '../src/operator-auth.js';

test('OPERATOR_TOKENS is parsed once: a list, the development token when unset, refused unset in production', () => {
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

test('the token is found in the bearer header, then the cookie, then the query', () => {
  assert.equal(presentedOperatorToken({ headers: { authorization: 'Bearer abc' }, url: '/x?token=q' }), { token: 'abc', source: 'header' });
  assert.equal(presentedOperatorToken({ headers: { cookie: `a=1; ${OPERATOR_COOKIE}=c%20d; b=2` }, url: '/x?token=q' }), { token: 'c d', source: 'cookie' });
  assert.equal(presentedOperatorToken({ headers: {}, url: '/ws?token=q%2Bx' }), { token: 'q+x', source: 'query' });
  assert.is(presentedOperatorToken({ headers: { authorization: 'Basic Zm9v' }, url: '/' }), undefined);
  assert.is(presentedOperatorToken({ headers: { cookie: 'other=1' }, url: '/?token=' }), undefined);
});

test('check accepts exactly the configured tokens, wherever they are presented', () => {
  const auth = createOperatorAuth(['op-a', 'op-b']);
  assert.equal(auth.check({ headers: { authorization: 'bearer op-b' } }), { ok: true, source: 'header' });
  assert.equal(auth.check({ headers: { cookie: `${OPERATOR_COOKIE}=op-a` } }), { ok: true, source: 'cookie' });
  assert.equal(auth.check({ headers: {}, url: '/?token=op-a' }), { ok: true, source: 'query' });
  assert.equal(auth.check({ headers: {}, url: '/' }), { ok: false, reason: 'missing' });
  assert.equal(auth.check({ headers: { authorization: 'Bearer op-c' } }), { ok: false, reason: 'wrong', source: 'header' });
  // A prefix, a longer string, another case: all wrong.
  for (const token of ['op-', 'op-aa', 'OP-A', '']) assert.is(auth.accepts(token), false, token);
  assert.is(createOperatorAuth([]).accepts('anything'), false);
});

test('the cookie a browser gets is HttpOnly, SameSite=Strict and round-trips through the check', () => {
  const cookie = operatorCookie('tok en;', { secure: true });
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.match(cookie, /Secure/);
  const pair = cookie.split(';')[0]!;
  assert.equal(createOperatorAuth(['tok en;']).check({ headers: { cookie: pair } }), { ok: true, source: 'cookie' });
});

test.run();
