import { createServer, type Server } from 'node:http';
import type { Logger } from '@greenlane/common';
import { priceAt } from './curve.js';

/** Instants the curve accepts: a whole number of epoch ms within what a JavaScript Date can hold. */
const MAX_MS = 8.64e15;

function send(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * GET /api/pricing[?at=<epoch ms>] and GET /health. `now` is injectable so tests can pin "now".
 */
export function createGridServer(opts: { timeZone: string; log: Logger; now?: () => number }): Server {
  const now = opts.now ?? Date.now;
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://grid');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, { error: `method ${req.method} not allowed; use GET` });
      return;
    }
    if (url.pathname === '/health') {
      send(res, 200, { status: 'ok', time_zone: opts.timeZone });
      return;
    }
    if (url.pathname === '/api/pricing') {
      const at = url.searchParams.get('at');
      let ms = now();
      if (at !== null) {
        ms = /^-?\d+$/.test(at.trim()) ? Number(at) : NaN;
        if (!Number.isSafeInteger(ms) || Math.abs(ms) > MAX_MS) {
          send(res, 400, { error: `at=${JSON.stringify(at)} is invalid: expected a whole number of epoch milliseconds` });
          return;
        }
      }
      send(res, 200, priceAt(ms, opts.timeZone));
      return;
    }
    send(res, 404, { error: `no route ${url.pathname}; try GET /api/pricing?at=<epoch ms> or GET /health` });
  }).on('clientError', (error, socket) => {
    opts.log.debug({ err: error.message }, 'bad request from client');
    socket.destroy();
  });
}
