/**
 * Authentication of every call, streaming or unary, by the `x-api-token` metadata, in a grpc-js
 * server interceptor: a call without a valid token ends with UNAUTHENTICATED before any handler
 * runs (the handler is only started when the interceptor passes the metadata on).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import {
  ResponderBuilder,
  ServerInterceptingCall,
  ServerListenerBuilder,
  status as GrpcStatus,
  type Metadata,
  type ServerInterceptor,
} from '@grpc/grpc-js';

export const TOKEN_HEADER = 'x-api-token';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * A predicate comparing a presented token to every accepted one in constant time: both sides are
 * hashed to 32 bytes first (so length leaks nothing) and every token is compared, match or not.
 */
export function tokenChecker(tokens: readonly string[]): (presented: string | undefined) => boolean {
  const accepted = tokens.map(digest);
  return (presented) => {
    if (presented === undefined || accepted.length === 0) return false;
    const candidate = digest(presented);
    let ok = false;
    for (const token of accepted) ok = timingSafeEqual(candidate, token) || ok;
    return ok;
  };
}

export function presentedToken(metadata: Metadata): string | undefined {
  const values = metadata.get(TOKEN_HEADER);
  // Exactly one value: two tokens in one call are as wrong as none.
  return values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
}

export function authInterceptor(
  isValid: (token: string | undefined) => boolean,
  onRefused: (method: string, reason: 'missing' | 'wrong') => void = () => {},
): ServerInterceptor {
  return (method, call) => {
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const token = presentedToken(metadata);
        if (isValid(token)) {
          next(metadata);
          return;
        }
        onRefused(method.path, token === undefined ? 'missing' : 'wrong');
        call.sendStatus({
          code: GrpcStatus.UNAUTHENTICATED,
          details: token === undefined ? `missing ${TOKEN_HEADER} metadata` : `invalid ${TOKEN_HEADER}`,
        });
      })
      .build();
    const responder = new ResponderBuilder().withStart((next) => next(listener)).build();
    return new ServerInterceptingCall(call, responder);
  };
}
