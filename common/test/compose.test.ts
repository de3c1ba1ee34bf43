/** docker-compose.yml cannot run here (no Docker engine), but Debian's docker-compose parses it. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';

const root = new URL('../../../', import.meta.url).pathname;

test('docker-compose.yml is valid and runs Redpanda, Redis, TimescaleDB and every service', () => {
  let services: string;
  try {
    execFileSync('docker-compose', ['config', '-q'], { cwd: root, stdio: 'pipe' });
    services = execFileSync('docker-compose', ['--profile', 'simulator', 'config', '--services'], { cwd: root, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const e = error as { stderr?: Buffer; message: string };
    assert.unreachable(`docker-compose config failed: ${e.stderr?.toString() ?? e.message}`);
    return;
  }
  assert.equal(services.trim().split('\n').sort(), [
    'grid-mock', 'ingestion', 'pricing-worker', 'redis', 'redpanda', 'redpanda-console', 'simulator', 'timescaledb',
  ]);
});

test.run();
