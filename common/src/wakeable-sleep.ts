/**
 * The pause a polling loop takes between rounds, which shutdown ends at once: a loop that sleeps
 * seconds between polls still stops promptly.
 */
export class WakeableSleep {
  private wakeCurrent: (() => void) | undefined;
  private closed = false;

  /** Resolves after `ms`, or when `wake()` or `close()` is called first; at once after `close()`. */
  sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wakeCurrent === done) this.wakeCurrent = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeCurrent = done;
    });
  }

  /** Ends the pause in progress, if any. */
  wake(): void {
    this.wakeCurrent?.();
  }

  /**
   * Ends the pause in progress and makes every later one end at once: a loop stopped while it was
   * busy, not sleeping, does not then sleep a whole round before it sees it should stop.
   */
  close(): void {
    this.closed = true;
    this.wake();
  }
}
