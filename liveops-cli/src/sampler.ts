/**
 * Keeps the screen readable whatever the event rate: ordinary lines pass through a token bucket
 * of `maxLinesPerSec` (so at low rates every line shows, at high rates an even sample does),
 * critical alerts always pass. What was held back is counted, so the screen can say so.
 */
export class LineSampler {
  private tokens: number;
  private last: number;
  /** Lines held back since the last takeHidden(). */
  private hidden = 0;

  constructor(
    readonly maxLinesPerSec: number,
    now: number,
  ) {
    this.tokens = maxLinesPerSec;
    this.last = now;
  }

  /** Whether to show this line now; a critical alert is always shown and spends no budget. */
  admit(now: number, critical: boolean): boolean {
    if (critical) return true;
    if (now > this.last) {
      this.tokens = Math.min(this.maxLinesPerSec, this.tokens + ((now - this.last) * this.maxLinesPerSec) / 1000);
      this.last = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.hidden += 1;
    return false;
  }

  /** A line that was admitted but could not be written (the terminal was behind) counts as hidden too. */
  dropped(): void {
    this.hidden += 1;
  }

  takeHidden(): number {
    const hidden = this.hidden;
    this.hidden = 0;
    return hidden;
  }
}
