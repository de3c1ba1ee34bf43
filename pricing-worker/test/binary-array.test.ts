/** The binary array parameters of the writer: PostgreSQL's array wire format, exact values. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { binaryArray } from '../src/db-writer.js';

test('float8[]: one dimension, no nulls, element OID 701, lower bound 1, each value 8 bytes exact', () => {
  const values = [1_768_496_400_123, 0.1 + 0.2, -0, 1e-12];
  const buf = binaryArray(values, 'float8');
  assert.equal([buf.readInt32BE(0), buf.readInt32BE(4), buf.readInt32BE(8), buf.readInt32BE(12), buf.readInt32BE(16)], [1, 0, 701, 4, 1]);
  assert.is(buf.length, 20 + values.length * 12);
  const read = values.map((_, i) => {
    assert.is(buf.readInt32BE(20 + i * 12), 8, `element ${i} length`);
    return buf.readDoubleBE(24 + i * 12);
  });
  assert.ok(read.every((v, i) => Object.is(v, values[i])), `${read} = ${values}`);
});

test('int4[]: element OID 23, 4 bytes each', () => {
  const buf = binaryArray(new Int32Array([1, 2, 2147483647]), 'int4');
  assert.equal([buf.readInt32BE(8), buf.readInt32BE(12)], [23, 3]);
  assert.equal([0, 1, 2].map((i) => buf.readInt32BE(24 + i * 8)), [1, 2, 2147483647]);
});

test('an empty array has zero dimensions and no bounds', () => {
  const buf = binaryArray([], 'float8');
  assert.equal([buf.length, buf.readInt32BE(0), buf.readInt32BE(8)], [12, 0, 701]);
});

test.run();
