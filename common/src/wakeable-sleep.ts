/**
 * A pause a polling loop takes between rounds, which `wake()` ends at once: a loop that sleeps
 * seconds between polls still stops promptly on shutdown.
 */
export class WakeableSleep {
  private wakeCurrent: (() => void) | undefined;

  /** Resolves after `ms`, or when `wake()` is called first. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        if (self.wakeCurrent === done) self.wakeCurrent = undefined;
        resolve();
      }
      this.wakeCurrent = done;
    });
  }

  /** Ends the pause in progress, if any. */
  wake(): void {
    this.wakeCurrent?.();
  }
}
