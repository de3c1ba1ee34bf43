/**
 * The commands a car has answered, by id, with the answer it gave: a repeat (redelivered after a
 * reconnect) is answered the same and never carried out again. Bounded: the oldest ids go first
 * once `capacity` is reached (a command is redelivered only while it is in flight, so the last
 * thousand are plenty).
 */
import type { CommandResult } from '@greenlane/common/gen/fleet/fleet';

export const EXECUTED_CAPACITY = 1_000;

export class AnsweredCommands {
  private readonly answers = new Map<string, CommandResult>();

  constructor(readonly capacity = EXECUTED_CAPACITY) {}

  get size(): number {
    return this.answers.size;
  }

  get(commandId: string): CommandResult | undefined {
    return this.answers.get(commandId);
  }

  remember(result: CommandResult): void {
    if (this.answers.has(result.commandId)) return;
    this.answers.set(result.commandId, result);
    // A Map iterates in insertion order: the first key is the oldest.
    while (this.answers.size > this.capacity) this.answers.delete(this.answers.keys().next().value as string);
  }
}
