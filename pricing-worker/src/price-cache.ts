/**
 * Grid prices by 15-minute period (the grid mock's price period: constant within
 * `floor(ms / 900000)`), so one fetch prices every sample of a period exactly. Concurrent requests
 * for the same period share one in-flight fetch; a failed fetch is forgotten so the next request
 * tries again. Bounded: the oldest periods are evicted first (Map keeps insertion order).
 */
import type { GridClient } from '@greenlane/common/grid-client';

export const PERIOD_MS = 15 * 60 * 1000;

export interface PriceCacheStats {
  hits: number;
  misses: number;
}

export interface PriceCache {
  /** The price per kWh of the period holding `atMs`. */
  priceAt(atMs: number): Promise<number>;
  /** Prices for many instants, one fetch per distinct uncached period. */
  pricesFor(times: Float64Array): Promise<Float64Array>;
  readonly stats: PriceCacheStats;
  readonly size: number;
}

export function periodOf(atMs: number): number {
  return Math.floor(atMs / PERIOD_MS);
}

export function createPriceCache(grid: Pick<GridClient, 'price'>, opts: { maxPeriods?: number; onHit?: () => void; onMiss?: () => void } = {}): PriceCache {
  const maxPeriods = opts.maxPeriods ?? 100_000;
  const entries = new Map<number, Promise<number>>();
  const stats: PriceCacheStats = { hits: 0, misses: 0 };

  function forPeriod(period: number): Promise<number> {
    const cached = entries.get(period);
    if (cached !== undefined) {
      stats.hits++;
      opts.onHit?.();
      return cached;
    }
    stats.misses++;
    opts.onMiss?.();
    const fetching = grid.price(period * PERIOD_MS).then((p) => p.price_per_kwh);
    entries.set(period, fetching);
    fetching.catch(() => {
      if (entries.get(period) === fetching) entries.delete(period);
    });
    if (entries.size > maxPeriods) entries.delete(entries.keys().next().value as number);
    return fetching;
  }

  return {
    stats,
    get size() {
      return entries.size;
    },
    priceAt: (atMs) => forPeriod(periodOf(atMs)),
    async pricesFor(times) {
      const byPeriod = new Map<number, Promise<number>>();
      for (const t of times) {
        const period = periodOf(t);
        if (!byPeriod.has(period)) byPeriod.set(period, forPeriod(period));
      }
      const resolved = new Map<number, number>();
      await Promise.all([...byPeriod].map(async ([period, price]) => resolved.set(period, await price)));
      const prices = new Float64Array(times.length);
      for (let i = 0; i < times.length; i++) prices[i] = resolved.get(periodOf(times[i]!))!;
      return prices;
    },
  };
}
