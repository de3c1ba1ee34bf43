/** Which credentials the configuration enables, and what it refuses at start, naming the variable. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '@greenlane/common';
import { Metadata } from '@grpc/grpc-js';
import { loadConfig } from '../src/config.js';
import { sourceAddress } from '../src/security/vehicle-auth.js';

const refuses = (env: Record<string, string>, variable: string) =>
  assert.throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError && e.variable === variable, `${JSON.stringify(env)} names ${variable}`);

test('nothing configured: the development token, and the default rate limits', () => {
  const cfg = loadConfig({});
  assert.equal(cfg.apiTokens, ['greenlane-secret-token']);
  assert.ok(cfg.usingDevelopmentToken);
  assert.is(cfg.tls, undefined);
  assert.is(cfg.jwt, undefined);
  assert.equal(cfg.carRate, { ratePerSecond: 50, burst: 500 });
  assert.equal(cfg.streamRate, { ratePerSecond: 100, burst: 2000 });
});

test('JWT or mutual TLS configured: no development token; API_TOKENS keeps the shared tokens accepted', () => {
  assert.equal(loadConfig({ AUTH_JWKS: '/etc/jwks.json' }).apiTokens, []);
  assert.equal(loadConfig({ INGESTION_TLS_CERT: 'c', INGESTION_TLS_KEY: 'k', INGESTION_TLS_CLIENT_CA: 'ca' }).apiTokens, []);
  assert.equal(loadConfig({ INGESTION_TLS_CERT: 'c', INGESTION_TLS_KEY: 'k' }).apiTokens, ['greenlane-secret-token'], 'server TLS alone identifies no car');
  const both = loadConfig({ AUTH_JWKS: '/etc/jwks.json', API_TOKENS: 'old-a,old-b' });
  assert.equal(both.apiTokens, ['old-a', 'old-b']);
  assert.is(both.usingDevelopmentToken, false);
});

test('production needs a credential; HS256 and the development token are refused there', () => {
  refuses({ NODE_ENV: 'production' }, 'API_TOKENS');
  refuses({ NODE_ENV: 'production', AUTH_JWT_HS256_SECRET: 'x'.repeat(40) }, 'AUTH_JWT_HS256_SECRET');
  assert.equal(loadConfig({ NODE_ENV: 'production', AUTH_JWKS: 'https://idp.example/jwks.json' }).apiTokens, []);
});

test('TLS files come in pairs, mutual TLS needs TLS, limits are numbers', () => {
  refuses({ INGESTION_TLS_CERT: 'c' }, 'INGESTION_TLS_KEY');
  refuses({ INGESTION_TLS_KEY: 'k' }, 'INGESTION_TLS_CERT');
  refuses({ INGESTION_TLS_CLIENT_CA: 'ca' }, 'INGESTION_TLS_CLIENT_CA');
  refuses({ INGESTION_CAR_RATE: 'fast' }, 'INGESTION_CAR_RATE');
  refuses({ INGESTION_STREAM_BURST: '0' }, 'INGESTION_STREAM_BURST');
  refuses({ AUTH_JWKS: 'ftp://keys' }, 'AUTH_JWKS');
  assert.equal(loadConfig({ INGESTION_CAR_RATE: '0' }).carRate.ratePerSecond, 0);
});

test('behind a trusted balancer the source address is the last x-forwarded-for entry, and only then', () => {
  const md = new Metadata();
  md.add('x-forwarded-for', '6.6.6.6, 10.1.2.3');
  const trusted = new Set(['127.0.0.1']);
  assert.is(sourceAddress('127.0.0.1', md, trusted), '10.1.2.3');
  assert.is(sourceAddress('192.168.0.9', md, trusted), '192.168.0.9', 'a car sending the header itself is not believed');
  assert.is(sourceAddress('127.0.0.1', new Metadata(), trusted), '127.0.0.1');
  assert.equal(loadConfig({ INGESTION_TRUSTED_PROXIES: '127.0.0.1, 10.0.0.5' }).trustedProxies, ['127.0.0.1', '10.0.0.5']);
});

test.run();
