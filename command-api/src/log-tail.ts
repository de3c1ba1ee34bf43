/**
 * Follows commands:log (every status change of every command) on a connection of its own, for the
 * requests waiting on a command's outcome in this process. Every instance of the API follows the
 * whole log, so a waiter here learns of a change whichever process or instance made it.
 */
import { COMMAND_KEYS, statusChangeOf, type CommandStatusChange, type Logger, type RedisClient } from '@greenlane/common';

type Listener = (change: CommandStatusChange) => void;

export class CommandLogTail {
  private readonly client: RedisClient;
  private readonly listeners = new Map<string, Set<Listener>>();
  private running = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(redis: RedisClient, private readonly log: Logger) {
    this.client = redis.duplicate();
  }

  async start(): Promise<void> {
    this.client.on('error', (error: Error) => this.log.warn({ err: error.message }, 'command log tail: redis error'));
    await this.client.connect();
    this.running = true;
    this.loop = this.follow();
  }

  /** Calls `listener` on each change of `commandId` until the returned function is called. */
  listen(commandId: string, listener: Listener): () => void {
    let set = this.listeners.get(commandId);
    if (set === undefined) this.listeners.set(commandId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(commandId) === set) this.listeners.delete(commandId);
    };
  }

  get waiting(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  async stop(): Promise<void> {
    this.running = false;
    // The blocked XREAD returns within its block time.
    await this.loop;
    await this.client.quit().catch(() => undefined);
  }

  private async follow(): Promise<void> {
    let last = '$';
    while (this.running) {
      try {
        const reply = (await this.client.xRead({ key: COMMAND_KEYS.log, id: last }, { BLOCK: 500, COUNT: 1000 })) as Array<{
          messages: Array<{ id: string; message: Record<string, string> }>;
        }> | null;
        for (const stream of reply ?? []) {
          for (const entry of stream.messages) {
            last = entry.id;
            const change = statusChangeOf(entry.message);
            for (const listener of this.listeners.get(change.command_id) ?? []) listener(change);
          }
        }
      } catch (error) {
        if (!this.running) break;
        // Waiters re-read the command on their own deadline; nothing is lost meanwhile but latency.
        this.log.warn({ err: (error as Error).message }, 'command log tail: read failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }
}
