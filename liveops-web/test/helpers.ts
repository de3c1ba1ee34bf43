/**
 * What the browser tests and the bench share: the compiled service as a child process, and
 * Debian's Chromium driven by playwright-core (installed by `make setup`; nothing downloads a browser).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { spawnProgram, waitReady, type Child } from '@greenlane/common/testing-programs';

export const SERVICE = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
/** Screenshots for a person to look at; .cache/ is ignored by git. */
export const SCREENSHOTS = fileURLToPath(new URL('../../../.cache/screenshots/', import.meta.url));
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface RunningService {
  child: Child;
  base: string;
  /** SIGTERM, and resolves with the exit code. */
  stop(): Promise<number | string>;
}

/** The compiled service on 127.0.0.1:port, once /ready answers (it consumes the topic). */
export async function startService(port: number, env: Record<string, string>): Promise<RunningService> {
  const child = spawnProgram('liveops-web/dist/src/main.js', { LIVEOPS_WEB_ADDR: `127.0.0.1:${port}`, ...env });
  const base = `http://127.0.0.1:${port}`;
  await waitReady(child, `liveops-web at ${base}`, `${base}/ready`);
  return {
    child,
    base,
    stop: async () => {
      if (child.proc.exitCode === null) child.signal('SIGTERM');
      return child.exited;
    },
  };
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run make setup (it installs Debian's chromium) or set CHROMIUM_PATH`);
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // No GPU here; and no background traffic to any host (this machine has no network).
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
      // Every page keeps drawing, also the ones not in front (the bench opens many).
      '--disable-renderer-backgrounding', '--disable-background-timer-throttling', '--disable-backgrounding-occluded-windows'],
  });
}
