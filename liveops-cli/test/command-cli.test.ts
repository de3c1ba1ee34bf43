/**
 * The `command` subcommand: its words (unit), and its output and exit codes as a process against a
 * CONTRACT STUB of the command API (a small node:http server playing the responses the API
 * documents: 202 with the command, /wait answering at the timeout or once final, 4xx with
 * {"error"}). The stub stands in for the real API only for these argument and exit-code tests; the
 * end-to-end test through the real command API lives with it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { DEVELOPMENT_OPERATOR_TOKEN } from '@greenlane/common/operator-auth';
import { DEFAULT_COMMAND_API_URL, UsageError, joinNegativeValues, normalizeType, parseCommandArgs, requestBody, type CommandRequest } from '../src/command/args.js';
import { outcomeLine, statusChanges } from '../src/command/run.js';
import type { CommandJson } from '../src/command/api.js';

const CLI = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
const T = Date.UTC(2023, 11, 2, 20, 15, 32);

const args = suite('command words');

args('type names in kebab, snake or upper case', () => {
  for (const word of ['emergency-stop', 'emergency_stop', 'EMERGENCY_STOP', 'Emergency-Stop']) assert.is(normalizeType(word), 'EMERGENCY_STOP');
  assert.is(normalizeType('return-to-base'), 'RETURN_TO_BASE');
  assert.is(normalizeType('stop_charging'), 'STOP_CHARGING');
  assert.is(normalizeType('stop'), undefined);
  assert.is(normalizeType('fly'), undefined);
});

args('defaults: the API on 127.0.0.1:8091 and the development operator token; the environment and flags override', () => {
  const r = parseCommandArgs(['CAR-042', 'emergency-stop'], {}) as CommandRequest;
  assert.equal([r.carId, r.type, r.apiUrl, r.token], ['CAR-042', 'EMERGENCY_STOP', DEFAULT_COMMAND_API_URL, DEVELOPMENT_OPERATOR_TOKEN]);
  assert.equal(requestBody(r), { type: 'EMERGENCY_STOP' });
  const env = { COMMAND_API_URL: 'http://api.example:9000/', OPERATOR_TOKEN: 'env-token' };
  const e = parseCommandArgs(['CAR-042', 'resume'], env) as CommandRequest;
  assert.equal([e.apiUrl, e.token], ['http://api.example:9000', 'env-token']);
  const f = parseCommandArgs(['CAR-042', 'resume', '--api', 'http://other:1', '--token', 'flag-token'], env) as CommandRequest;
  assert.equal([f.apiUrl, f.token], ['http://other:1', 'flag-token']);
});

args('parameters: coordinates (negative ones too), station, ttl and timeout into the documented body', () => {
  assert.equal(joinNegativeValues(['--lon', '-73.98', '--lat', '40.7']), ['--lon=-73.98', '--lat', '40.7']);
  const r = parseCommandArgs(['CAR-042', 'reroute', '--lat', '40.758', '--lon', '-73.9855', '--ttl-ms', '60000', '--timeout-ms', '5000'], {}) as CommandRequest;
  assert.equal(requestBody(r), { type: 'REROUTE', latitude: 40.758, longitude: -73.9855, ttl_ms: 60000, timeout_ms: 5000 });
  const s = parseCommandArgs(['CAR-042', 'start-charging', '--station', 'ST-017'], {}) as CommandRequest;
  assert.equal(requestBody(s), { type: 'START_CHARGING', station_id: 'ST-017' });
  assert.is(parseCommandArgs(['--help'], {}), 'help');
});

args('usage errors name what is wrong', () => {
  const refused = (argv: string[], what: RegExp) =>
    assert.throws(() => parseCommandArgs(argv, {}), (e: unknown) => e instanceof UsageError && what.test(e.message), argv.join(' '));
  refused([], /car id and a command type/);
  refused(['CAR-042'], /car id and a command type/);
  refused(['CAR-042', 'fly'], /unknown command type "fly"/);
  refused(['CAR-042', 'reroute'], /--lat N --lon N/);
  refused(['CAR-042', 'return-to-base', '--lat', '40.7'], /--lat N --lon N/);
  refused(['CAR-042', 'reroute', '--lat', 'north', '--lon', '1'], /--lat "north"/);
  refused(['CAR-042', 'start-charging'], /--station ID/);
  refused(['CAR-042', 'emergency-stop', '--lat', '1', '--lon', '2'], /not emergency-stop/);
  refused(['CAR-042', 'emergency-stop', '--ttl-ms', '-5'], /--ttl-ms/);
  refused(['CAR-042', 'emergency-stop', '--ttl-ms', '1.5'], /--ttl-ms/);
  refused(['CAR-042', 'emergency-stop', 'now'], /unexpected "now"/);
  refused(['CAR-042', 'emergency-stop', '--speed', '3'], /--speed/);
  refused(['CAR-042', 'emergency-stop', '--api', 'not a url'], /--api/);
});

args('a record tells its status changes in order, with their times', () => {
  const c: CommandJson = {
    command_id: 'c', car_id: 'CAR-042', type: 'EMERGENCY_STOP', status: 'SUCCEEDED', final: true,
    issued_at: T, expires_at: T + 10_000, timeout_ms: 5_000, sent_at: T + 2, delivered_at: T + 17, finished_at: T + 17, deliveries: 1,
  };
  assert.equal(statusChanges(c), [
    { status: 'QUEUED', at: T },
    { status: 'SENT', at: T + 2 },
    { status: 'DELIVERED', at: T + 17 },
    { status: 'SUCCEEDED', at: T + 17 },
  ]);
  assert.equal(statusChanges({ ...c, status: 'EXPIRED', sent_at: undefined, delivered_at: undefined, finished_at: T + 10_000 } as CommandJson), [
    { status: 'QUEUED', at: T },
    { status: 'EXPIRED', at: T + 10_000 },
  ]);
  assert.is(outcomeLine(c, false), '✔ SUCCEEDED: CAR-042 carried out EMERGENCY_STOP, 17 ms after it was accepted; command c');
  assert.is(
    outcomeLine({ ...c, status: 'FAILED', reason: 'emergency-stopped: send RESUME first', deliveries: 2 }, false),
    '✘ FAILED: CAR-042 did not carry out EMERGENCY_STOP, 17 ms after it was accepted, delivered 2 times: emergency-stopped: send RESUME first; command c',
  );
});

// --- the process against the contract stub -----------------------------------------------------

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

/** How each car's command ends in the stub, and what it refuses. */
const ENDINGS: Record<string, { status: string; reason?: string }> = {
  'CAR-OK': { status: 'SUCCEEDED' },
  'CAR-FAIL': { status: 'FAILED', reason: 'emergency-stopped: send RESUME first' },
  'CAR-SLOW': { status: 'TIMED_OUT', reason: 'the car did not answer within 5000 ms' },
  'CAR-AWAY': { status: 'EXPIRED', reason: 'expired before the car was reachable' },
};

async function startContractStub(): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const commands = new Map<string, { car: string; type: string; polls: number }>();
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const record = (id: string, car: string, type: string, stage: 'queued' | 'sent' | 'final'): CommandJson => {
    const base: CommandJson = { command_id: id, car_id: car, type, status: 'QUEUED', final: false, issued_at: T, expires_at: T + 10_000, timeout_ms: 5_000, deliveries: 0 };
    if (stage === 'queued') return base;
    const ending = ENDINGS[car]!;
    const sent = ending.status === 'EXPIRED' ? {} : { sent_at: T + 2, deliveries: 1, instance: 'ingestion-a' };
    if (stage === 'sent') return { ...base, ...sent, status: ending.status === 'EXPIRED' ? 'QUEUED' : 'SENT' };
    const delivered = ending.status === 'SUCCEEDED' || ending.status === 'FAILED' ? { delivered_at: T + 17 } : {};
    return { ...base, ...sent, ...delivered, status: ending.status, final: true, finished_at: T + 17, ...(ending.reason ? { reason: ending.reason } : {}) };
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
      if (req.headers.authorization !== `Bearer ${DEVELOPMENT_OPERATOR_TOKEN}`) return send(res, 401, { error: 'missing or wrong operator token' });
      const post = /^\/v1\/cars\/([^/]+)\/commands$/.exec(req.url ?? '');
      if (req.method === 'POST' && post) {
        const car = decodeURIComponent(post[1]!);
        if (car === 'CAR-FULL') return send(res, 429, { error: 'too many pending commands for CAR-FULL (16)' });
        if (!ENDINGS[car]) return send(res, 404, { error: `unknown car ${car}: never seen` });
        const type = (JSON.parse(body) as { type: string }).type;
        const id = `cmd-${commands.size + 1}-${car}`;
        commands.set(id, { car, type, polls: 0 });
        return send(res, 202, record(id, car, type, 'queued'));
      }
      const wait = /^\/v1\/commands\/([^/?]+)\/wait\?timeout_ms=(\d+)$/.exec(req.url ?? '');
      if (req.method === 'GET' && wait) {
        const c = commands.get(decodeURIComponent(wait[1]!));
        if (!c) return send(res, 404, { error: 'unknown command' });
        c.polls += 1;
        // The first wait comes back at its timeout with the command still on its way; the second, final.
        return send(res, 200, record(wait[1]!, c.car, c.type, c.polls === 1 ? 'sent' : 'final'));
      }
      send(res, 404, { error: 'no such route' });
    });
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function runCli(argv: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'command', ...argv, '--utc'], {
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createNetServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const proc = suite('command subcommand against the contract stub');
let stub: Awaited<ReturnType<typeof startContractStub>>;
proc.before(async () => {
  stub = await startContractStub();
});
proc.after(async () => {
  await stub.close();
});

proc('SUCCEEDED: posts the documented body with the operator token, prints each status change and the outcome, exits 0', async () => {
  const before = stub.seen.length;
  const r = await runCli(['CAR-OK', 'emergency-stop'], { COMMAND_API_URL: stub.url });
  assert.is(r.code, 0, r.stderr);
  const requests = stub.seen.slice(before);
  assert.equal(requests[0], { method: 'POST', url: '/v1/cars/CAR-OK/commands', authorization: `Bearer ${DEVELOPMENT_OPERATOR_TOKEN}`, body: '{"type":"EMERGENCY_STOP"}' });
  assert.is(requests.length, 3);
  assert.ok(requests.slice(1).every((q) => q.method === 'GET' && /^\/v1\/commands\/cmd-\d+-CAR-OK\/wait\?timeout_ms=\d+$/.test(q.url)));
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.map((l) => l.split(' | ')[2]?.trim() ?? l.split(':')[0]), ['QUEUED', 'SENT', 'DELIVERED', 'SUCCEEDED', '✔ SUCCEEDED']);
  assert.is(lines[0], '[20:15:32] 📡 CAR-OK     | EMERGENCY_STOP | QUEUED     | 0 ms | cmd-1-CA');
  assert.match(lines[2]!, '| DELIVERED  | 17 ms |');
  assert.match(lines[4]!, /^✔ SUCCEEDED: CAR-OK carried out EMERGENCY_STOP, 17 ms after it was accepted; command cmd-\d+-CAR-OK$/);
  assert.is(r.stderr, '');
});

proc('FAILED, TIMED_OUT and EXPIRED exit 1 with the reason', async () => {
  for (const [car, status, reason] of [
    ['CAR-FAIL', 'FAILED', 'emergency-stopped: send RESUME first'],
    ['CAR-SLOW', 'TIMED_OUT', 'the car did not answer within 5000 ms'],
    ['CAR-AWAY', 'EXPIRED', 'expired before the car was reachable'],
  ] as const) {
    const r = await runCli([car, 'reroute', '--lat', '40.758', '--lon', '-73.9855'], { COMMAND_API_URL: stub.url });
    assert.is(r.code, 1, `${car}: ${r.stderr}`);
    const last = r.stdout.trim().split('\n').at(-1)!;
    assert.match(last, `✘ ${status}: `);
    assert.match(last, reason);
    assert.match(r.stdout, new RegExp(`\\| ${status} +\\| 17 ms \\| cmd-\\d+-${car.slice(0, 1)}.*  ${reason}`));
  }
  assert.ok(stub.seen.some((q) => q.body === '{"type":"REROUTE","latitude":40.758,"longitude":-73.9855}'));
});

proc('usage errors exit 2 and send nothing', async () => {
  const before = stub.seen.length;
  for (const argv of [['CAR-OK', 'fly'], ['CAR-OK', 'reroute', '--lat', '40.7'], ['CAR-OK'], ['CAR-OK', 'start-charging']]) {
    const r = await runCli(argv, { COMMAND_API_URL: stub.url });
    assert.is(r.code, 2, argv.join(' '));
    assert.match(r.stderr, /^liveops command: /);
    assert.match(r.stderr, 'Usage: npm start -w liveops-cli -- command CAR-ID TYPE');
  }
  assert.is(stub.seen.length, before);
});

proc('the API refusing (404 unknown car, 429, 401 wrong token) exits 3 with its error', async () => {
  const unknown = await runCli(['CAR-NEVER', 'emergency-stop'], { COMMAND_API_URL: stub.url });
  assert.is(unknown.code, 3);
  assert.match(unknown.stderr, `the command API at ${stub.url} refused: 404 unknown car CAR-NEVER: never seen`);
  const full = await runCli(['CAR-FULL', 'resume'], { COMMAND_API_URL: stub.url });
  assert.is(full.code, 3);
  assert.match(full.stderr, '429 too many pending commands for CAR-FULL (16)');
  const wrong = await runCli(['CAR-OK', 'resume', '--token', 'not-mine'], { COMMAND_API_URL: stub.url });
  assert.is(wrong.code, 3);
  assert.match(wrong.stderr, '401 missing or wrong operator token');
  assert.is(stub.seen.at(-1)!.authorization, 'Bearer not-mine');
  // OPERATOR_TOKEN is the token when --token is not given.
  const fromEnv = await runCli(['CAR-OK', 'resume'], { COMMAND_API_URL: stub.url, OPERATOR_TOKEN: 'env-token' });
  assert.is(fromEnv.code, 3);
  assert.is(stub.seen.at(-1)!.authorization, 'Bearer env-token');
});

proc('no API at the address exits 3, naming the URL and what to do', async () => {
  const url = `http://127.0.0.1:${await closedPort()}`;
  const r = await runCli(['CAR-OK', 'emergency-stop', '--api', url]);
  assert.is(r.code, 3);
  assert.match(r.stderr, `cannot reach the command API at ${url}`);
  assert.match(r.stderr, 'ECONNREFUSED');
  assert.match(r.stderr, '--api URL or COMMAND_API_URL');
  assert.is(r.stdout, '');
});

proc('--json prints the records the API returned, one per line', async () => {
  const r = await runCli(['CAR-OK', 'emergency_stop', '--json'], { COMMAND_API_URL: stub.url });
  assert.is(r.code, 0);
  const records = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as CommandJson);
  assert.equal(records.map((c) => c.status), ['QUEUED', 'SENT', 'SUCCEEDED']);
});

args.run();
proc.run();
