import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * A predicate comparing a presented token to every accepted one in constant time: both sides are
 * hashed to 32 bytes first (so length leaks nothing) and every token is compared, match or not.
 * An empty token is never accepted. Shared by the vehicles' check (API_TOKENS, ingestion) and the
 * operators' (OPERATOR_TOKENS, operator-auth.ts).
 */
export function tokenChecker(tokens: readonly string[]): (presented: string | undefined) => boolean {
  const accepted = tokens.filter((t) => t !== '').map(digest);
  return (presented) => {
    if (presented === undefined || accepted.length === 0) return false;
    const candidate = digest(presented);
    let ok = false;
    for (const known of accepted) ok = timingSafeEqual(candidate, known) || ok;
    return ok;
  };
}
