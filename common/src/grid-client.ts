/**
 * Client of the grid mock's time-of-use prices (CONTRACTS.md, "Mock grid"). One undici Pool per
 * grid origin keeps connections alive between calls, so pricing thousands of samples costs no TCP
 * or HTTP set-up per request. Every call is bounded by `timeoutMs` (default 5 s) from start to
 * the last byte of the body; a non-2xx answer, a timeout or a malformed body throws a GridError
 * that says which of them happened.
 */
import { Pool } from 'undici';

export interface GridPrice {
  /** The instant priced, unix epoch ms (the `at` asked for). */
  timestamp: number;
  price_per_kwh: number;
  grid_load: 'High' | 'Medium' | 'Low';
  energy_source: 'Solar' | 'Wind' | 'Grid';
  /** The local hour (0–23) of `timestamp` in the grid's time zone. */
  hour: number;
}

export interface GridClientOptions {
  /** e.g. `http://127.0.0.1:8081` (GRID_URL); a path prefix is kept. */
  baseUrl: string;
  /** Whole-request limit; default 5000 ms. */
  timeoutMs?: number;
  /** Keep-alive connections to the grid; default 8. */
  connections?: number;
}

export interface GridClient {
  /** The price at `atMs` (epoch ms). */
  price(atMs: number): Promise<GridPrice>;
  /** true when `GET /health` answers 2xx within the timeout; never throws. */
  health(): Promise<boolean>;
  close(): Promise<void>;
}

export class GridError extends Error {
  constructor(
    message: string,
    /** HTTP status when the grid answered; undefined for timeouts and connection failures. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GridError';
  }
}

const LOADS = new Set(['High', 'Medium', 'Low']);
const SOURCES = new Set(['Solar', 'Wind', 'Grid']);

function parsePrice(body: unknown, url: string): GridPrice {
  const b = body as Partial<GridPrice> | null;
  if (
    b === null ||
    typeof b !== 'object' ||
    typeof b.timestamp !== 'number' ||
    typeof b.price_per_kwh !== 'number' ||
    !Number.isFinite(b.price_per_kwh) ||
    typeof b.hour !== 'number' ||
    !LOADS.has(b.grid_load as string) ||
    !SOURCES.has(b.energy_source as string)
  ) {
    throw new GridError(`grid ${url} answered a body that is not a price: ${JSON.stringify(body).slice(0, 200)}`);
  }
  return {
    timestamp: b.timestamp,
    price_per_kwh: b.price_per_kwh,
    grid_load: b.grid_load as GridPrice['grid_load'],
    energy_source: b.energy_source as GridPrice['energy_source'],
    hour: b.hour,
  };
}

export function createGridClient(options: GridClientOptions): GridClient {
  const timeoutMs = options.timeoutMs ?? 5000;
  const base = new URL(options.baseUrl);
  const prefix = base.pathname.replace(/\/+$/, '');
  const pool = new Pool(base.origin, {
    connections: options.connections ?? 8,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connectTimeout: timeoutMs,
  });

  async function get(path: string): Promise<{ status: number; body: unknown }> {
    const url = `${base.origin}${prefix}${path}`;
    try {
      const response = await pool.request({
        method: 'GET',
        path: `${prefix}${path}`,
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.body.text();
      if (response.statusCode < 200 || response.statusCode > 299) {
        throw new GridError(`grid ${url} answered HTTP ${response.statusCode}: ${text.slice(0, 200)}`, response.statusCode);
      }
      try {
        return { status: response.statusCode, body: JSON.parse(text) };
      } catch {
        throw new GridError(`grid ${url} answered a body that is not JSON: ${text.slice(0, 200)}`, response.statusCode);
      }
    } catch (error) {
      if (error instanceof GridError) throw error;
      const e = error as Error & { code?: string };
      const timedOut =
        e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT' || e.code === 'UND_ERR_CONNECT_TIMEOUT';
      const what = timedOut ? `timed out after ${timeoutMs} ms` : `failed: ${e.code ?? e.name}: ${e.message}`;
      throw new GridError(`grid ${url} ${what}`, undefined, { cause: error });
    }
  }

  return {
    async price(atMs: number): Promise<GridPrice> {
      if (!Number.isFinite(atMs)) throw new GridError(`cannot price instant ${String(atMs)}: not a number of epoch ms`);
      const { body } = await get(`/api/pricing?at=${Math.trunc(atMs)}`);
      return parsePrice(body, `${base.origin}${prefix}/api/pricing`);
    },
    async health(): Promise<boolean> {
      try {
        await get('/health');
        return true;
      } catch {
        return false;
      }
    },
    async close(): Promise<void> {
      await pool.close();
    },
  };
}
