/**
 * The ingestion service: `npm start -w ingestion`. Configuration comes from the environment
 * (--help lists it); SIGINT/SIGTERM drain and exit 0.
 */
import { createLogger, exitOnStartupError, onShutdown, parseFlags } from '@greenlane/common';
import { routeGrpcLogs } from '@greenlane/common/grpc-logging';
import { BOOKING_ENV } from './bookings/index.js';
import { ENVIRONMENT, loadConfig } from './config.js';
import { startIngestion } from './server.js';

parseFlags(process.argv.slice(2), {}, {
  summary: 'GreenLane ingestion: authenticated gRPC telemetry streams into Redis and Kafka, acknowledged once durable.',
  usage: 'npm start -w ingestion -- [--help]',
  options: [],
  environment: [...ENVIRONMENT, ...BOOKING_ENV],
});

const log = createLogger('ingestion');
// grpc-js's own diagnostics may quote what a car sent (a refused authorization value): through pino.
routeGrpcLogs(log);
try {
  const cfg = loadConfig(process.env);
  const ingestion = await startIngestion(cfg, log);
  onShutdown(log, () => ingestion.stop());
} catch (error) {
  exitOnStartupError(log, error);
}
