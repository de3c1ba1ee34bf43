/**
 * A bare gRPC server speaking the fleet contract that acknowledges every CarStatus at once
 * (BOOKING_UNKNOWN), with no auth and no I/O: it measures what the simulator alone can generate.
 *   node simulator/dist/src/echo-server.js [--addr HOST:PORT]   (env ECHO_ADDR, default 127.0.0.1:50052)
 */
import * as grpc from '@grpc/grpc-js';
import { pathToFileURL } from 'node:url';
import { BookingStatus, FleetServiceService, type BookingResponse, type CarStatus, type FleetServiceServer } from '@greenlane/common/gen/fleet/fleet';
import { createLogger, envHostPort, exitOnStartupError, onShutdown, parseFlags } from '@greenlane/common';

export interface EchoServer {
  port: number;
  /** Messages acknowledged so far. */
  acked(): number;
  close(): Promise<void>;
}

export async function startEchoServer(addr: string): Promise<EchoServer> {
  let acked = 0;
  const service: FleetServiceServer = {
    streamTelemetry(call: grpc.ServerDuplexStream<CarStatus, BookingResponse>) {
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
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return {
    port,
    acked: () => acked,
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

async function main(): Promise<void> {
  const log = createLogger('echo-server');
  const flags = parseFlags(process.argv.slice(2), { addr: { type: 'string' } }, {
    summary: 'Bare gRPC echo of the fleet contract: acknowledges every CarStatus at once (benchmarks the simulator alone).',
    usage: 'npm run echo -w simulator -- [--addr HOST:PORT]',
    options: [['--addr HOST:PORT', 'listen address (overrides ECHO_ADDR)']],
    environment: [['ECHO_ADDR', 'listen address [127.0.0.1:50052]'], ['LOG_LEVEL', 'log level [info]']],
  });
  try {
    const addr = envHostPort({ ECHO_ADDR: (flags.addr as string | undefined) ?? process.env.ECHO_ADDR }, 'ECHO_ADDR', '127.0.0.1:50052');
    const server = await startEchoServer(addr);
    log.info({ addr, port: server.port }, 'echo server listening');
    onShutdown(log, async () => {
      log.info({ acked: server.acked() }, 'acknowledged');
      await server.close();
    });
  } catch (error) {
    exitOnStartupError(log, error);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
