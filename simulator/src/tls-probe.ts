/**
 * One connection made before the cars start, to tell a TLS mistake from a server that is away.
 *
 * grpc-js reports every failed connection as UNAVAILABLE and retries, so a car trusting the wrong
 * CA, or refused its client certificate, would reconnect for the whole run and say why only in
 * its summary (or, for a refused client certificate, only "Failed to connect"). A bare TLS (or
 * TCP) connection says exactly what went wrong, at once. A server that does not answer at all is
 * no mistake of ours: the probe then says nothing, and the cars' own reconnects wait for it.
 *
 * A server speaking HTTP/2 sends its SETTINGS frame as soon as the connection is up, so the first
 * bytes received mean it accepted us (with TLS 1.3 the server judges the client certificate after
 * the client's handshake is done, and a refusal comes later as an alert or a closed connection).
 */
import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, checkServerIdentity, type TLSSocket } from 'node:tls';
import type { ChannelTls } from './tls.js';

export type ProbeResult =
  /** The server accepted the connection (and, with TLS, each side the other's certificate). */
  | { outcome: 'ok' }
  /** Connecting cannot work as configured: the run should stop with this reason. */
  | { outcome: 'refused'; reason: string; code?: string }
  /** Nothing to conclude (not reachable yet, or no answer in time); the cars' reconnects take over. */
  | { outcome: 'unknown'; reason: string; code?: string }
  /** Plaintext: the server behaves like a TLS server; worth a warning, not a stop. */
  | { outcome: 'suspect'; reason: string };

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** An empty SETTINGS frame: the rest of a client's HTTP/2 preface. */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

/** Errors of the network, not of TLS: the server is not there (yet). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT']);

/** The server's certificate is not signed (directly or through its chain) by the CA we trust. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
]);

export interface ProbeTarget {
  host: string;
  port: number;
}

export function splitTarget(target: string): ProbeTarget {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
  if (!match) throw new Error(`not a HOST:PORT target: ${target}`);
  return { host: match[1]!, port: Number(match[2]) };
}

/** The words for a TLS failure, naming the flag that would fix it. */
function explain(error: NodeJS.ErrnoException, tls: ChannelTls, caFile: string, host: string): string {
  const code = error.code ?? '';
  const name = tls.serverName ?? host;
  if (UNTRUSTED.has(code)) return `the server's certificate is not signed by the CA of --tls-ca ${caFile} (${error.message})`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `the server's certificate is not for ${name} (${error.message}); --tls-server-name NAME checks another name`;
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `the server's certificate is not valid now (${error.message})`;
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') return `the server does not speak TLS (${code}): leave out --tls-ca to connect in plaintext`;
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') return 'the server requires a client certificate (mutual TLS): give --cert and --key, or --cert-dir';
  if (/ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED)/.test(code)) {
    return `the server refused the client certificate ${tls.cert?.certFile ?? ''} (${code}): it must be signed by a CA in the server's client CA`;
  }
  return `${code || 'TLS error'}: ${error.message.trim()}`;
}

export function probeTls(target: ProbeTarget, tls: ChannelTls, caFile: string, timeoutMs = 5_000): Promise<ProbeResult> {
  const override = tls.serverName;
  const socket: TLSSocket = tlsConnect({
    host: target.host,
    port: target.port,
    ca: tls.ca,
    ...(tls.cert ? { cert: tls.cert.cert, key: tls.cert.key } : {}),
    ALPNProtocols: ['h2'],
    // As grpc-js does: the override is both the SNI and the name checked; an IP address is sent as no SNI (RFC 6066).
    ...(override !== undefined ? { servername: override, checkServerIdentity: (_host: string, cert) => checkServerIdentity(override, cert) } : isIP(target.host) ? {} : { servername: target.host }),
  });
  let handshaken = false;
  return settle(socket, timeoutMs, {
    onConnected: () => {
      handshaken = true;
      socket.write(Buffer.concat([HTTP2_PREFACE, EMPTY_SETTINGS]));
    },
    onError: (error) =>
      UNREACHABLE.has(error.code ?? '') && !handshaken
        ? { outcome: 'unknown', reason: `${target.host}:${target.port} not reachable (${error.code})`, code: error.code! }
        : { outcome: 'refused', reason: explain(error, tls, caFile, target.host), ...(error.code ? { code: error.code } : {}) },
    onClosedEarly: () =>
      handshaken
        ? { outcome: 'refused', reason: `the server closed the connection after the TLS handshake: it refused the client certificate${tls.cert ? ` ${tls.cert.certFile}` : ' it asked for (give --cert and --key, or --cert-dir)'}` }
        : { outcome: 'refused', reason: 'the server closed the connection during the TLS handshake' },
  }, 'secureConnect');
}

/**
 * The same for plaintext: a server that closes the connection on an HTTP/2 preface without a
 * word is not a plaintext gRPC server; a TLS one does exactly that. Only ever a hint ('suspect').
 */
export function probePlaintext(target: ProbeTarget, timeoutMs = 2_000): Promise<ProbeResult> {
  const socket = tcpConnect({ host: target.host, port: target.port });
  return settle(socket, timeoutMs, {
    onConnected: () => socket.write(Buffer.concat([HTTP2_PREFACE, EMPTY_SETTINGS])),
    onError: (error) => ({ outcome: 'unknown', reason: `${target.host}:${target.port}: ${error.code ?? error.message}`, ...(error.code ? { code: error.code } : {}) }),
    onClosedEarly: () => ({ outcome: 'suspect', reason: 'the server closed the connection without an HTTP/2 answer: if it serves TLS, give --tls-ca' }),
  }, 'connect');
}

interface Handlers {
  onConnected(): void;
  onError(error: NodeJS.ErrnoException): ProbeResult;
  onClosedEarly(): ProbeResult;
}

function settle(socket: Socket, timeoutMs: number, handlers: Handlers, connectedEvent: 'connect' | 'secureConnect'): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (result: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ outcome: 'unknown', reason: `no answer within ${timeoutMs} ms` }), timeoutMs);
    socket.once(connectedEvent, () => handlers.onConnected());
    socket.once('data', () => finish({ outcome: 'ok' }));
    socket.on('error', (error: NodeJS.ErrnoException) => finish(handlers.onError(error)));
    // 'close' may come just before the 'error' that explains it: give the error a moment to win.
    socket.once('close', () => setTimeout(() => finish(handlers.onClosedEarly()), 20));
  });
}
