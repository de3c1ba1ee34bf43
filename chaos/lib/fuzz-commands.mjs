/**
 * The command API under hostile HTTP (issue 15): COMMAND_API_CASES (fuzz-inputs.mjs) at volume
 * over node:http (paths sent exactly as written, no URL normalisation), while the command driver
 * (commands.mjs) sends valid commands to the fuzz run's cars and valid reads follow them. Every bad
 * request must be answered with its case's 4xx status and a JSON `{error}`: never a 5xx, never a
 * 2xx, never no answer.
 */
import http from 'node:http';
import { CHAOS_OPERATOR_TOKEN, CHAOS_TOKEN, commandApiUrl, metric } from './stack.mjs';
import { commandApiRequest } from './fuzz-inputs.mjs';
import { pooled } from './fuzz-wire.mjs';

/** One request; resolves { status, body } or { error } (never rejects). */
export function httpRequest(agent, port, r, timeoutMs = 15_000) {
  return new Promise((resolve) => {
    let settled = false;
    const done = (v) => {
      if (!settled) {
        settled = true;
        resolve(v);
      }
    };
    const headers = { ...r.headers };
    if (r.body !== undefined && !r.chunked) headers['content-length'] = String(Buffer.byteLength(r.body));
    let req;
    // An answer that arrived counts even when the connection is reset after it (the server may
    // close it while a refused body is still being sent).
    let answered;
    const chunks = [];
    const failed = (e) => done(answered ? { ...answered, body: Buffer.concat(chunks).toString('utf8') } : { error: e.code ?? e.message });
    try {
      req = http.request({ host: '127.0.0.1', port, method: r.method, path: r.path, headers, agent, timeout: timeoutMs }, (res) => {
        answered = { status: res.statusCode, contentType: res.headers['content-type'] };
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => done({ ...answered, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', failed);
      });
    } catch (error) {
      return done({ error: `client refused to send: ${error.code ?? error.message}` });
    }
    req.on('timeout', () => {
      req.destroy(new Error('timeout'));
      done({ error: 'timeout' });
    });
    req.on('error', failed);
    if (r.body === undefined) return void req.end();
    if (!r.chunked) return void req.end(r.body);
    // Streamed in pieces without a content-length (transfer-encoding: chunked).
    const body = Buffer.from(r.body);
    for (let at = 0; at < body.length; at += 4096) req.write(body.subarray(at, at + 4096));
    req.end();
  });
}

/** A refusal as the API promises it: the case's status, content-type JSON, a body `{ error: string }`. */
export function isJsonError(answer) {
  if (!String(answer.contentType ?? '').startsWith('application/json')) return false;
  try {
    const body = JSON.parse(answer.body);
    return body !== null && typeof body === 'object' && typeof body.error === 'string' && body.error.length > 0;
  } catch {
    return false;
  }
}

/**
 * Sends `count` hostile requests to the stack's command API (`concurrency` at a time) with valid
 * traffic beside (`valid` = the command driver, already running; `validReads` asks GET / wait /
 * list of its accepted commands meanwhile). Returns the tallies; `refusedMetricDelta` is filled by
 * the caller's `refusedBefore`/after reads via commandApiRefused().
 */
export async function fuzzCommandApi(cfg, { count, concurrency = 16, car, maxBody = 16_384, driver }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const ctx = { token: CHAOS_OPERATOR_TOKEN, vehicleToken: CHAOS_TOKEN, car, maxBody };
  const byKind = {};
  const tally = {
    sent: 0,
    answeredAsExpected: 0,
    wrongStatus: 0,
    notJson: 0,
    serverErrors: 0,
    accepted2xx: 0,
    unanswered: 0,
    byStatus: {},
  };
  const examples = [];
  const note = (kind, what, r, answer) => {
    byKind[kind][what] = (byKind[kind][what] ?? 0) + 1;
    if (examples.length < 20 && !examples.some((e) => e.kind === kind && e.what === what)) {
      examples.push({ kind, what, expected: r.expect, method: r.method, path: r.path.slice(0, 120), status: answer.status, error: answer.error, body: answer.body?.slice(0, 160) });
    }
  };
  const started = Date.now();
  await pooled(count, concurrency, async (i) => {
    const r = commandApiRequest(i, ctx);
    byKind[r.kind] ??= { sent: 0 };
    byKind[r.kind].sent += 1;
    tally.sent += 1;
    const answer = await httpRequest(agent, cfg.commandApiPort, r);
    if (answer.error !== undefined) {
      tally.unanswered += 1;
      return note(r.kind, `no answer: ${answer.error}`, r, answer);
    }
    tally.byStatus[answer.status] = (tally.byStatus[answer.status] ?? 0) + 1;
    if (answer.status >= 500) tally.serverErrors += 1;
    if (answer.status < 300) tally.accepted2xx += 1;
    const json = isJsonError(answer);
    if (!json) tally.notJson += 1;
    if (answer.status !== r.expect) {
      tally.wrongStatus += 1;
      note(r.kind, `answered ${answer.status}, expected ${r.expect}`, r, answer);
    } else if (!json) {
      note(r.kind, 'not a JSON {error}', r, answer);
    } else {
      tally.answeredAsExpected += 1;
    }
  });
  const seconds = (Date.now() - started) / 1000;

  // Valid reads of the valid commands: each must be 200.
  const reads = { sent: 0, ok: 0, wrong: [] };
  const accepted = [...(driver?.accepted.values() ?? [])].slice(-200);
  await pooled(accepted.length, 8, async (k) => {
    const a = accepted[k];
    for (const path of [`/v1/commands/${a.command_id}`, `/v1/commands/${a.command_id}/wait?timeout_ms=0`, `/v1/cars/${a.car_id}/commands?limit=5`]) {
      reads.sent += 1;
      const answer = await httpRequest(agent, cfg.commandApiPort, { method: 'GET', path, headers: { authorization: `Bearer ${CHAOS_OPERATOR_TOKEN}` } });
      if (answer.status === 200) reads.ok += 1;
      else if (reads.wrong.length < 5) reads.wrong.push({ path, status: answer.status, error: answer.error });
    }
  });
  agent.destroy();
  return { ...tally, seconds, perSecond: Math.round(tally.sent / seconds), byKind, examples, validReads: reads };
}

/** command_api_requests_refused_total (all reasons), null when the API does not answer. */
export function commandApiRefused(cfg) {
  return metric(`${commandApiUrl(cfg)}/metrics`, 'command_api_requests_refused_total');
}
