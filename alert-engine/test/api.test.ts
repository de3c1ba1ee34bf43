/** The API's request parsing and the OpenAPI document against the routes (no servers). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { HttpError, intParam, oneOf, parseAckBody, readQuery, ROUTES } from '../src/api.js';
import { RULES } from '../src/types.js';

const doc = JSON.parse(readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8'));

function refusal(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
  throw new Error('not refused');
}

test('the acknowledge body: empty or {operator, note}; anything else is refused naming the fault', () => {
  assert.equal(parseAckBody(''), { operator: '', note: '' });
  assert.equal(parseAckBody('{"operator":"ana","note":"called the driver"}'), { operator: 'ana', note: 'called the driver' });
  assert.is(refusal(() => parseAckBody('{nope')).reason, 'bad_json');
  assert.is(refusal(() => parseAckBody('[1]')).reason, 'bad_body');
  assert.is(refusal(() => parseAckBody('{"who":"x"}')).parameter, 'who');
  assert.is(refusal(() => parseAckBody(JSON.stringify({ operator: 'x'.repeat(65) }))).parameter, 'operator');
  assert.is(refusal(() => parseAckBody('{"note":5}')).parameter, 'note');
});

test('query parameters: unknown or repeated ones refused, enums and integers checked', () => {
  const q = (s: string, allowed: string[]) => readQuery(new URL(`http://x/p?${s}`), allowed);
  assert.equal([...q('rule=overspeed&limit=5', ['rule', 'limit'])], [['rule', 'overspeed'], ['limit', '5']]);
  assert.is(refusal(() => q('rul=overspeed', ['rule'])).parameter, 'rul');
  assert.is(refusal(() => q('rule=a&rule=b', ['rule'])).reason, 'bad_parameter');
  assert.is(refusal(() => oneOf(q('rule=speeding', ['rule']), 'rule', RULES)).parameter, 'rule');
  assert.is(intParam(q('', ['limit']), 'limit', 7, 1, 10), 7);
  for (const bad of ['0', '11', '2.5', 'ten', '']) assert.is(refusal(() => intParam(q(`limit=${bad}`, ['limit']), 'limit', 7, 1, 10)).parameter, 'limit', bad);
});

test('the OpenAPI document has exactly the routes, their methods and their query parameters', () => {
  assert.match(doc.openapi, /^3\./);
  assert.equal([doc.components.securitySchemes.bearerAuth.scheme, doc.components.securitySchemes.bearerAuth.bearerFormat], ['bearer', 'JWT']);
  assert.equal(doc.security, [{ bearerAuth: [] }]);
  const documented = Object.entries(doc.paths as Record<string, Record<string, { parameters?: Array<{ name: string; in: string }> }>>)
    .filter(([path]) => path !== '/openapi.json')
    .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name).sort() })));
  assert.equal(documented.map((d) => d.key).sort(), ROUTES.map((r) => `${r.method} ${r.path}`).sort());
  for (const route of ROUTES) assert.equal(documented.find((d) => d.key === `${route.method} ${route.path}`)!.query, [...route.params].sort(), route.path);
  // Each operation documents the scope the server asks for, and the refusals of the check.
  for (const route of ROUTES) {
    const op = doc.paths[route.path][route.method.toLowerCase()];
    assert.equal(op['x-required-scopes'], [route.scope], route.path);
    assert.match(op.description, new RegExp(`Scope: \`${route.scope}\``), route.path);
    for (const status of ['401', '403', '429']) assert.ok(op.responses[status], `${route.method} ${route.path} ${status}`);
  }
  assert.equal(doc.components.schemas.Alert.properties.rule.enum, [...RULES]);
});

test.run();
