import { pino, type DestinationStream, type Logger } from 'pino';

export type { DestinationStream, Logger };

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const REDACTED = '[redacted]';

/**
 * Fields no log line may carry, wherever a service might put them: request headers (as node:http
 * and the ws upgrade hand them over), credentials in objects logged whole (a config, a client's
 * options), keys. A path names a field at the top or one level down (`*.x`); deeper ones are
 * listed where a config nests them (`config.operators.tokens`).
 *
 * Not a bare `key`: that is the Kafka message key (a car id) in the ingestion's logs, needed to
 * find the car; key material goes by `privateKey`, `signingKey`, `apiKey`, `pem`.
 */
export const REDACT_PATHS: readonly string[] = [
  'authorization', '*.authorization', 'cookie', '*.cookie',
  'headers.authorization', 'headers.cookie', 'headers["set-cookie"]', 'headers["x-api-token"]',
  '*.headers.authorization', '*.headers.cookie', '*.headers["set-cookie"]', '*.headers["x-api-token"]',
  'req.headers.authorization', 'req.headers.cookie', 'request.headers.authorization', 'request.headers.cookie',
  'metadata["x-api-token"]', '*.metadata["x-api-token"]', '"x-api-token"',
  'token', '*.token', 'tokens', '*.tokens', 'jwt', '*.jwt', 'bearer', '*.bearer',
  'accessToken', '*.accessToken', 'access_token', '*.access_token', 'refreshToken', '*.refreshToken', 'idToken', '*.idToken',
  'apiToken', '*.apiToken', 'apiTokens', '*.apiTokens', 'operatorTokens', '*.operatorTokens',
  'operators.tokens', '*.operators.tokens', 'config.operators.tokens',
  'password', '*.password', 'passphrase', '*.passphrase',
  'secret', '*.secret', 'secrets', '*.secrets', 'clientSecret', '*.clientSecret', 'hs256Secret', '*.hs256Secret', 'jwt.hs256Secret', '*.jwt.hs256Secret',
  'privateKey', '*.privateKey', 'signingKey', '*.signingKey', 'apiKey', '*.apiKey', 'pem', '*.pem',
];

/** Fields holding URLs: logged, but without their password or their `token=` query parameter. */
const URL_FIELDS = /(^|\.)(url|href|redisUrl|databaseUrl|connectionString)$/i;
export const URL_PATHS: readonly string[] = ['url', '*.url', 'href', '*.href', 'redisUrl', '*.redisUrl', 'databaseUrl', '*.databaseUrl', 'connectionString', '*.connectionString'];

/** A URL with its password and any token-like query parameter replaced; the rest as it was. */
export function sanitizeUrl(value: string): string {
  return value
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*):[^@/\s]*@/i, `$1:${REDACTED}@`)
    .replace(/([?&](?:token|access_token|api_token|password|secret)=)[^&#\s]*/gi, `$1${REDACTED}`);
}

function censor(value: unknown, path: string[]): unknown {
  if (typeof value === 'string' && URL_FIELDS.test(path.join('.'))) return sanitizeUrl(value);
  return REDACTED;
}

/**
 * The last net, over each serialized line: secrets recognisable by their shape, in any field or in
 * the message (an error's text, a URL written into a sentence). Each pattern stays inside one JSON
 * string (no quote, and a backslash only as the `\n` of a PEM), so the line stays valid JSON.
 */
const SHAPES: Array<[RegExp, string]> = [
  [/-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----(?:[A-Za-z0-9+/=\s]|\\[nr])*(?:-----END [A-Z0-9 ]*PRIVATE KEY-----)?/g, `-----BEGIN $1PRIVATE KEY-----${REDACTED}`],
  [/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, REDACTED],
  [/\b(Bearer\s+)(?!realm\b|error\b|<)[A-Za-z0-9._~+/-]+=*/gi, `$1${REDACTED}`],
  [/([?&](?:token|access_token|api_token)=)[^&#\s"\\]+/gi, `$1${REDACTED}`],
  [/(greenlane_operator=)[^;\s"\\]+/g, `$1${REDACTED}`],
  [/\b([a-z][a-z0-9+.-]*:\/\/[^/:@\s"\\]*):[^@/\s"\\]+@/gi, `$1:${REDACTED}@`],
];

export function scrubSecrets(line: string): string {
  let out = line;
  for (const [pattern, replacement] of SHAPES) out = out.replace(pattern, replacement);
  return out;
}

/**
 * One structured logger per program; LOG_LEVEL sets its threshold (default info). A LOG_LEVEL pino
 * does not know stops the program at once with exit code 2 and a line naming the variable: there
 * is no logger yet to say it through, and pino's own error is a stack trace that never names it.
 *
 * No secret reaches a log: the fields of REDACT_PATHS are written `[redacted]`, URLs lose their
 * password and token, and every line is scrubbed of what looks like a JWT, a bearer token, a PEM
 * private key or the operators' cookie. `destination` is for tests (default: stdout).
 */
export function createLogger(name: string, env: Record<string, string | undefined> = process.env, destination?: DestinationStream): Logger {
  const level = env.LOG_LEVEL ?? 'info';
  if (!LEVELS.includes(level)) {
    process.stderr.write(`${name}: LOG_LEVEL=${JSON.stringify(level)} is invalid: expected one of ${LEVELS.join(', ')}\n`);
    process.exit(2);
  }
  const options = {
    name,
    level,
    base: { service: name, pid: process.pid },
    redact: { paths: [...REDACT_PATHS, ...URL_PATHS], censor },
    hooks: { streamWrite: scrubSecrets },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
