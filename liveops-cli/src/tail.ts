/**
 * One event's way through the CLI, in a straight line: parse → count → filter → (JSON out) or
 * sample → render → screen. Pure of Kafka, so tests and benches drive it directly.
 */
import { isPresenceChange, parseEvent, unreadKind } from './event.js';
import { matches, type EventFilter } from './filter.js';
import { eventLine, formatDuration, isCritical, sampledNote, statusLine, type RenderOptions } from './render.js';
import { LineSampler } from './sampler.js';
import { Screen, type ScreenOutput } from './screen.js';
import { TailStats, summaryText } from './stats.js';

export interface TailOptions {
  filter: EventFilter;
  render: RenderOptions;
  /** One raw JSON event per line, unsampled (for piping). */
  json: boolean;
  maxLinesPerSec: number;
  /** A terminal: pinned status line; otherwise sampling is said in the flow of lines. */
  tty: boolean;
}

export class LiveTail {
  readonly stats: TailStats;
  private readonly sampler: LineSampler;
  private readonly screen: Screen;
  private lastNoteAt: number;

  constructor(
    private readonly options: TailOptions,
    private readonly out: ScreenOutput,
    now: number,
  ) {
    this.stats = new TailStats(now);
    this.sampler = new LineSampler(options.maxLinesPerSec, now);
    this.screen = new Screen(out, options.tty && !options.json);
    this.lastNoteAt = now;
  }

  /** Handles one Kafka value. In JSON mode returns false when the output wants draining. */
  handle(value: string, now: number): boolean {
    const event = parseEvent(value);
    if (event === undefined) {
      // An event type this CLI does not know (a newer producer) is skipped and counted, never shown, never fatal.
      this.stats.seeMalformed(unreadKind(value) === 'other-type');
      return true;
    }
    this.stats.see(event);
    if (!matches(event, this.options.filter)) return true;
    this.stats.matched += 1;
    if (this.options.json) {
      this.stats.shownLine();
      return this.out.write(value.includes('\n') ? JSON.stringify(JSON.parse(value)) + '\n' : value + '\n');
    }
    // Commands, alerts and presence changes are rare and each one matters to someone: never sampled out.
    const mustShow = isCritical(event) || event.kind === 'command' || event.kind === 'alert' || isPresenceChange(event);
    if (!this.sampler.admit(now, mustShow)) {
      this.stats.hiddenLine();
      return true;
    }
    if (this.screen.push(eventLine(event, this.options.render), mustShow)) {
      this.stats.shownLine();
    } else {
      this.sampler.dropped();
      this.stats.hiddenLine();
    }
    return true;
  }

  /** A line of the CLI's own (connection notices), shown whatever the sampling. */
  notice(text: string): void {
    this.screen.push(text, true);
  }

  /** Writes what is queued; call often (every ~100 ms). */
  flush(): void {
    this.screen.flush();
  }

  /** Once a second: rates, the status line, and the note about sampled-out events. */
  tick(now: number): void {
    const rate = this.stats.tick(now);
    const hidden = this.sampler.takeHidden();
    if (!this.options.json && !this.options.tty && hidden > 0) {
      this.screen.push(sampledNote(hidden, (now - this.lastNoteAt) / 1000, this.options.maxLinesPerSec, this.options.render.color), true);
    }
    this.lastNoteAt = now;
    this.screen.setStatus(
      statusLine(
        {
          eventsPerSec: rate.events,
          carsSeen: this.stats.carsSeen,
          alerts: this.stats.alerts.activeAlerts,
          ...(this.stats.alerts.presenceChanges > 0 ? { carsOffline: this.stats.alerts.carsOffline } : {}),
          ...(this.stats.commands.changes > 0 ? { commandsInFlight: this.stats.commands.inFlight } : {}),
          uptimeMs: now - this.stats.startedAt,
          shownPerSec: rate.shown,
          sampledPerSec: rate.hidden,
        },
        this.options.render.color,
      ),
    );
    this.screen.flush();
  }

  close(): void {
    this.screen.close();
  }

  summary(now: number): string {
    return summaryText(this.stats, now, formatDuration);
  }
}
