/**
 * Environment configuration: every program reads its settings through these helpers so that a bad
 * value stops the program at start with a message naming the variable, the value and what it wants.
 */
export class ConfigError extends Error {
  constructor(readonly variable: string, value: string, expected: string) {
    super(`${variable}=${JSON.stringify(value)} is invalid: expected ${expected}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function envString(env: Env, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

export function envOptional(env: Env, name: string): string | undefined {
  return raw(env, name);
}

export function envInt(env: Env, name: string, fallback: number, min = -Infinity, max = Infinity): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new ConfigError(name, value, `an integer from ${min} to ${max}`);
  }
  return parsed;
}

export function envNumber(env: Env, name: string, fallback: number, min = -Infinity, max = Infinity): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
    throw new ConfigError(name, value, `a number from ${min} to ${max}`);
  }
  return parsed;
}

export function envBool(env: Env, name: string, fallback: boolean): boolean {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new ConfigError(name, value, 'true or false');
}

export function envList(env: Env, name: string, fallback: string[]): string[] {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new ConfigError(name, value, 'a comma-separated, non-empty list');
  return items;
}

export function envUrl(env: Env, name: string, fallback: string, protocols: string[]): string {
  const value = raw(env, name) ?? fallback;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, value, `a URL (${protocols.join(' or ')})`);
  }
  if (!protocols.includes(url.protocol)) throw new ConfigError(name, value, `a URL (${protocols.join(' or ')})`);
  return value;
}

/** host:port, as gRPC and Kafka take them. */
export function envHostPort(env: Env, name: string, fallback: string): string {
  const value = raw(env, name) ?? fallback;
  const match = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(value);
  if (!match || Number(match[2]) > 65535) throw new ConfigError(name, value, 'host:port');
  return value;
}

export function envHostPortList(env: Env, name: string, fallback: string): string[] {
  const list = envList(env, name, [fallback]);
  return list.map((item) => envHostPort({ [name]: item }, name, fallback));
}
