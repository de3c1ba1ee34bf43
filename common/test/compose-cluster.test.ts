/**
 * docker-compose.cluster.yml (the production layout of issue 20) cannot run here (no Docker
 * engine), but Debian's docker-compose parses it and Debian's haproxy checks the balancer's
 * configuration, which must be the one infra/cluster.sh generates for those instances.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const root = new URL('../../../', import.meta.url).pathname;
const file = 'docker-compose.cluster.yml';

function run(command: string, args: string[], env: Record<string, string> = {}): string {
  try {
    return execFileSync(command, args, { cwd: root, encoding: 'utf8', stdio: 'pipe', env: { ...process.env, ...env } });
  } catch (error) {
    const e = error as { stderr?: Buffer | string; message: string };
    assert.unreachable(`${command} ${args.join(' ')} failed: ${e.stderr?.toString() || e.message}`);
    return '';
  }
}

test(`${file} is valid: three Redpanda brokers, Redis with three Sentinels, three ingestions behind HAProxy, three pricing workers`, () => {
  run('docker-compose', ['-f', file, 'config', '-q']);
  const services = run('docker-compose', ['-f', file, '--profile', 'simulator', 'config', '--services']);
  assert.equal(services.trim().split('\n').sort(), [
    'grid-mock', 'haproxy', 'ingestion-1', 'ingestion-2', 'ingestion-3',
    'pricing-worker-1', 'pricing-worker-2', 'pricing-worker-3',
    'redis-primary', 'redis-replica', 'redpanda-0', 'redpanda-1', 'redpanda-2', 'redpanda-console', 'redpanda-init',
    'sentinel-1', 'sentinel-2', 'sentinel-3', 'simulator', 'timescaledb',
  ]);
  const config = run('docker-compose', ['-f', file, 'config']);
  assert.match(config, 'KAFKA_BROKERS: redpanda-0:9092,redpanda-1:9092,redpanda-2:9092');
  assert.match(config, 'REDIS_URL: redis-sentinel://sentinel-1:26379,sentinel-2:26379,sentinel-3:26379#greenlane');
  assert.match(config, 'rpk cluster config set default_topic_replications 3');
  assert.match(readFileSync(`${root}${file}`, 'utf8'), "'sentinel monitor greenlane redis-primary 6379 2'");
  assert.match(config, '--target');
  assert.match(config, 'haproxy:50051');
  for (const n of [1, 2, 3]) assert.match(config, `INGESTION_INSTANCE_ID: ingestion-${n}`);
});

test('the compose balancer runs the configuration infra/cluster.sh generates, and HAProxy accepts it', () => {
  const generated = run('bash', ['infra/cluster.sh', 'haproxy-config'], {
    INFRA_CLUSTER_BIND: '0.0.0.0',
    INFRA_CLUSTER_GRPC_PORT: '50051',
    INFRA_CLUSTER_HAPROXY_STATS_PORT: '9470',
    INFRA_CLUSTER_INGESTION_BACKENDS: 'ingestion-1:50051:9464,ingestion-2:50051:9464,ingestion-3:50051:9464',
    INFRA_CLUSTER_HAPROXY_RESOLVER: '127.0.0.11:53',
  });
  assert.equal(readFileSync(`${root}infra/cluster/haproxy.compose.cfg`, 'utf8'), generated, 'regenerate infra/cluster/haproxy.compose.cfg (infra/cluster/README.md)');
  assert.match(generated, /server ingestion-3 ingestion-3:50051 proto h2 check port 9464 check-proto h1/);
  assert.match(generated, /bind 0\.0\.0\.0:50051 proto h2/);
  // -c: parses and checks only (the compose names do not resolve here: those servers start disabled).
  const haproxy = ['/usr/sbin/haproxy', 'haproxy'].find((h) => {
    try {
      execFileSync(h, ['-v'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
  if (haproxy === undefined) assert.unreachable('haproxy is not installed: make setup (apt-get install haproxy)');
  else run(haproxy, ['-c', '-f', 'infra/cluster/haproxy.compose.cfg']);
});

test.run();
