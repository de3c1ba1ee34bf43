/**
 * Which commands are on their way: seen with a status that is not final, not yet seen ending.
 * Bounded: past `capacity` the oldest is forgotten (a command whose end this tail never sees,
 * e.g. one that began before it joined and ended while it was away, cannot grow it for ever).
 */
import { FINAL_COMMAND_STATUSES, type CommandView } from './event.js';

export class CommandTracker {
  private readonly open = new Map<string, string>();
  /** Command status changes seen. */
  changes = 0;
  readonly ended: Record<string, number> = { SUCCEEDED: 0, FAILED: 0, TIMED_OUT: 0, EXPIRED: 0 };
  private readonly endedIds = new Set<string>();

  constructor(private readonly capacity = 10_000) {}

  see(e: CommandView): void {
    this.changes += 1;
    if (FINAL_COMMAND_STATUSES.has(e.status)) {
      this.open.delete(e.commandId);
      // A final status seen twice (a replayed event) counts once.
      if (!this.endedIds.has(e.commandId)) {
        this.endedIds.add(e.commandId);
        if (this.endedIds.size > this.capacity) this.endedIds.delete(this.endedIds.values().next().value as string);
        this.ended[e.status] = (this.ended[e.status] ?? 0) + 1;
      }
      return;
    }
    if (this.endedIds.has(e.commandId)) return;
    this.open.delete(e.commandId);
    this.open.set(e.commandId, e.status);
    if (this.open.size > this.capacity) this.open.delete(this.open.keys().next().value as string);
  }

  get inFlight(): number {
    return this.open.size;
  }
}
