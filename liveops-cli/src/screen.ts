/**
 * Writes lines to the terminal in one write per flush, keeping a status line pinned below them on
 * a terminal. When the terminal cannot keep up (the stream needs draining), ordinary lines are
 * dropped and counted, critical ones wait: the CLI never queues without bound behind the screen.
 */
export interface ScreenOutput {
  write(chunk: string): boolean;
  readonly writableNeedDrain?: boolean;
}

const CLEAR_LINE = '\r\x1b[2K';

export class Screen {
  private lines: string[] = [];
  private status = '';
  private statusShown = false;

  constructor(
    private readonly out: ScreenOutput,
    /** Pin a status line below the output (terminals only). */
    private readonly withStatus: boolean,
    /** Ordinary lines held between flushes at most (the sampler keeps them far below this). */
    private readonly maxPending = 1_000,
  ) {}

  /** Queues a line; false when an ordinary line was dropped because the terminal is behind. */
  push(line: string, mustShow: boolean): boolean {
    if (!mustShow && (this.out.writableNeedDrain === true || this.lines.length >= this.maxPending)) return false;
    this.lines.push(line);
    return true;
  }

  setStatus(text: string): void {
    this.status = text;
  }

  flush(): void {
    if (this.lines.length === 0 && !(this.withStatus && this.status !== '')) return;
    let chunk = this.withStatus && this.statusShown ? CLEAR_LINE : '';
    if (this.lines.length > 0) chunk += this.lines.join('\n') + '\n';
    this.lines = [];
    if (this.withStatus && this.status !== '') {
      chunk += this.status;
      this.statusShown = true;
    }
    this.out.write(chunk);
  }

  /** Final flush; the status line is removed so the summary starts on a clean line. */
  close(): void {
    this.flush();
    if (this.withStatus && this.statusShown) this.out.write(CLEAR_LINE);
    this.statusShown = false;
  }
}
