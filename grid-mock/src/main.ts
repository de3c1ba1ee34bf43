#!/usr/bin/env node
import { ConfigError, createLogger, envHostPort, envString, exitOnStartupError, onShutdown, parseFlags } from '@greenlane/common';
import { localClock } from './curve.js';
import { createGridServer } from './server.js';

const log = createLogger('grid-mock');

parseFlags(process.argv.slice(2), {}, {
  summary: 'GreenLane grid mock: time-of-use electricity prices over HTTP (GET /api/pricing?at=<epoch ms>, GET /health).',
  usage: 'npm start -w grid-mock',
  options: [],
  environment: [
    ['GRID_ADDR', 'listen address host:port [0.0.0.0:8081]'],
    ['GRID_TZ', 'IANA time zone of the tariff clock [UTC]'],
    ['LOG_LEVEL', 'pino level [info]'],
  ],
});

try {
  const addr = envHostPort(process.env, 'GRID_ADDR', '0.0.0.0:8081');
  const timeZone = envString(process.env, 'GRID_TZ', 'UTC');
  try {
    localClock(0, timeZone);
  } catch {
    throw new ConfigError('GRID_TZ', timeZone, 'an IANA time zone such as UTC or Europe/Berlin');
  }
  const separator = addr.lastIndexOf(':');
  const host = addr.slice(0, separator).replace(/^\[|\]$/g, '');
  const port = Number(addr.slice(separator + 1));
  const server = createGridServer({ timeZone, log });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  log.info({ addr, timeZone }, 'grid mock listening');
  onShutdown(log, async () => {
    server.closeIdleConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
} catch (error) {
  exitOnStartupError(log, error);
}
