/**
 * Token buckets keyed by a name (a car, a source address, an operator's token): each key may spend
 * `ratePerSecond` on average and `burst` at once. Keys idle long enough to have a full bucket are
 * forgotten on the next sweep, so memory follows the active keys only.
 */
export interface RateLimit {
  ratePerSecond: number;
  burst: number;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep = 0;

  /** ratePerSecond 0 means unlimited: take() always succeeds. */
  constructor(
    readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.limit.ratePerSecond > 0;
  }

  take(key: string, cost = 1): TakeResult {
    if (!this.enabled) return { ok: true };
    const now = this.now();
    this.sweep(now);
    const { ratePerSecond, burst } = this.limit;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: burst, at: now };
      this.buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * ratePerSecond) / 1000);
      bucket.at = now;
    }
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil(((cost - bucket.tokens) * 1000) / ratePerSecond) };
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    // A bucket refills completely in burst / rate seconds; past that it equals a new one.
    const fullAfterMs = (this.limit.burst * 1000) / this.limit.ratePerSecond;
    if (now - this.lastSweep < Math.max(fullAfterMs, 10_000)) return;
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) if (now - bucket.at >= fullAfterMs) this.buckets.delete(key);
  }
}
