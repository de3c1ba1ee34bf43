import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { Metadata } from '@grpc/grpc-js';
import { createLogger } from '../src/logger.js';
import { routeGrpcLogs, withoutMetadataValues } from '../src/grpc-logging.js';

test('a refused metadata value is dropped from grpc-js diagnostics', () => {
  const line = 'Failed to add metadata entry authorization: Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJDQVItMDAxIn0.sig\u0001x. Metadata string value "Bearer eyJ..." contains illegal characters. For more information see https://github.com/grpc/grpc-node/issues/1173';
  const out = withoutMetadataValues(line);
  assert.not.match(out, /eyJ|Bearer/);
  assert.match(out, /^Failed to add metadata entry authorization: \[redacted\] \(not a valid header value/);
  assert.is(withoutMetadataValues('Server constructed'), 'Server constructed');
});

test('grpc-js logs go through pino, without the value, when real grpc-js refuses a header', () => {
  let output = '';
  const sink = new Writable({ write(chunk, _e, done) { output += chunk.toString(); done(); } });
  routeGrpcLogs(createLogger('grpc-logging-test', { LOG_LEVEL: 'debug' }, sink));
  // What the server does with the headers of an incoming call.
  Metadata.fromHttp2Headers({ authorization: 'Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJDQVItMDAxIn0.c2ln\u0007' } as never);
  assert.match(output, /"component":"grpc-js"/);
  assert.match(output, /Failed to add metadata entry authorization: \[redacted\]/);
  assert.not.match(output, /eyJhbGci/);
});

test.run();
