import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { ConfigError, envBool, envHostPort, envHostPortList, envInt, envList, envUrl } from '../src/config.js';

test('defaults apply when a variable is unset or blank', () => {
  assert.is(envInt({}, 'PORT', 8081, 1, 65535), 8081);
  assert.is(envInt({ PORT: '  ' }, 'PORT', 8081, 1, 65535), 8081);
  assert.equal(envList({}, 'API_TOKENS', ['a']), ['a']);
});

test('a bad value names the variable, the value and what is expected', () => {
  try {
    envInt({ PORT: 'eighty' }, 'PORT', 8081, 1, 65535);
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, ConfigError);
    assert.is((error as ConfigError).variable, 'PORT');
    assert.match((error as Error).message, 'PORT="eighty" is invalid: expected an integer from 1 to 65535');
  }
  assert.throws(() => envInt({ PORT: '70000' }, 'PORT', 1, 1, 65535), /PORT="70000"/);
  assert.throws(() => envBool({ FLAG: 'maybe' }, 'FLAG', false), /FLAG="maybe" is invalid: expected true or false/);
});

test('lists, URLs and host:port pairs are parsed and checked', () => {
  assert.equal(envList({ API_TOKENS: 'a, b,,c' }, 'API_TOKENS', []), ['a', 'b', 'c']);
  assert.throws(() => envList({ API_TOKENS: ' , ' }, 'API_TOKENS', []), /API_TOKENS/);
  assert.is(envUrl({ GRID_URL: 'http://h:1' }, 'GRID_URL', '', ['http:', 'https:']), 'http://h:1');
  assert.throws(() => envUrl({ GRID_URL: 'ftp://h' }, 'GRID_URL', '', ['http:', 'https:']), /GRID_URL="ftp:\/\/h"/);
  assert.is(envHostPort({}, 'INGESTION_ADDR', '0.0.0.0:50051'), '0.0.0.0:50051');
  assert.throws(() => envHostPort({ INGESTION_ADDR: 'localhost' }, 'INGESTION_ADDR', ''), /expected host:port/);
  assert.equal(envHostPortList({ KAFKA_BROKERS: 'a:1,b:2' }, 'KAFKA_BROKERS', 'x:1'), ['a:1', 'b:2']);
  assert.throws(() => envHostPortList({ KAFKA_BROKERS: 'a:1,b' }, 'KAFKA_BROKERS', 'x:1'), /KAFKA_BROKERS="b"/);
  assert.equal(envBool({ FLAG: 'YES' }, 'FLAG', false), true);
});

test('an unknown LOG_LEVEL stops a program with exit 2 and a line naming the variable', () => {
  const logger = new URL('../src/logger.js', import.meta.url).href;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', `import { createLogger } from '${logger}'; createLogger('probe'); console.log('started');`], {
    env: { ...process.env, LOG_LEVEL: 'verbose' },
    encoding: 'utf8',
  });
  assert.is(run.status, 2);
  assert.is(run.stdout, '');
  assert.match(run.stderr, /^probe: LOG_LEVEL="verbose" is invalid: expected one of fatal, error, warn, info, debug, trace, silent\n$/);
});

test.run();
