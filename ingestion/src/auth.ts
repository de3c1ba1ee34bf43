/**
 * Authentication of every call, streaming or unary, by the `x-api-token` metadata, in a grpc-js
 * server interceptor: a call without a valid token ends with UNAUTHENTICATED before any handler
 * runs (the handler is only started when the interceptor passes the metadata on).
 */
import { tokenChecker } from '@greenlane/common/token-check';
import {
  ResponderBuilder,
  ServerInterceptingCall,
  ServerListenerBuilder,
  status as GrpcStatus,
  type Metadata,
  type ServerInterceptor,
} from '@grpc/grpc-js';

export const TOKEN_HEADER = 'x-api-token';

/** The constant-time comparison shared with the operators' APIs. */
export { tokenChecker };

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
