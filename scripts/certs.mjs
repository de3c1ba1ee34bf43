#!/usr/bin/env node
// Development certificates and signing keys, made with openssl (and jose for the JWKS):
//   node scripts/certs.mjs [--out DIR] [--cars N | --car-ids CAR-001,CAR-002] [--force] [--help]
// Writes, in DIR (default .cache/certs):
//   ca.pem, ca-key.pem             a development CA (EC P-256, 10 years)
//   server.pem, server-key.pem     the ingestion's certificate, signed by the CA, for localhost,
//                                  127.0.0.1 and ::1 (and CERTS_SERVER_NAMES, comma-separated)
//   cars/<car>.pem, <car>-key.pem  one client certificate per car, subject CN=<car> (mTLS identity)
//   jwt-signing-key.pem, jwks.json an ES256 key for minting tokens, and its public JWKS (kid greenlane-dev-1)
// What already exists is kept (idempotent), unless --force. Never use these in production.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createPrivateKey, createPublicKey } from 'node:crypto';

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1, 11).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
  process.exit(0);
}
const flag = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const root = new URL('..', import.meta.url).pathname;
const out = resolve(flag('--out') ?? join(root, '.cache', 'certs'));
const force = argv.includes('--force');
const carCount = Number(flag('--cars') ?? 10);
if (!Number.isInteger(carCount) || carCount < 0 || carCount > 100_000) {
  process.stderr.write(`certs: --cars ${flag('--cars')} is invalid: expected an integer from 0 to 100000\n`);
  process.exit(2);
}
const carIds = (flag('--car-ids') ?? '').split(',').filter((s) => s !== '');
if (carIds.length === 0) for (let i = 1; i <= carCount; i++) carIds.push(`CAR-${String(i).padStart(3, '0')}`);
const serverNames = ['localhost', ...(process.env.CERTS_SERVER_NAMES ?? '').split(',').map((s) => s.trim()).filter(Boolean)];

const openssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
const ecKey = (path) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path);

if (force) rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'cars'), { recursive: true });
const made = [];

const ca = join(out, 'ca.pem');
const caKey = join(out, 'ca-key.pem');
if (!existsSync(ca) || !existsSync(caKey)) {
  ecKey(caKey);
  openssl('req', '-x509', '-new', '-key', caKey, '-sha256', '-days', '3650', '-subj', '/O=GreenLane development/CN=GreenLane development CA', '-out', ca,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  made.push('ca.pem');
}

function issue(name, subject, extensions) {
  const cert = `${name}.pem`;
  const key = `${name}-key.pem`;
  if (existsSync(cert) && existsSync(key)) return false;
  const csr = `${name}.csr`;
  const ext = `${name}.ext`;
  ecKey(key);
  openssl('req', '-new', '-key', key, '-subj', subject, '-out', csr);
  writeFileSync(ext, extensions);
  openssl('x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '825', '-sha256', '-extfile', ext, '-out', cert);
  rmSync(csr);
  rmSync(ext);
  return true;
}

const alt = [...serverNames.map((n) => `DNS:${n}`), 'IP:127.0.0.1', 'IP:::1'].join(',');
if (issue(join(out, 'server'), '/O=GreenLane development/CN=localhost', `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${alt}\n`)) made.push('server.pem');

let cars = 0;
for (const car of carIds) {
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(car)) {
    process.stderr.write(`certs: car id ${JSON.stringify(car)} is invalid: expected 1-64 letters, digits, _ . : -\n`);
    process.exit(2);
  }
  if (issue(join(out, 'cars', car), `/O=GreenLane development/CN=${car}`, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n')) cars++;
}
if (cars > 0) made.push(`${cars} car certificate(s)`);

const signingKey = join(out, 'jwt-signing-key.pem');
const jwks = join(out, 'jwks.json');
if (!existsSync(signingKey) || !existsSync(jwks)) {
  ecKey(signingKey);
  const pkcs8 = createPrivateKey(readFileSync(signingKey)).export({ type: 'pkcs8', format: 'pem' });
  writeFileSync(signingKey, pkcs8, { mode: 0o600 });
  const jwk = createPublicKey(readFileSync(signingKey)).export({ format: 'jwk' });
  writeFileSync(jwks, JSON.stringify({ keys: [{ ...jwk, kid: 'greenlane-dev-1', alg: 'ES256', use: 'sig' }] }, null, 2) + '\n');
  made.push('jwt-signing-key.pem, jwks.json');
}

process.stdout.write(`certs: ${out}: ${made.length === 0 ? 'everything already there' : `made ${made.join(', ')}`}\n`);
