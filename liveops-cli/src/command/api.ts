/**
 * The command API's client, over fetch: send a command, long-poll its outcome. A refusal (an HTTP
 * error status) is ApiRefused with the API's own `error`; no answer at all is ApiUnreachable.
 */

/** A command as the API shows it (the fields this CLI reads; more may follow). */
export interface CommandJson {
  command_id: string;
  car_id: string;
  type: string;
  status: string;
  final: boolean;
  issued_at: number;
  expires_at: number;
  timeout_ms: number;
  sent_at?: number;
  delivered_at?: number;
  finished_at?: number;
  reason?: string;
  instance?: string;
  deliveries: number;
}

export class ApiRefused extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
  ) {
    super(`${status} ${error}`);
  }
}

export class ApiUnreachable extends Error {
  constructor(
    readonly url: string,
    readonly why: string,
  ) {
    super(`${url}: ${why}`);
  }
}

/** The longest wait the API accepts for one long poll. */
export const MAX_WAIT_MS = 60_000;

export type Fetch = typeof fetch;

function why(error: unknown): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return 'no answer in time';
  return e.cause?.message ?? e.cause?.code ?? e.message;
}

function isCommand(value: unknown): value is CommandJson {
  const v = value as Partial<CommandJson> | null;
  return typeof v === 'object' && v !== null && typeof v.command_id === 'string' && typeof v.status === 'string';
}

export class CommandApi {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    private readonly fetchImpl: Fetch = fetch,
  ) {}

  /** POST /v1/cars/{car}/commands: the command as accepted (202). */
  send(carId: string, body: Record<string, unknown>): Promise<CommandJson> {
    return this.call('POST', `/v1/cars/${encodeURIComponent(carId)}/commands`, 15_000, JSON.stringify(body));
  }

  /** GET /v1/commands/{id}/wait: the command once final, or as it is after `timeoutMs`. */
  wait(commandId: string, timeoutMs: number): Promise<CommandJson> {
    const ms = Math.max(1, Math.min(MAX_WAIT_MS, Math.round(timeoutMs)));
    return this.call('GET', `/v1/commands/${encodeURIComponent(commandId)}/wait?timeout_ms=${ms}`, ms + 15_000);
  }

  private async call(method: string, path: string, deadlineMs: number, body?: string): Promise<CommandJson> {
    const url = `${this.baseUrl}${path}`;
    let response: Response;
    let text: string;
    try {
      response = await this.fetchImpl(url, {
        method,
        headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(deadlineMs),
      });
      text = await response.text();
    } catch (error) {
      throw new ApiUnreachable(this.baseUrl, why(error));
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const error = (parsed as { error?: unknown } | undefined)?.error;
      throw new ApiRefused(response.status, typeof error === 'string' ? error : text.trim().slice(0, 300) || response.statusText);
    }
    if (!isCommand(parsed)) throw new ApiRefused(response.status, `unexpected answer to ${method} ${path}: ${text.trim().slice(0, 300)}`);
    return parsed;
  }
}
