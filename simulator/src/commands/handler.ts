/**
 * One car's command desk, shared by both modes: each command is checked (validate.ts), carried out
 * at most once per command id by the mode's own `execute`, and answered; a repeat gets the first
 * answer again. Counts go into a CommandCounts the run shares between its cars.
 */
import { CommandOutcome, type CommandResult, type VehicleCommand } from '@greenlane/common/gen/fleet/fleet';
import { AnsweredCommands, EXECUTED_CAPACITY } from './executed.js';
import { checkCommand, type CarContext } from './validate.js';

export interface CommandCounts {
  /** Every command message received, repeats included. */
  received: number;
  /** Commands carried out (each id once). */
  executed: number;
  /** Repeats of a command already answered: answered again, not carried out again. */
  duplicates: number;
  /** Commands answered rejected (each id once). received = executed + rejected + duplicates. */
  rejected: number;
}

export function emptyCommandCounts(): CommandCounts {
  return { received: 0, executed: 0, duplicates: 0, rejected: 0 };
}

export function addCommandCounts(a: CommandCounts, b: CommandCounts): CommandCounts {
  return { received: a.received + b.received, executed: a.executed + b.executed, duplicates: a.duplicates + b.duplicates, rejected: a.rejected + b.rejected };
}

/** What the mode's car does with a valid command: carries it out (with an optional note), or refuses it. */
export type Execution = { accepted: true; note?: string } | { accepted: false; reason: string };

export interface CommandDecision {
  /** The answer to send (in a CarStatus, right away). */
  result: CommandResult;
  /** True when this call carried the command out (the first copy, accepted). */
  carriedOut: boolean;
  /** True when this was a repeat of a command already answered. */
  duplicate: boolean;
}

export class CarCommands {
  private readonly answered: AnsweredCommands;

  constructor(
    private readonly counts: CommandCounts,
    capacity = EXECUTED_CAPACITY,
  ) {
    this.answered = new AnsweredCommands(capacity);
  }

  /**
   * Judges `command` for the car described by `car` at `now`; `execute` runs only for a valid command
   * seen for the first time, and must change the car (or refuse) synchronously.
   */
  receive(command: VehicleCommand, car: CarContext, now: number, execute: (command: VehicleCommand) => Execution): CommandDecision {
    this.counts.received += 1;
    const earlier = this.answered.get(command.commandId);
    if (earlier !== undefined) {
      this.counts.duplicates += 1;
      return { result: earlier, carriedOut: false, duplicate: true };
    }
    const refusal = checkCommand(command, car, now);
    const execution: Execution = refusal !== undefined ? { accepted: false, reason: refusal } : execute(command);
    const result: CommandResult = execution.accepted
      ? { commandId: command.commandId, outcome: CommandOutcome.COMMAND_ACCEPTED, reason: execution.note ?? '' }
      : { commandId: command.commandId, outcome: CommandOutcome.COMMAND_REJECTED, reason: execution.reason };
    // An empty id cannot name a repeat (and ingestion refuses an answer without one): not remembered.
    if (command.commandId !== '') this.answered.remember(result);
    if (execution.accepted) this.counts.executed += 1;
    else this.counts.rejected += 1;
    return { result, carriedOut: execution.accepted, duplicate: false };
  }
}
