/**
 * The few pieces of the PostgreSQL wire protocol (v3) the multiplexer needs: splitting what a
 * client sends into whole messages, answering the start-up itself (the one PGlite backend was
 * started once, at server start), reading the transaction status a response ends with, and
 * giving prepared-statement and portal names a per-connection prefix.
 * https://www.postgresql.org/docs/current/protocol-message-formats.html
 */

export const PROTOCOL_3 = 196608;
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;

/** A message that was not a start-up packet: its type byte and the whole frame (type + length + body). */
export interface Frame {
  type: string;
  bytes: Buffer;
}

export type StartupPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel' }
  | { kind: 'startup'; params: Map<string, string> }
  | { kind: 'unsupported'; code: number };

/** Accumulates a client's bytes and hands out whole messages. */
export class FrameReader {
  #buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
  }

  /** A start-up packet has no type byte: int32 length, int32 code, then the body. */
  nextStartup(): StartupPacket | undefined {
    if (this.#buffer.length < 8) return undefined;
    const length = this.#buffer.readInt32BE(0);
    if (length < 8 || length > 10_000) return { kind: 'unsupported', code: -1 };
    if (this.#buffer.length < length) return undefined;
    const code = this.#buffer.readInt32BE(4);
    const body = this.#buffer.subarray(8, length);
    this.#buffer = this.#buffer.subarray(length);
    if (code === SSL_REQUEST) return { kind: 'ssl' };
    if (code === GSSENC_REQUEST) return { kind: 'gssenc' };
    if (code === CANCEL_REQUEST) return { kind: 'cancel' };
    if (code !== PROTOCOL_3) return { kind: 'unsupported', code };
    const parts = body.toString('utf8').split('\0');
    const params = new Map<string, string>();
    for (let i = 0; i + 1 < parts.length && parts[i] !== ''; i += 2) params.set(parts[i]!, parts[i + 1]!);
    return { kind: 'startup', params };
  }

  /** A regular message: type byte, int32 length (counting itself), body. */
  next(): Frame | undefined {
    if (this.#buffer.length < 5) return undefined;
    const length = this.#buffer.readInt32BE(1);
    if (length < 4) throw new Error(`invalid message length ${length}`);
    if (this.#buffer.length < 1 + length) return undefined;
    // A copy, so that a frame kept for later does not pin (or see reused) the socket's buffer.
    const bytes = Buffer.from(this.#buffer.subarray(0, 1 + length));
    this.#buffer = this.#buffer.subarray(1 + length);
    return { type: String.fromCharCode(bytes[0]!), bytes };
  }
}

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const cstring = (s: string) => Buffer.from(`${s}\0`, 'utf8');

export const authenticationOk = () => message('R', Buffer.from([0, 0, 0, 0]));
export const parameterStatus = (name: string, value: string) => message('S', Buffer.concat([cstring(name), cstring(value)]));
export function backendKeyData(pid: number, secret: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeInt32BE(pid);
  body.writeInt32BE(secret, 4);
  return message('K', body);
}
export const readyForQuery = (status: 'I' | 'T' | 'E') => message('Z', Buffer.from(status, 'latin1'));
export const query = (sql: string) => message('Q', cstring(sql));
export const sync = () => message('S', Buffer.alloc(0));

/** ErrorResponse with the fields psql and pg show: severity, SQLSTATE code, message. */
export function errorResponse(severity: 'ERROR' | 'FATAL', code: string, text: string): Buffer {
  return message('E', Buffer.concat([cstring(`S${severity}`), cstring(`V${severity}`), cstring(`C${code}`), cstring(`M${text}`), Buffer.from([0])]));
}

/**
 * What a backend response says at its end: the status of the last ReadyForQuery ('I' idle, 'T' in
 * a transaction, 'E' in a failed transaction), or undefined when it has none (the client is in the
 * middle of an extended-protocol exchange or a COPY), and the first error's SQLSTATE and message.
 */
export function scanResponse(response: Uint8Array): { status: 'I' | 'T' | 'E' | undefined; error?: { code: string; message: string } } {
  const buf = Buffer.from(response.buffer, response.byteOffset, response.byteLength);
  let status: 'I' | 'T' | 'E' | undefined;
  let error: { code: string; message: string } | undefined;
  let i = 0;
  while (i + 5 <= buf.length) {
    const type = buf[i]!;
    const length = buf.readInt32BE(i + 1);
    if (length < 4) break;
    if (type === 0x5a /* Z */) status = String.fromCharCode(buf[i + 5]!) as 'I' | 'T' | 'E';
    else if (type === 0x45 /* E */ && error === undefined) error = errorFields(buf.subarray(i + 5, i + 1 + length));
    i += 1 + length;
  }
  return { status, ...(error ? { error } : {}) };
}

function errorFields(body: Buffer): { code: string; message: string } {
  let code = '';
  let text = '';
  for (const field of body.toString('utf8').split('\0')) {
    if (field.startsWith('C')) code = field.slice(1);
    else if (field.startsWith('M')) text = field.slice(1);
  }
  return { code, message: text };
}

/** DataRow values of a simple-query response, as text (NULL as undefined). */
export function dataRows(response: Uint8Array): Array<Array<string | undefined>> {
  const buf = Buffer.from(response.buffer, response.byteOffset, response.byteLength);
  const rows: Array<Array<string | undefined>> = [];
  let i = 0;
  while (i + 5 <= buf.length) {
    const length = buf.readInt32BE(i + 1);
    if (buf[i] === 0x44 /* D */) {
      let p = i + 5;
      const count = buf.readInt16BE(p);
      p += 2;
      const row: Array<string | undefined> = [];
      for (let c = 0; c < count; c++) {
        const size = buf.readInt32BE(p);
        p += 4;
        if (size < 0) row.push(undefined);
        else {
          row.push(buf.toString('utf8', p, p + size));
          p += size;
        }
      }
      rows.push(row);
    }
    i += 1 + length;
  }
  return rows;
}

function readCString(buf: Buffer, at: number): [string, number] {
  const end = buf.indexOf(0, at);
  if (end < 0) throw new Error('unterminated string in message');
  return [buf.toString('utf8', at, end), end + 1];
}

/**
 * Prefixes the statement and portal names in Parse, Bind, Describe and Close, so that two
 * connections both preparing "stmt1" do not meet in the one backend. The unnamed statement and
 * portal stay unnamed: they live only until the next Parse/Bind of the same connection, and a
 * connection's messages up to its Sync reach the backend together. Returns the rewritten frame
 * and, for Parse and Close of a statement, the (prefixed) name created or dropped.
 */
export function prefixNames(frame: Frame, prefix: string): { frame: Frame; parsed?: string; closed?: string } {
  const named = (name: string) => (name === '' ? '' : `${prefix}${name}`);
  const body = frame.bytes.subarray(5);
  if (frame.type === 'P') {
    const [name, rest] = readCString(body, 0);
    if (name === '') return { frame };
    const out = Buffer.concat([cstring(named(name)), body.subarray(rest)]);
    return { frame: { type: 'P', bytes: message('P', out) }, parsed: named(name) };
  }
  if (frame.type === 'B') {
    const [portal, afterPortal] = readCString(body, 0);
    const [statement, rest] = readCString(body, afterPortal);
    if (portal === '' && statement === '') return { frame };
    const out = Buffer.concat([cstring(named(portal)), cstring(named(statement)), body.subarray(rest)]);
    return { frame: { type: 'B', bytes: message('B', out) } };
  }
  if (frame.type === 'D' || frame.type === 'C') {
    const kind = String.fromCharCode(body[0]!);
    const [name] = readCString(body, 1);
    if (name === '') return { frame };
    const out = Buffer.concat([Buffer.from(kind, 'latin1'), cstring(named(name))]);
    const rewritten = { frame: { type: frame.type, bytes: message(frame.type, out) } };
    return frame.type === 'C' && kind === 'S' ? { ...rewritten, closed: named(name) } : rewritten;
  }
  return { frame };
}

/** A string as an SQL literal (standard_conforming_strings is on). */
export const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;
/** A name as an SQL identifier. */
export const identifier = (s: string) => `"${s.replace(/"/g, '""')}"`;

/**
 * COPY ... FROM STDIN (psql's \copy to the server): PGlite's raw protocol has no copy-in, and the
 * WebAssembly backend traps on it ("unreachable"), lost from then on to every connection. Such a
 * Query or Parse is replaced by a statement that fails with 0A000 saying so, in its place in the
 * connection's stream (inside a transaction it aborts it, as any error would). COPY TO STDOUT works.
 */
const COPY_FROM_STDIN = /\bcopy\b[^;]*?\bfrom\s+stdin\b/i;
const REFUSAL = query(
  "DO $refused$ BEGIN RAISE EXCEPTION USING ERRCODE = 'feature_not_supported', MESSAGE = 'COPY FROM STDIN (psql \\copy) is not supported by the embedded database: load with INSERT (or into PostgreSQL)'; END $refused$",
);

export function refuseCopyIn(frame: Frame): Frame {
  if (frame.type === 'Q') {
    const [sql] = readCString(frame.bytes, 5);
    return COPY_FROM_STDIN.test(sql) ? { type: 'Q', bytes: REFUSAL } : frame;
  }
  if (frame.type === 'P') {
    const [name, at] = readCString(frame.bytes, 5);
    const [sql] = readCString(frame.bytes, at);
    if (!COPY_FROM_STDIN.test(sql)) return frame;
    // No parameter types: the replacement takes none (a Bind with values for the COPY then fails, as it should).
    return { type: 'P', bytes: message('P', Buffer.concat([cstring(name), REFUSAL.subarray(5), Buffer.from([0, 0])])) };
  }
  return frame;
}
