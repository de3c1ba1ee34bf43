/**
 * Raw HTTP/2 to the ingestion's gRPC port (node:http2, no gRPC library in between), so the fuzzer
 * can send what no gRPC client would: broken framing, wrong headers, lying lengths.
 */
import http2 from 'node:http2';
import { BookingResponse } from '../../common/dist/src/gen/fleet/fleet.js';

/** Splits gRPC length-prefixed frames out of a byte stream; returns the decoded BookingResponses. */
function responseParser() {
  let buffered = Buffer.alloc(0);
  const responses = [];
  return {
    responses,
    push(chunk) {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 5) {
        const length = buffered.readUInt32BE(1);
        if (buffered.length < 5 + length) break;
        responses.push(BookingResponse.decode(buffered.subarray(5, 5 + length)));
        buffered = buffered.subarray(5 + length);
      }
    },
  };
}

/** A pool of HTTP/2 sessions to `authority`, reopened when one fails. */
export function sessionPool(authority, size) {
  const sessions = [];
  let next = 0;
  const open = (i) => {
    const session = http2.connect(authority, { settings: { initialWindowSize: 1 << 20 } });
    session.on('error', () => {});
    session.on('close', () => {
      if (sessions[i] === session) sessions[i] = undefined;
    });
    sessions[i] = session;
    return session;
  };
  return {
    get() {
      const i = next++ % size;
      const s = sessions[i];
      return s && !s.closed && !s.destroyed ? s : open(i);
    },
    close() {
      for (const s of sessions) s?.close();
    },
  };
}

/**
 * One request: headers, then the body chunks, then end of stream. Resolves with the outcome:
 * grpc-status (from trailers, or headers for a trailers-only answer), HTTP status, a reset code,
 * and the BookingResponses received.
 */
export function sendStream(pool, headers, chunks, timeoutMs = 15_000) {
  return new Promise((resolve) => {
    let session;
    let req;
    try {
      session = pool.get();
      req = session.request(headers);
    } catch (error) {
      return resolve({ outcome: 'session-error', error: error.message, responses: [] });
    }
    const parser = responseParser();
    const result = { httpStatus: undefined, grpcStatus: undefined, grpcMessage: undefined, responses: parser.responses };
    const timer = setTimeout(() => {
      result.outcome = 'hung';
      req.close(http2.constants.NGHTTP2_CANCEL);
    }, timeoutMs);
    req.on('response', (h) => {
      result.httpStatus = h[':status'];
      if (h['grpc-status'] !== undefined) {
        result.grpcStatus = Number(h['grpc-status']);
        result.grpcMessage = h['grpc-message'];
      }
    });
    req.on('trailers', (t) => {
      if (t['grpc-status'] !== undefined) {
        result.grpcStatus = Number(t['grpc-status']);
        result.grpcMessage = t['grpc-message'];
      }
    });
    req.on('data', (chunk) => {
      try {
        parser.push(chunk);
      } catch (error) {
        result.undecodableResponse = error.message;
      }
    });
    req.on('error', (error) => {
      result.error = error.code ?? error.message;
    });
    req.on('close', () => {
      clearTimeout(timer);
      if (result.outcome === undefined) {
        if (result.grpcStatus !== undefined) result.outcome = `grpc-${result.grpcStatus}`;
        else if (result.httpStatus !== undefined && result.httpStatus !== 200) result.outcome = `http-${result.httpStatus}`;
        else result.outcome = `reset-${req.rstCode}`;
      }
      resolve(result);
    });
    // Write everything, respecting flow control, then end the stream.
    (async () => {
      for (const chunk of chunks) {
        if (req.destroyed || req.closed) return;
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r).once('close', r));
      }
      if (!req.destroyed && !req.closed) req.end();
    })().catch(() => {});
  });
}

/** Runs `task(i)` for i in [0, n) with at most `concurrency` at once. */
export async function pooled(n, concurrency, task) {
  let next = 0;
  const workers = Array.from({ length: Math.min(n, concurrency) }, async () => {
    while (next < n) await task(next++);
  });
  await Promise.all(workers);
}
