/**
 * A bare gRPC server speaking the fleet contract that acknowledges every CarStatus at once
 * (BOOKING_UNKNOWN), with no auth and no I/O: it measures what the simulator alone can generate.
 * With a certificate it serves TLS (and, with a client CA, requires client certificates), so a
 * bench compares the ingestion's TLS with the transport's own, like with like.
 *   node simulator/dist/src/echo-server.js [--addr HOST:PORT] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { BookingStatus, FleetServiceService, type BookingResponse, type CarStatus, type FleetServiceServer } from '@greenlane/common/gen/fleet/fleet';
import { ConfigError, createLogger, envHostPort, exitOnStartupError, onShutdown, parseFlags } from '@greenlane/common';

export interface EchoServer {
  port: number;
  /** Messages acknowledged so far. */
  acked(): number;
  /** Streams opened so far. */
  streams(): number;
  close(): Promise<void>;
}

export interface EchoTls {
  /** PEM certificate chain and private key of the server. */
  cert: Buffer;
  key: Buffer;
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  clientCa?: Buffer;
}

export async function startEchoServer(addr: string, tls?: EchoTls): Promise<EchoServer> {
  let acked = 0;
  let streams = 0;
  const service: FleetServiceServer = {
    streamTelemetry(call: grpc.ServerDuplexStream<CarStatus, BookingResponse>) {
      streams += 1;
      call.on('data', (status: CarStatus) => {
        acked += 1;
        call.write({
          bookingId: '',
          carId: status.carId,
          stationId: '',
          status: BookingStatus.BOOKING_UNKNOWN,
          message: '',
          timestamp: Date.now(),
          priceRate: 0,
          command: undefined,
        });
      });
      call.on('end', () => call.end());
      // A client that goes away mid-stream is normal here.
      call.on('error', () => {});
    },
  };
  const server = new grpc.Server();
  server.addService(FleetServiceService, service);
  const credentials =
    tls === undefined
      ? grpc.ServerCredentials.createInsecure()
      : grpc.ServerCredentials.createSsl(tls.clientCa ?? null, [{ cert_chain: tls.cert, private_key: tls.key }], tls.clientCa !== undefined);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(addr, credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return {
    port,
    acked: () => acked,
    streams: () => streams,
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

/** A PEM file named by its flag or variable; unreadable = ConfigError naming it. */
function pemFile(name: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(name, path, `a readable PEM file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

function pick(flags: Record<string, unknown>, flag: string, variable: string): { name: string; value: string | undefined } {
  const fromFlag = flags[flag];
  if (typeof fromFlag === 'string' && fromFlag !== '') return { name: `--${flag}`, value: fromFlag };
  const fromEnv = process.env[variable];
  return { name: variable, value: fromEnv === undefined || fromEnv === '' ? undefined : fromEnv };
}

function tlsFromFlags(flags: Record<string, unknown>): EchoTls | undefined {
  const cert = pick(flags, 'tls-cert', 'ECHO_TLS_CERT');
  const key = pick(flags, 'tls-key', 'ECHO_TLS_KEY');
  const clientCa = pick(flags, 'tls-client-ca', 'ECHO_TLS_CLIENT_CA');
  if ((cert.value === undefined) !== (key.value === undefined)) {
    const set = cert.value !== undefined ? cert : key;
    throw new ConfigError(set.name, set.value!, 'a certificate and a key together (--tls-cert and --tls-key)');
  }
  if (cert.value === undefined) {
    if (clientCa.value !== undefined) throw new ConfigError(clientCa.name, clientCa.value, 'a client CA with --tls-cert and --tls-key');
    return undefined;
  }
  return {
    cert: pemFile(cert.name, cert.value),
    key: pemFile(key.name, key.value!),
    ...(clientCa.value !== undefined ? { clientCa: pemFile(clientCa.name, clientCa.value) } : {}),
  };
}

async function main(): Promise<void> {
  const log = createLogger('echo-server');
  const flags = parseFlags(process.argv.slice(2), {
    addr: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-client-ca': { type: 'string' },
  }, {
    summary: 'Bare gRPC echo of the fleet contract: acknowledges every CarStatus at once (benchmarks the simulator alone).',
    usage: 'npm run echo -w simulator -- [--addr HOST:PORT] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]',
    options: [
      ['--addr HOST:PORT', 'listen address (overrides ECHO_ADDR)'],
      ['--tls-cert FILE, --tls-key FILE', 'serve TLS with this certificate (PEM chain) and key [ECHO_TLS_CERT, ECHO_TLS_KEY; unset = plaintext]'],
      ['--tls-client-ca FILE', 'mutual TLS: require a client certificate signed by this CA [ECHO_TLS_CLIENT_CA]'],
    ],
    environment: [
      ['ECHO_ADDR', 'listen address [127.0.0.1:50052]'],
      ['ECHO_TLS_CERT, ECHO_TLS_KEY, ECHO_TLS_CLIENT_CA', 'as the flags'],
      ['LOG_LEVEL', 'log level [info]'],
    ],
  });
  try {
    const addr = envHostPort({ ECHO_ADDR: (flags.addr as string | undefined) ?? process.env.ECHO_ADDR }, 'ECHO_ADDR', '127.0.0.1:50052');
    const tls = tlsFromFlags(flags);
    const server = await startEchoServer(addr, tls);
    log.info({ addr, port: server.port, tls: tls === undefined ? 'off' : tls.clientCa ? 'mutual' : 'server' }, 'echo server listening');
    onShutdown(log, async () => {
      log.info({ acked: server.acked(), streams: server.streams() }, 'acknowledged');
      await server.close();
    });
  } catch (error) {
    exitOnStartupError(log, error);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
