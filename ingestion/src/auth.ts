/**
 * Authentication of every call, streaming or unary, in a grpc-js server interceptor: the call's
 * metadata and its TLS peer certificate go to an Authenticator, and a call it refuses ends with
 * its status (UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED) before any handler runs
 * (grpc-js starts the handler only when the interceptor passes the metadata on, and holds the
 * call's first message until then, so the check may be asynchronous).
 *
 * Who the caller is reaches the handler through `identityOf(call.metadata)`: a WeakMap keyed by
 * the very Metadata object passed on, so no header a client sends can forge it.
 */
import { tokenChecker } from '@greenlane/common/token-check';
import {
  Metadata,
  ResponderBuilder,
  ServerInterceptingCall,
  ServerListenerBuilder,
  status as GrpcStatus,
  type ServerInterceptor,
} from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';

export const TOKEN_HEADER = 'x-api-token';
export const AUTHORIZATION_HEADER = 'authorization';

/** The constant-time comparison shared with the operators' APIs. */
export { tokenChecker };

/** How a connection proved who it is. */
export type Credential = 'certificate' | 'jwt' | 'api_token';

export interface VehicleIdentity {
  credential: Credential;
  /** The one car this connection may speak for; undefined for a shared x-api-token (legacy: any car). */
  carId: string | undefined;
  /** Unix epoch ms at which the credential ends (a JWT's exp): the stream is ended then. */
  expiresAt: number | undefined;
}

export type AuthDecision =
  | { ok: true; identity: VehicleIdentity }
  | { ok: false; code: GrpcStatus; details: string; reason: string; trailers?: Metadata };

export interface AuthRequest {
  method: string;
  metadata: Metadata;
  /** Verified client certificate (mutual TLS), when the connection presented one. */
  peerCertificate: PeerCertificate | undefined;
  /** The remote address, without its port. */
  address: string;
}

export type Authenticator = (request: AuthRequest) => AuthDecision | Promise<AuthDecision>;

const identities = new WeakMap<Metadata, VehicleIdentity>();

/** Who the caller of a call is, as the interceptor established it. */
export function identityOf(metadata: Metadata): VehicleIdentity | undefined {
  return identities.get(metadata);
}

/** Exactly one string value of a header: two in one call are as wrong as none. */
export function singleValue(metadata: Metadata, name: string): string | undefined {
  const values = metadata.get(name);
  return values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
}

export function presentedToken(metadata: Metadata): string | undefined {
  return singleValue(metadata, TOKEN_HEADER);
}

/** "ipv4:127.0.0.1:5000", "127.0.0.1:5000", "[::1]:5000" → the address alone. */
export function peerAddress(peer: string): string {
  const bare = peer.replace(/^ipv[46]:/, '');
  const bracketed = /^\[([^\]]+)\]/.exec(bare);
  if (bracketed) return bracketed[1]!;
  const colon = bare.lastIndexOf(':');
  return colon > 0 && bare.indexOf(':') === colon ? bare.slice(0, colon) : bare;
}

/** The legacy check alone: one of `tokens` in x-api-token, nothing else. */
export function tokenAuthenticator(tokens: readonly string[]): Authenticator {
  const accepts = tokenChecker(tokens);
  return ({ metadata }) => {
    const token = presentedToken(metadata);
    if (accepts(token)) return { ok: true, identity: { credential: 'api_token', carId: undefined, expiresAt: undefined } };
    return token === undefined
      ? { ok: false, code: GrpcStatus.UNAUTHENTICATED, details: `missing ${TOKEN_HEADER} metadata`, reason: 'missing' }
      : { ok: false, code: GrpcStatus.UNAUTHENTICATED, details: `invalid ${TOKEN_HEADER}`, reason: 'wrong' };
  };
}

export function authInterceptor(
  authenticate: Authenticator,
  onRefused: (method: string, reason: string) => void = () => {},
): ServerInterceptor {
  return (method, call) => {
    const refuse = (decision: Extract<AuthDecision, { ok: false }>) => {
      onRefused(method.path, decision.reason);
      call.sendStatus({ code: decision.code, details: decision.details, ...(decision.trailers ? { metadata: decision.trailers } : {}) });
    };
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const pass = (decision: AuthDecision) => {
          if (!decision.ok) return refuse(decision);
          identities.set(metadata, decision.identity);
          next(metadata);
        };
        let decision: AuthDecision | Promise<AuthDecision>;
        try {
          const auth = call.getAuthContext();
          decision = authenticate({ method: method.path, metadata, peerCertificate: auth.sslPeerCertificate, address: peerAddress(call.getPeer()) });
        } catch {
          decision = { ok: false, code: GrpcStatus.UNAUTHENTICATED, details: 'credentials could not be checked', reason: 'error' };
        }
        if (decision instanceof Promise) {
          decision.then(pass, () => refuse({ ok: false, code: GrpcStatus.UNAVAILABLE, details: 'credentials could not be checked; retry', reason: 'error' }));
        } else pass(decision);
      })
      .build();
    const responder = new ResponderBuilder().withStart((next) => next(listener)).build();
    return new ServerInterceptingCall(call, responder);
  };
}
