/**
 * Real certificates and keys for the TLS and JWT tests, made by scripts/certs.mjs (openssl) in a
 * temporary directory, and a small grpc-js server playing the ingestion's side that records who
 * each stream is: its connection's client certificate CN and its bearer token.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { BookingStatus, FleetServiceService, type BookingResponse, type CarStatus } from '@greenlane/common/gen/fleet/fleet';

const CERTS = fileURLToPath(new URL('../../../scripts/certs.mjs', import.meta.url));

export interface CertDir {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  cars: string;
  jwtKey: string;
  jwks: string;
  remove(): void;
}

/** A fresh development CA with the server's certificate, one client certificate per car, a JWT key. */
export function makeCerts(carIds: readonly string[]): CertDir {
  const dir = mkdtempSync(join(tmpdir(), 'sim-certs-'));
  execFileSync(process.execPath, [CERTS, '--out', dir, '--car-ids', carIds.join(',')], { stdio: 'pipe' });
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server-key.pem'),
    cars: join(dir, 'cars'),
    jwtKey: join(dir, 'jwt-signing-key.pem'),
    jwks: join(dir, 'jwks.json'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function serverCredentials(certs: CertDir, options: { clientCa?: string } = {}): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(
    options.clientCa === undefined ? null : readFileSync(options.clientCa),
    [{ cert_chain: readFileSync(certs.serverCert), private_key: readFileSync(certs.serverKey) }],
    options.clientCa !== undefined,
  );
}

export interface SeenStream {
  /** The client certificate's subject CN on this stream's connection (mutual TLS), else undefined. */
  cn: string | undefined;
  /** The connection was TLS. */
  tls: boolean;
  metadata: grpc.Metadata;
  carIds: Set<string>;
  messages: number;
  call: grpc.ServerDuplexStream<CarStatus, BookingResponse>;
}

export const ack = (s: CarStatus): BookingResponse => ({
  bookingId: '', carId: s.carId, stationId: '', status: BookingStatus.BOOKING_UNKNOWN, message: '', timestamp: Date.now(), priceRate: 0, command: undefined,
});

/**
 * A fleet server that acknowledges every CarStatus and records each stream. `onStream` may refuse
 * it (return a status) or take it over (return 'handled').
 */
export async function recordingServer(
  credentials: grpc.ServerCredentials,
  onStream?: (stream: SeenStream) => Promise<{ code: grpc.status; details: string } | undefined> | { code: grpc.status; details: string } | undefined,
): Promise<{ port: number; streams: SeenStream[]; close(): void }> {
  const streams: SeenStream[] = [];
  const server = new grpc.Server();
  server.addService(FleetServiceService, {
    streamTelemetry: (call: grpc.ServerDuplexStream<CarStatus, BookingResponse>) => {
      const auth = call.getAuthContext();
      const cn = auth?.sslPeerCertificate?.subject?.CN;
      const seen: SeenStream = {
        cn: Array.isArray(cn) ? cn[0] : cn,
        tls: auth?.transportSecurityType === 'ssl',
        metadata: call.metadata,
        carIds: new Set(),
        messages: 0,
        call,
      };
      streams.push(seen);
      // Messages that arrive while the stream is being judged wait for the verdict, in order.
      const early: CarStatus[] = [];
      let verdict: 'open' | 'refused' | undefined;
      const take = (s: CarStatus) => {
        seen.carIds.add(s.carId);
        seen.messages += 1;
        call.write(ack(s));
      };
      call.on('data', (s: CarStatus) => (verdict === 'open' ? take(s) : verdict === undefined ? early.push(s) : undefined));
      call.on('end', () => call.end());
      call.on('error', () => {});
      void Promise.resolve(onStream?.(seen)).then((refusal) => {
        if (refusal) {
          verdict = 'refused';
          call.emit('error', { code: refusal.code, details: refusal.details, metadata: new grpc.Metadata() });
          return;
        }
        verdict = 'open';
        for (const s of early.splice(0)) take(s);
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (e, p) => (e ? reject(e) : resolve(p))));
  return { port, streams, close: () => server.forceShutdown() };
}
