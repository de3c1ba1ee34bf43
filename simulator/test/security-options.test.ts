/**
 * The TLS and JWT flags: defaults, flag over variable, and each mistake refused with a
 * ConfigError naming the flag (or variable) to fix.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { ConfigError } from '@greenlane/common';
import { parseOptions } from '../src/options.js';
import { makeCerts } from './tls-fixtures.js';

const certs = makeCerts(['CAR-001', 'CAR-002']);
const other = makeCerts(['CAR-001']);
const car = (id: string) => ({ cert: join(certs.cars, `${id}.pem`), key: join(certs.cars, `${id}-key.pem`) });

type Flags = Record<string, string | boolean>;

function refused(flags: Flags, env: Record<string, string>, name: string, message?: RegExp): void {
  try {
    parseOptions(flags, env);
  } catch (error) {
    assert.instance(error, ConfigError, String(error));
    assert.is((error as ConfigError).variable, name, (error as Error).message);
    if (message) assert.match((error as Error).message, message);
    return;
  }
  assert.unreachable(`accepted ${JSON.stringify({ flags, env })}`);
}

test('defaults: plaintext, no JWT, the development x-api-token', () => {
  const o = parseOptions({}, {});
  assert.equal([o.tls, o.jwt, o.token], [undefined, undefined, 'greenlane-secret-token']);
});

test('TLS: --tls-ca alone, with a server name, with one client certificate, with a directory of them; flags over variables', () => {
  assert.equal(parseOptions({ 'tls-ca': certs.ca }, {}).tls, { caFile: certs.ca, serverName: undefined, cert: undefined, certDir: undefined });
  const fromEnv = parseOptions({}, { SIM_TLS_CA: certs.ca, SIM_TLS_SERVER_NAME: 'localhost', SIM_TLS_CERT: car('CAR-001').cert, SIM_TLS_KEY: car('CAR-001').key });
  assert.equal(fromEnv.tls, { caFile: certs.ca, serverName: 'localhost', cert: { certFile: car('CAR-001').cert, keyFile: car('CAR-001').key }, certDir: undefined });
  const dir = parseOptions({ 'tls-ca': certs.ca, 'cert-dir': certs.cars, cars: '2' }, { SIM_TLS_CA: '/nowhere/ca.pem' });
  assert.is(dir.tls?.certDir, certs.cars);
  assert.is(dir.tls?.caFile, certs.ca);
});

test('TLS mistakes name the flag: a missing or unreadable file, --cert without --key, --key without --cert, --cert without --tls-ca', () => {
  refused({ 'tls-ca': '/nowhere/ca.pem' }, {}, '--tls-ca', /readable \(ENOENT\)/);
  refused({}, { SIM_TLS_CA: '/nowhere/ca.pem' }, 'SIM_TLS_CA', /ENOENT/);
  refused({ 'tls-ca': certs.jwks }, {}, '--tls-ca', /a PEM CA certificate/);
  refused({ 'tls-ca': certs.ca, cert: car('CAR-001').cert }, {}, '--cert', /with --key/);
  refused({ 'tls-ca': certs.ca, key: car('CAR-001').key }, {}, '--key', /with --cert/);
  refused({ cert: car('CAR-001').cert, key: car('CAR-001').key }, {}, '--cert', /with --tls-ca/);
  refused({ 'cert-dir': certs.cars }, {}, '--cert-dir', /with --tls-ca/);
  refused({ 'tls-server-name': 'localhost' }, {}, '--tls-server-name', /with --tls-ca/);
  refused({ 'tls-ca': certs.ca, cert: '/nowhere/c.pem', key: car('CAR-001').key }, {}, '--cert', /ENOENT/);
  refused({ 'tls-ca': certs.ca, cert: car('CAR-001').cert, key: '/nowhere/k.pem' }, {}, '--key', /ENOENT/);
  // A key that is not the certificate's own.
  refused({ 'tls-ca': certs.ca, cert: car('CAR-001').cert, key: car('CAR-002').key }, {}, '--key', /does not match/);
  refused({ 'tls-ca': certs.ca, cert: car('CAR-001').cert, key: car('CAR-001').key, 'cert-dir': certs.cars }, {}, '--cert-dir', /not both/);
});

test('--cert-dir: every car\'s two files must be there (named after the car ids of the run)', () => {
  refused({ 'tls-ca': certs.ca, 'cert-dir': '/nowhere' }, {}, '--cert-dir', /ENOENT/);
  // Three cars, certificates for two: the third is named.
  refused({ 'tls-ca': certs.ca, 'cert-dir': certs.cars, cars: '3' }, {}, '--cert-dir', /2 file\(s\) missing or unreadable, first .*CAR-003\.pem/);
  // Load mode names its cars LOAD-001...: none of those here.
  refused({ 'tls-ca': certs.ca, 'cert-dir': certs.cars, mode: 'load', cars: '1' }, {}, '--cert-dir', /LOAD-001\.pem/);
  assert.is(parseOptions({ 'tls-ca': certs.ca, 'cert-dir': certs.cars, mode: 'load', cars: '2', 'car-prefix': 'CAR-' }, {}).tls?.certDir, certs.cars);
  // The first car's pair must belong together.
  const mixed = makeCerts(['CAR-001']);
  copyFileSync(join(other.cars, 'CAR-001-key.pem'), join(mixed.cars, 'CAR-001-key.pem'));
  try {
    refused({ 'tls-ca': certs.ca, 'cert-dir': mixed.cars, cars: '1' }, {}, '--cert-dir', /does not match/);
  } finally {
    mixed.remove();
  }
});

test('JWT: --jwt-key with the defaults; every minting flag and its variable', () => {
  assert.equal(parseOptions({ 'jwt-key': certs.jwtKey }, {}).jwt, {
    kind: 'key', keyFile: certs.jwtKey, alg: 'ES256', kid: 'greenlane-dev-1', ttlSeconds: 3600, issuer: 'greenlane', audience: 'greenlane', source: '--jwt-key',
  });
  const env = { SIM_JWT_KEY: certs.jwtKey, SIM_JWT_KID: 'k2', SIM_JWT_TTL: '90s', SIM_JWT_ISSUER: 'iss', SIM_JWT_AUDIENCE: 'aud' };
  assert.equal(parseOptions({}, env).jwt, { kind: 'key', keyFile: certs.jwtKey, alg: 'ES256', kid: 'k2', ttlSeconds: 90, issuer: 'iss', audience: 'aud', source: 'SIM_JWT_KEY' });
  assert.is((parseOptions({ 'jwt-key': certs.jwtKey, 'jwt-ttl': '2h' }, {}).jwt as { ttlSeconds: number }).ttlSeconds, 7200);
  const secret = 'x'.repeat(32);
  assert.equal(parseOptions({}, { SIM_JWT_SECRET: secret }).jwt, { kind: 'secret', secret, ttlSeconds: 3600, issuer: 'greenlane', audience: 'greenlane', source: 'SIM_JWT_SECRET' });
  assert.equal(parseOptions({ jwt: 'aGVhZA.Ym9keQ.c2ln' }, {}).jwt, { kind: 'static', token: 'aGVhZA.Ym9keQ.c2ln', source: '--jwt' });
});

test('with a JWT the x-api-token is not sent, unless given with --token or API_TOKEN', () => {
  assert.is(parseOptions({ 'jwt-key': certs.jwtKey }, {}).token, undefined);
  assert.is(parseOptions({ jwt: 'a.b.c' }, {}).token, undefined);
  assert.is(parseOptions({ 'jwt-key': certs.jwtKey, token: 'tok' }, {}).token, 'tok');
  assert.is(parseOptions({ 'jwt-key': certs.jwtKey }, { API_TOKEN: 'env-tok' }).token, 'env-tok');
  assert.is(parseOptions({}, {}).token, 'greenlane-secret-token');
});

test('JWT mistakes name the flag', () => {
  refused({ 'jwt-key': '/nowhere/key.pem' }, {}, '--jwt-key', /ENOENT/);
  refused({ 'jwt-key': certs.jwks }, {}, '--jwt-key', /PKCS#8 PEM private key/);
  // A SEC1 ("BEGIN EC PRIVATE KEY") file: a key, but not one jose imports.
  const sec1 = join(certs.dir, 'sec1.pem');
  writeFileSync(sec1, createPrivateKey(readFileSync(certs.jwtKey)).export({ type: 'sec1', format: 'pem' }));
  refused({ 'jwt-key': sec1 }, {}, '--jwt-key', /BEGIN PRIVATE KEY.*openssl pkcs8 -topk8/);
  refused({ 'jwt-key': certs.jwtKey, 'jwt-alg': 'RS256' }, {}, '--jwt-key', /a key for RS256 \(this one is ec/);
  refused({ 'jwt-key': certs.jwtKey, 'jwt-alg': 'HS256' }, {}, '--jwt-alg');
  refused({ 'jwt-key': certs.jwtKey, jwt: 'a.b.c' }, {}, '--jwt-key', /one of --jwt, --jwt-key, --jwt-secret/);
  refused({ 'jwt-key': certs.jwtKey }, { SIM_JWT_SECRET: 'x'.repeat(40) }, 'SIM_JWT_SECRET', /one of/);
  refused({ 'jwt-secret': 'short' }, {}, '--jwt-secret', /at least 32 characters/);
  refused({ 'jwt-secret': 'x'.repeat(32), 'jwt-kid': 'k' }, {}, '--jwt-kid', /with --jwt-key/);
  refused({ 'jwt-ttl': '60' }, {}, '--jwt-ttl', /with --jwt-key or --jwt-secret/);
  refused({}, { SIM_JWT_KID: 'k' }, 'SIM_JWT_KID', /with --jwt-key/);
  refused({ 'jwt-key': certs.jwtKey, 'jwt-ttl': '0' }, {}, '--jwt-ttl', /from 1 s to a year/);
  refused({ 'jwt-key': certs.jwtKey, 'jwt-ttl': 'soon' }, {}, '--jwt-ttl');
  refused({ jwt: 'not a token' }, {}, '--jwt', /header\.payload\.signature/);
});

test.after(() => {
  certs.remove();
  other.remove();
});

test.run();
