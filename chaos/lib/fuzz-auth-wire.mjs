/**
 * The auth fuzz phase's wire (lib/fuzz-auth.mjs): what no TLS or HTTP/2 library would send.
 *
 * - rawTcp(): a TCP connection that writes bytes of our choosing at the TLS port (garbage, cut
 *   ClientHellos, SSLv3 / TLS 1.0 / 1.1 hellos, a plaintext HTTP/2 preface) and reports what the
 *   server did: closed it, answered a TLS alert, a ServerHello (or anything else), or nothing.
 * - captureClientHello(): a real TLS 1.3 ClientHello (Node's own), to cut and to replay.
 * - legacyHello(): a minimal ClientHello that offers only SSLv3, TLS 1.0 or TLS 1.1.
 * - rawH2Call(): one gRPC call over TLS with HTTP/2 frames written by hand, for headers node:http2
 *   refuses to send (two `authorization` fields, control bytes in a value). Its HPACK is literal
 *   and never Huffman-coded; the answer is not decoded, only classified: `refused` (a HEADERS
 *   frame ending the stream with no DATA before it: a trailers-only answer, what a refusal before
 *   any handler is), `answered` (DATA came: a handler ran), `reset`, `goaway`, `closed`.
 */
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { BookingResponse } from '../../common/dist/src/gen/fleet/fleet.js';

/** TLS record content types (RFC 8446 §5.1). */
export const RECORD = { alert: 0x15, handshake: 0x16 };

/**
 * Connects to host:port (from `localAddress` when given), runs `script(socket, seen)` which writes
 * what it wants, and resolves with what the server did within `timeoutMs` of the script's end:
 * `{ outcome, firstByte, bytes, alert }` with outcome `closed` (the server ended it, nothing
 * answered), `alert` (a TLS alert record, then closed or not), `server-hello` (a handshake
 * record: the server went on with the handshake), `other` (any other bytes), `silent` (nothing,
 * connection still open at the timeout: we close it), `dropped` (the script dropped it itself),
 * or `refused` (no TCP connection).
 */
export function rawTcp({ host, port, localAddress, timeoutMs = 5000, script }) {
  return new Promise((resolve) => {
    const chunks = [];
    let bytes = 0;
    let settled = false;
    let dropped = false;
    let timer;
    const socket = net.connect({ host, port, localAddress });
    const finish = (outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const data = Buffer.concat(chunks);
      const firstByte = data.length > 0 ? data[0] : undefined;
      let result = outcome;
      if (!dropped && data.length > 0) result = firstByte === RECORD.alert ? 'alert' : firstByte === RECORD.handshake ? 'server-hello' : 'other';
      // An alert record: 5-byte header, then level and description.
      const alert = firstByte === RECORD.alert && data.length >= 7 ? data[6] : undefined;
      socket.destroy();
      resolve({ outcome: result, firstByte, bytes, alert, dropped });
    };
    socket.on('data', (chunk) => {
      bytes += chunk.length;
      if (bytes <= 64 * 1024) chunks.push(chunk);
    });
    socket.on('error', (error) => (bytes === 0 && !socket.remoteAddress ? finish(`refused: ${error.code ?? error.message}`) : finish('closed')));
    socket.on('close', () => finish('closed'));
    socket.on('connect', async () => {
      try {
        await script(socket, () => bytes, () => {
          dropped = true;
        });
      } catch {
        // a write on a socket the server already closed: what it did is what counts
      }
      if (dropped) return finish('dropped');
      timer = setTimeout(() => finish('silent'), timeoutMs);
    });
  });
}

/** A real ClientHello record as Node (OpenSSL) sends it, with ALPN h2 and SNI `servername`. */
export function captureClientHello(servername = 'localhost') {
  return new Promise((resolve, reject) => {
    const server = net.createServer((conn) => {
      conn.once('data', (chunk) => {
        conn.destroy();
        server.close();
        resolve(chunk);
      });
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const client = tls.connect({ host: '127.0.0.1', port: server.address().port, servername, ALPNProtocols: ['h2'], rejectUnauthorized: false });
      client.on('error', () => {});
    });
  });
}

/**
 * A ClientHello offering only `version` (0x0300 SSLv3, 0x0301 TLS 1.0, 0x0302 TLS 1.1), with the
 * ciphers of its time and no extensions: a TLS 1.2+ server must refuse it (a protocol_version or
 * handshake_failure alert), never answer a ServerHello.
 */
export function legacyHello(version) {
  const suites = [0x002f, 0x0035, 0x000a, 0x0005, 0x0004, 0x0039]; // AES128-SHA, AES256-SHA, DES-CBC3-SHA, RC4-SHA, RC4-MD5, DHE-RSA-AES256-SHA
  const body = Buffer.concat([
    Buffer.from([version >> 8, version & 0xff]),
    randomBytes(32),
    Buffer.from([0]), // no session id
    Buffer.from([0, suites.length * 2]),
    Buffer.from(suites.flatMap((s) => [s >> 8, s & 0xff])),
    Buffer.from([1, 0]), // compression: null only
  ]);
  const handshake = Buffer.concat([Buffer.from([0x01, 0, body.length >> 8, body.length & 0xff]), body]);
  return Buffer.concat([Buffer.from([RECORD.handshake, version >> 8, version & 0xff, handshake.length >> 8, handshake.length & 0xff]), handshake]);
}

/** The HTTP/2 connection preface and an empty SETTINGS frame, as a plaintext (h2c) client opens. */
export const H2_PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), frameH2(0x4, 0, 0, Buffer.alloc(0))]);

function frameH2(type, flags, streamId, payload) {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` carries the pattern bits. */
function hpackInt(value, prefixBits, first = 0) {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** "Literal header field without indexing, new name", neither part Huffman-coded (§6.2.2). */
function hpackLiteral(name, value) {
  const n = Buffer.from(name, 'latin1');
  const v = Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1');
  return Buffer.concat([Buffer.from([0x00]), hpackInt(n.length, 7), n, hpackInt(v.length, 7), v]);
}

/**
 * One call over a new TLS connection (ALPN h2; `cert`/`key` for mutual TLS) with `headers` as
 * [name, value] pairs written in order (repeats and any bytes allowed) after the pseudo-headers,
 * then `body` as one DATA frame ending the stream. Resolves `{ outcome, responses }` (see the
 * file's comment; `responses` = the BookingResponses in the DATA frames) within `timeoutMs`.
 */
export function rawH2Call({ host, port, servername = 'localhost', ca, cert, key, alpn = ['h2'], localAddress, authority, path, headers, body, timeoutMs = 10_000 }) {
  return new Promise((resolve) => {
    let settled = false;
    let timer;
    let buffered = Buffer.alloc(0);
    let data = 0;
    let grpcBytes = Buffer.alloc(0);
    const responses = [];
    const socket = tls.connect({ host, port, servername, ca, cert, key, ...(alpn.length > 0 ? { ALPNProtocols: alpn } : {}), localAddress });
    let negotiated;
    const finish = (outcome, extra = {}) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ outcome, dataFrames: data, responses, ...extra });
    };
    const onData = (payload) => {
      grpcBytes = Buffer.concat([grpcBytes, payload]);
      while (grpcBytes.length >= 5) {
        const length = grpcBytes.readUInt32BE(1);
        if (grpcBytes.length < 5 + length) break;
        try {
          responses.push(BookingResponse.decode(grpcBytes.subarray(5, 5 + length)));
        } catch {
          responses.push({ undecodable: true });
        }
        grpcBytes = grpcBytes.subarray(5 + length);
      }
    };
    timer = setTimeout(() => finish('hung'), timeoutMs);
    socket.on('error', (error) => finish('closed', { error: error.code ?? error.message }));
    socket.on('close', () => finish('closed', negotiated === 'h2' || negotiated === undefined ? {} : { error: `ALPN ${negotiated}` }));
    socket.on('secureConnect', () => {
      // Without h2 negotiated the request is written all the same: the server must not answer it.
      negotiated = socket.alpnProtocol;
      const block = Buffer.concat([
        hpackLiteral(':method', 'POST'),
        hpackLiteral(':scheme', 'https'),
        hpackLiteral(':path', path),
        hpackLiteral(':authority', authority),
        hpackLiteral('content-type', 'application/grpc'),
        hpackLiteral('te', 'trailers'),
        ...headers.map(([name, value]) => hpackLiteral(name, value)),
      ]);
      socket.write(
        Buffer.concat([
          H2_PREFACE,
          frameH2(0x1, 0x4, 1, block), // HEADERS, END_HEADERS
          frameH2(0x0, 0x1, 1, body), // DATA, END_STREAM
        ]),
      );
    });
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 9) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < 9 + length) break;
        const type = buffered[3];
        const flags = buffered[4];
        const stream = buffered.readUInt32BE(5) & 0x7fffffff;
        const payload = buffered.subarray(9, 9 + length);
        buffered = buffered.subarray(9 + length);
        if (type === 0x4 && (flags & 0x1) === 0) socket.write(frameH2(0x4, 0x1, 0, Buffer.alloc(0))); // SETTINGS → ACK
        else if (type === 0x6 && (flags & 0x1) === 0) socket.write(frameH2(0x6, 0x1, 0, payload)); // PING → PONG
        else if (type === 0x7) return finish('goaway', { code: payload.length >= 8 ? payload.readUInt32BE(4) : undefined });
        else if (stream === 1 && type === 0x3) return finish('reset', { code: payload.readUInt32BE(0) });
        else if (stream === 1 && type === 0x0 && length > 0) {
          data += 1;
          onData(payload);
        }
        else if (stream === 1 && type === 0x1 && (flags & 0x1) !== 0) return finish(data === 0 ? 'refused' : 'answered');
      }
    });
  });
}
