import type { Logger } from 'pino';
import type { SimulatorOptions } from '../options.js';

export async function runRealistic(_options: SimulatorOptions, log: Logger, _stop: Promise<void>): Promise<void> {
  log.error('realistic mode is not implemented yet');
  process.exitCode = 2;
}
