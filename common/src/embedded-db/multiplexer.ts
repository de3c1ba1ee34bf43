/**
 * Many PostgreSQL wire connections onto the one PGlite backend. PGlite is a single backend (one
 * session, one transaction at a time), so the backend is granted per transaction, not per
 * connection: a connection holds it only while it is executing or inside a transaction, and gives
 * it up as soon as the backend reports ReadyForQuery 'I' (idle). An idle open psql therefore holds
 * nothing. What a connection can hold is bounded: a transaction left idle longer than
 * `idleInTransactionMs` is rolled back and its connection ended with SQLSTATE 25P03, as
 * PostgreSQL's idle_in_transaction_session_timeout does. A running query cannot be bounded: the
 * WebAssembly backend runs it to the end on this thread (no statement_timeout, no cancel).
 *
 * Session state lives in the backend and would leak between connections, so each connection keeps
 * its own: when the backend changes hands, the previous holder's session settings (SET
 * search_path, TimeZone, ...) are saved and `RESET ALL` plus the next holder's own settings are
 * applied; prepared statement and portal names get a per-connection prefix. Not isolated (shared
 * by all connections, as documented in the README): temporary tables, session advisory locks,
 * LISTEN, SQL-level PREPARE, cursors WITH HOLD.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import {
  FrameReader, authenticationOk, backendKeyData, dataRows, errorResponse, identifier, literal, parameterStatus, prefixNames,
  query, readyForQuery, refuseCopyIn, scanResponse, sync, type Frame,
} from './wire.js';

/** What the multiplexer needs of PGlite: raw protocol in, raw protocol out. */
export interface Backend {
  execProtocolRaw(message: Uint8Array): Promise<Uint8Array>;
}

export interface MultiplexerOptions {
  backend: Backend;
  log: Logger;
  /** A transaction idle this long is rolled back and its connection ended; 0 = never. */
  idleInTransactionMs: number;
  /** Connections served at once; one more is refused with SQLSTATE 53300. */
  maxConnections: number;
}

/** Messages after which the backend answers: a unit reaches the backend whole. */
const UNIT_END = new Set(['Q', 'S', 'H', 'F', 'c', 'f']);
/** Start-up parameters that are not settings. */
const NOT_SETTINGS = new Set(['user', 'database', 'options', 'replication', 'client_encoding']);

class Session {
  readonly reader = new FrameReader();
  started = false;
  closed = false;
  /** Whole units (messages up to a Sync, Query, Flush, ...) waiting for the backend. */
  readonly units: Buffer[] = [];
  /** Messages of the unit being received. */
  partial: Buffer[] = [];
  /** The backend's status after this connection's last unit; anything but 'I' means it holds the backend. */
  status: 'I' | 'T' | 'E' | 'busy' = 'I';
  /** Session settings of this connection, restored whenever it gets the backend back. */
  settings = new Map<string, string>();
  /** Prepared statements it created (prefixed names), deallocated when it goes. */
  readonly statements = new Set<string>();
  idleTimer: NodeJS.Timeout | undefined;
  /** Set when the connection is to be ended by the server (the error it is told). */
  kill: Buffer | undefined;
  user = 'postgres';

  constructor(readonly id: number, readonly socket: Socket) {}

  get prefix(): string {
    return `_c${this.id}_`;
  }

  send(bytes: Uint8Array): void {
    if (!this.closed && !this.socket.destroyed && this.socket.writable) this.socket.write(bytes);
  }

  clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

export class Multiplexer {
  readonly #opts: MultiplexerOptions;
  readonly #log: Logger;
  readonly #sessions = new Set<Session>();
  /** Connections with work waiting for the backend, in arrival order (the holder is not in it). */
  readonly #queue: Session[] = [];
  #holder: Session | undefined;
  /** Whose session settings the backend has now. */
  #settingsOwner: Session | undefined;
  #pumping = false;
  #nextId = 1;
  /** DEALLOCATEs of connections gone, run between two holders. */
  #cleanups: string[] = [];
  #server: Server | undefined;
  /** Settings the backend starts with (PGlite sets search_path itself), every connection's base. */
  #baseline = new Map<string, string>();
  #settingNames = new Set<string>();
  #reported: Record<string, string> = {};

  constructor(opts: MultiplexerOptions) {
    this.#opts = opts;
    this.#log = opts.log;
  }

  /** Reads the backend's settings, then listens. */
  async listen(port: number, host: string): Promise<number> {
    this.#baseline = await this.#readSettings();
    // PGlite's command line sets client_min_messages to debug3, and RESET ALL (every hand-over
    // between connections whose settings differ) returns it there: each client would then be sent
    // the server's DEBUG lines, which psql prints among its answers. PostgreSQL's default is every
    // connection's base instead, as a server's configuration would make it.
    this.#baseline.set('client_min_messages', 'notice');
    const all = dataRows(await this.#opts.backend.execProtocolRaw(query('SELECT name, setting FROM pg_settings')));
    this.#settingNames = new Set(all.map(([name]) => name!.toLowerCase()));
    const value = (name: string) => all.find(([n]) => n!.toLowerCase() === name.toLowerCase())?.[1] ?? '';
    this.#reported = {
      server_version: value('server_version'),
      server_encoding: value('server_encoding'),
      client_encoding: 'UTF8',
      DateStyle: value('DateStyle'),
      IntervalStyle: value('IntervalStyle'),
      TimeZone: value('TimeZone'),
      integer_datetimes: value('integer_datetimes'),
      standard_conforming_strings: value('standard_conforming_strings'),
      is_superuser: 'on',
      in_hot_standby: 'off',
      default_transaction_read_only: 'off',
    };
    const server = createServer((socket) => this.#accept(socket));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => this.#log.error({ err: error.message }, 'listening socket failed'));
    return (server.address() as { port: number }).port;
  }

  stats(): { connections: number; waiting: number; holder: number | undefined } {
    return { connections: this.#sessions.size, waiting: this.#queue.length, holder: this.#holder?.id };
  }

  async close(): Promise<void> {
    for (const session of this.#sessions) session.socket.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  #accept(socket: Socket): void {
    const session = new Session(this.#nextId++, socket);
    this.#sessions.add(session);
    socket.setNoDelay(true);
    // A client that vanishes (reset, broken pipe) is that client's affair: never an unhandled error.
    socket.on('error', (error) => this.#log.debug({ conn: session.id, err: error.message }, 'client connection broke'));
    socket.on('close', () => this.#closed(session));
    socket.on('data', (chunk: Buffer) => {
      try {
        session.reader.push(chunk);
        if (!session.started) this.#startup(session);
        if (session.started) this.#frames(session);
      } catch (error) {
        // A malformed message ends that connection only.
        session.send(errorResponse('FATAL', '08P01', `invalid message: ${(error as Error).message}`));
        socket.destroy();
      }
    });
  }

  /** The start-up, answered here: the backend itself was started once, with the server. */
  #startup(session: Session): void {
    for (;;) {
      const packet = session.reader.nextStartup();
      if (!packet) return;
      if (packet.kind === 'ssl' || packet.kind === 'gssenc') {
        session.send(Buffer.from('N')); // no encryption; the client goes on in clear or gives up
        continue;
      }
      if (packet.kind === 'cancel') {
        // A query runs to its end on the WebAssembly backend: nothing can interrupt it.
        session.socket.end();
        return;
      }
      if (packet.kind === 'unsupported') return this.#refuse(session, '08P01', `unsupported start-up packet (code ${packet.code})`);
      if (this.#sessions.size > this.#opts.maxConnections) {
        return this.#refuse(session, '53300', `sorry, too many clients already (EMBEDDED_DB_MAX_CONNECTIONS=${this.#opts.maxConnections})`);
      }
      const settings = new Map(this.#baseline);
      for (const [name, value] of [...packet.params, ...optionSettings(packet.params.get('options') ?? '')]) {
        if (NOT_SETTINGS.has(name)) continue;
        if (!this.#settingNames.has(name.toLowerCase())) return this.#refuse(session, '42704', `unrecognized configuration parameter "${name}"`);
        settings.set(name, value);
      }
      session.settings = settings;
      session.user = packet.params.get('user') ?? 'postgres';
      session.started = true;
      const reported: Record<string, string> = { ...this.#reported, session_authorization: session.user, application_name: settings.get('application_name') ?? '' };
      for (const [name, value] of settings) {
        if (name.toLowerCase() === 'timezone') reported.TimeZone = value;
        if (name.toLowerCase() === 'datestyle') reported.DateStyle = value;
      }
      // No password is asked: the server listens on loopback by default, and PGlite has no roles to check it against.
      session.send(authenticationOk());
      for (const [name, value] of Object.entries(reported)) session.send(parameterStatus(name, value));
      session.send(backendKeyData(session.id, (Math.random() * 2 ** 31) | 0));
      session.send(readyForQuery('I'));
      this.#log.debug({ conn: session.id, user: session.user, ...this.stats() }, 'client connected');
      return;
    }
  }

  #refuse(session: Session, code: string, text: string): void {
    session.send(errorResponse('FATAL', code, text));
    session.socket.end();
    this.#log.warn({ conn: session.id, code }, text);
  }

  #frames(session: Session): void {
    let queued = false;
    for (let frame = session.reader.next(); frame; frame = session.reader.next()) {
      if (frame.type === 'X') {
        session.socket.end(); // Terminate: never sent to the backend, which is everyone's
        return;
      }
      const rewritten = prefixNames(refuseCopyIn(frame as Frame), session.prefix);
      if (rewritten.parsed) session.statements.add(rewritten.parsed);
      if (rewritten.closed) session.statements.delete(rewritten.closed);
      session.partial.push(rewritten.frame.bytes);
      if (UNIT_END.has(frame.type)) {
        session.units.push(Buffer.concat(session.partial));
        session.partial = [];
        queued = true;
      }
    }
    if (queued) {
      if (session !== this.#holder && !this.#queue.includes(session)) this.#queue.push(session);
      this.#pump();
    }
  }

  #closed(session: Session): void {
    if (session.closed) return;
    session.closed = true;
    session.clearIdleTimer();
    this.#sessions.delete(session);
    const at = this.#queue.indexOf(session);
    if (at >= 0) this.#queue.splice(at, 1);
    for (const name of session.statements) this.#cleanups.push(`DEALLOCATE ${identifier(name)}`);
    if (this.#settingsOwner === session) this.#settingsOwner = undefined;
    this.#log.debug({ conn: session.id, ...this.stats() }, 'client disconnected');
    // A holder that goes away mid-transaction is rolled back by the pump, as a real server would.
    this.#pump();
  }

  /** The one place that talks to the backend, so its calls never overlap. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    this.#drain()
      .catch((error: unknown) => this.#log.error({ err: (error as Error).message }, 'backend call failed'))
      .finally(() => {
        this.#pumping = false;
        // Work that arrived while the last call finished.
        if (this.#workWaiting()) this.#pump();
      });
  }

  #workWaiting(): boolean {
    const h = this.#holder;
    if (h) return h.closed || h.kill !== undefined || h.units.length > 0 || (h.status === 'I' && this.#queue.length > 0);
    return this.#queue.length > 0 || this.#cleanups.length > 0;
  }

  async #drain(): Promise<void> {
    for (;;) {
      const holder = this.#holder;
      if (holder && (holder.closed || holder.kill)) {
        await this.#rollback(holder);
        if (holder.kill) {
          holder.send(holder.kill);
          holder.socket.end();
        }
        this.#holder = undefined;
        continue;
      }
      if (!holder) {
        if (this.#cleanups.length > 0) {
          const statements = this.#cleanups.splice(0);
          await this.#opts.backend.execProtocolRaw(Buffer.concat(statements.map(query)));
        }
        const next = this.#queue.shift();
        if (!next) return;
        this.#holder = next;
        await this.#handOver(next);
        continue;
      }
      const unit = holder.units.shift();
      if (!unit) {
        if (holder.status === 'I') {
          this.#holder = undefined;
          continue;
        }
        this.#armIdleTimer(holder);
        return; // holding the backend in a transaction: its next message (or the timer) resumes
      }
      holder.clearIdleTimer();
      let response: Uint8Array;
      try {
        response = await this.#opts.backend.execProtocolRaw(unit);
      } catch (error) {
        // PGlite refused the message itself (not an SQL error, which it answers in the protocol).
        this.#log.error({ conn: holder.id, err: (error as Error).message }, 'backend failed on a client message');
        holder.kill = errorResponse('FATAL', 'XX000', `embedded database failed: ${(error as Error).message}`);
        continue;
      }
      holder.status = scanResponse(response).status ?? 'busy';
      holder.send(response);
      if (holder.status === 'I') {
        // Idle: the backend goes to the next connection waiting, and this one queues again if it has more.
        this.#holder = undefined;
        if (holder.units.length > 0) this.#queue.push(holder);
      }
    }
  }

  #armIdleTimer(holder: Session): void {
    const limit = this.#opts.idleInTransactionMs;
    if (limit <= 0 || holder.idleTimer) return;
    holder.idleTimer = setTimeout(() => {
      holder.idleTimer = undefined;
      if (this.#holder !== holder || holder.units.length > 0 || holder.status === 'I') return;
      this.#log.warn({ conn: holder.id, limitMs: limit, waiting: this.#queue.length }, 'transaction idle too long: rolled back, connection ended');
      holder.kill = errorResponse('FATAL', '25P03', `terminating connection due to idle-in-transaction timeout (EMBEDDED_DB_IDLE_IN_TRANSACTION_MS=${limit}): the embedded database has one backend, shared by all connections`);
      this.#pump();
    }, limit);
    holder.idleTimer.unref();
  }

  /** Ends whatever the connection left open: an extended-protocol exchange (Sync), a transaction. */
  async #rollback(session: Session): Promise<void> {
    session.clearIdleTimer();
    if (session.status === 'I') return;
    const response = await this.#opts.backend.execProtocolRaw(Buffer.concat([sync(), query('ROLLBACK')]));
    session.status = 'I';
    const { status } = scanResponse(response);
    if (status !== 'I') this.#log.error({ conn: session.id, status }, 'rollback left the backend in a transaction');
  }

  /** Gives the backend the settings of its next holder, keeping those of the last one for its return. */
  async #handOver(next: Session): Promise<void> {
    if (this.#settingsOwner === next) return;
    const previous = this.#settingsOwner;
    if (previous && !previous.closed) previous.settings = await this.#readSettings();
    // Most hand-overs are between connections that changed nothing: then there is nothing to reset.
    if (previous && !previous.closed && sameSettings(previous.settings, next.settings)) {
      this.#settingsOwner = next;
      return;
    }
    const assignments = [...next.settings].map(([name, value]) => `set_config(${literal(name)}, ${literal(value)}, false)`);
    const sql = assignments.length > 0 ? `RESET ALL; SELECT ${assignments.join(', ')}` : 'RESET ALL';
    const { error } = scanResponse(await this.#opts.backend.execProtocolRaw(query(sql)));
    if (error) this.#log.warn({ conn: next.id, err: error.message }, 'could not restore the session settings of a connection');
    this.#settingsOwner = next;
  }

  async #readSettings(): Promise<Map<string, string>> {
    const response = await this.#opts.backend.execProtocolRaw(query("SELECT name, current_setting(name) FROM pg_settings WHERE source = 'session'"));
    return new Map(dataRows(response).map(([name, value]) => [name!, value ?? '']));
  }
}

function sameSettings(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a].every(([name, value]) => b.get(name) === value);
}

/** `-c name=value` and `--name=value` in the start-up `options` parameter (PGOPTIONS). */
function optionSettings(options: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const words = options.split(/\s+/).filter(Boolean);
  for (let i = 0; i < words.length; i++) {
    let word = words[i]!;
    if (word === '-c' && i + 1 < words.length) word = words[++i]!;
    else if (word.startsWith('-c')) word = word.slice(2);
    else if (word.startsWith('--')) word = word.slice(2);
    else continue;
    const eq = word.indexOf('=');
    if (eq > 0) out.push([word.slice(0, eq).replace(/-/g, '_'), word.slice(eq + 1)]);
  }
  return out;
}
