// The committed OpenAPI document and the routes the server answers say the same.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { ROUTES } from '../src/api.js';
import { METRICS } from '../src/params.js';

const doc = JSON.parse(readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8'));

type Param = { name: string; in: string; $ref?: string };
const resolve = (p: Param): Param => (p.$ref ? doc.components.parameters[p.$ref.split('/').pop()!] : p);

test('an OpenAPI 3 document with a bearer (JWT) scheme applied to every API path, each needing operator:read', () => {
  assert.match(doc.openapi, /^3\./);
  assert.equal([doc.components.securitySchemes.bearerAuth.scheme, doc.components.securitySchemes.bearerAuth.bearerFormat], ['bearer', 'JWT']);
  assert.equal(doc.security, [{ bearerAuth: [] }]);
  for (const route of ROUTES) {
    const op = doc.paths[route.path].get;
    assert.equal(op['x-required-scopes'], ['operator:read'], route.path);
    assert.match(op.description, /Scope: `operator:read`/, route.path);
    for (const status of ['401', '403', '429']) assert.ok(op.responses[status], `${route.path} ${status}`);
  }
});

test('every route is documented with exactly its parameters, and nothing else is', () => {
  const documented = Object.keys(doc.paths).filter((p) => p !== '/openapi.json').sort();
  assert.equal(documented, ROUTES.map((r) => r.path).sort());
  for (const route of ROUTES) {
    const params = (doc.paths[route.path].get.parameters as Param[]).map(resolve);
    assert.equal(params.filter((p) => p.in === 'query').map((p) => p.name).sort(), [...route.params].sort(), route.path);
    const inPath = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
    assert.equal(params.filter((p) => p.in === 'path').map((p) => p.name), inPath, route.path);
  }
});

test('the documented metrics are the ones the server knows', () => {
  const metric = (doc.paths['/api/v1/cars/{car_id}/series'].get.parameters as Param[]).map(resolve).find((p) => p.name === 'metric') as Param & { schema: { enum: string[] } };
  assert.equal(metric.schema.enum, Object.keys(METRICS));
});

test.run();
