/**
 * Who may open a stream, and as which car. In order:
 *
 *   0. a source address opening streams faster than INGESTION_STREAM_RATE is refused
 *      RESOURCE_EXHAUSTED, with the wait in `grpc-retry-pushback-ms` (before any credential is
 *      checked: a flood costs no signature checks);
 *   1. a verified client certificate (mutual TLS): the car is the certificate's subject CN; a
 *      bearer token beside it (when JWTs are configured) must be valid and name the same car;
 *   2. `authorization: Bearer <JWT>` with scope `vehicle`: the car is the token's `sub`, and the
 *      stream ends when the token expires;
 *   3. `x-api-token` among API_TOKENS (legacy shared tokens: any car, as before);
 *   4. anything else is UNAUTHENTICATED, saying what is accepted.
 * A token with the wrong scope (an operator's) is PERMISSION_DENIED.
 */
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { JwtVerifier } from '@greenlane/common/jwt-auth';
import { TokenBuckets, type RateLimit } from '@greenlane/common/token-bucket';
import { AUTHORIZATION_HEADER, TOKEN_HEADER, presentedToken, singleValue, tokenChecker, type AuthDecision, type Authenticator } from '../auth.js';

export const VEHICLE_SCOPE = 'vehicle';

export interface VehicleAuthOptions {
  /** Legacy shared tokens; empty: x-api-token is refused. */
  apiTokens: readonly string[];
  jwt: JwtVerifier | undefined;
  /** Mutual TLS is on: every connection has a verified certificate. */
  mutualTls: boolean;
  streamRate: RateLimit;
  /** Balancers whose `x-forwarded-for` names the car's address (INGESTION_TRUSTED_PROXIES). */
  trustedProxies?: ReadonlySet<string>;
}

/**
 * The car's address: the peer's, unless the peer is a trusted balancer, whose own entry is the
 * last of `x-forwarded-for` (earlier entries came from the client and prove nothing).
 */
export function sourceAddress(peer: string, metadata: Metadata, trusted: ReadonlySet<string> | undefined): string {
  if (trusted === undefined || !trusted.has(peer)) return peer;
  const forwarded = metadata.get('x-forwarded-for');
  const last = forwarded.length === 0 ? undefined : String(forwarded[forwarded.length - 1]).split(',').pop()?.trim();
  return last === undefined || last === '' ? peer : last;
}

function refusal(code: GrpcStatus, details: string, reason: string, trailers?: Metadata): AuthDecision {
  return { ok: false, code, details, reason, ...(trailers ? { trailers } : {}) };
}

export function vehicleAuthenticator(options: VehicleAuthOptions): Authenticator {
  const acceptsApiToken = options.apiTokens.length > 0 ? tokenChecker(options.apiTokens) : undefined;
  const streamBuckets = new TokenBuckets(options.streamRate);
  const accepted = [
    options.mutualTls ? 'a client certificate' : undefined,
    options.jwt !== undefined ? `${AUTHORIZATION_HEADER}: Bearer <JWT with scope ${VEHICLE_SCOPE}>` : undefined,
    acceptsApiToken !== undefined ? TOKEN_HEADER : undefined,
  ].filter((s) => s !== undefined).join(' or ');

  return ({ metadata, peerCertificate, address: peer }) => {
    const address = sourceAddress(peer, metadata, options.trustedProxies);
    const admitted = streamBuckets.take(address);
    if (!admitted.ok) {
      const trailers = new Metadata();
      trailers.set('grpc-retry-pushback-ms', String(admitted.retryAfterMs));
      return refusal(
        GrpcStatus.RESOURCE_EXHAUSTED,
        `too many new streams from ${address} (over ${options.streamRate.ratePerSecond}/s, burst ${options.streamRate.burst}); retry after ${admitted.retryAfterMs} ms`,
        'stream_rate',
        trailers,
      );
    }

    let certified: string | undefined;
    if (peerCertificate !== undefined) {
      const cn = peerCertificate.subject?.CN;
      certified = Array.isArray(cn) ? undefined : cn;
      if (certified === undefined || certified === '') return refusal(GrpcStatus.UNAUTHENTICATED, 'client certificate has no single subject CN to name the car', 'certificate_subject');
    }

    const authorization = metadata.get(AUTHORIZATION_HEADER);
    if (authorization.length > 0) {
      if (options.jwt === undefined) {
        // A certificate is enough; a token beside it that cannot be checked is not silently taken as proof of anything.
        if (certified !== undefined) return { ok: true, identity: { credential: 'certificate', carId: certified, expiresAt: undefined } };
        return refusal(GrpcStatus.UNAUTHENTICATED, `bearer tokens are not accepted here (AUTH_JWKS unset): present ${accepted || 'nothing: no credential is configured'}`, 'jwt_not_configured');
      }
      const value = singleValue(metadata, AUTHORIZATION_HEADER);
      const match = value === undefined ? null : /^Bearer ([A-Za-z0-9_.~+/=-]+)$/i.exec(value);
      if (match === null) return refusal(GrpcStatus.UNAUTHENTICATED, `${AUTHORIZATION_HEADER} must be one "Bearer <JWT>"`, 'jwt_malformed');
      return options.jwt.verify(match[1]!).then((result): AuthDecision => {
        if (!result.ok) return refusal(GrpcStatus.UNAUTHENTICATED, `bearer token refused: ${result.message}`, `jwt_${result.reason}`);
        if (!result.scopes.has(VEHICLE_SCOPE)) {
          return refusal(GrpcStatus.PERMISSION_DENIED, `bearer token lacks scope "${VEHICLE_SCOPE}": it may not stream telemetry`, 'jwt_scope');
        }
        // Both presented: they must name the same car, and the stream ends when the token does.
        if (certified !== undefined && result.subject !== certified) {
          return refusal(GrpcStatus.PERMISSION_DENIED, `bearer token sub ${JSON.stringify(result.subject)} is not the client certificate's CN ${JSON.stringify(certified)}`, 'jwt_certificate_mismatch');
        }
        return { ok: true, identity: { credential: certified !== undefined ? 'certificate' : 'jwt', carId: result.subject, expiresAt: result.expiresAt } };
      });
    }
    if (certified !== undefined) return { ok: true, identity: { credential: 'certificate', carId: certified, expiresAt: undefined } };

    const token = presentedToken(metadata);
    if (token !== undefined || metadata.get(TOKEN_HEADER).length > 0) {
      if (acceptsApiToken === undefined) return refusal(GrpcStatus.UNAUTHENTICATED, `${TOKEN_HEADER} is not accepted here (API_TOKENS unset): present ${accepted}`, 'api_token_disabled');
      if (acceptsApiToken(token)) return { ok: true, identity: { credential: 'api_token', carId: undefined, expiresAt: undefined } };
      return refusal(GrpcStatus.UNAUTHENTICATED, `invalid ${TOKEN_HEADER}`, 'wrong');
    }
    return refusal(GrpcStatus.UNAUTHENTICATED, `missing credentials: present ${accepted || 'nothing: no credential is configured'}`, 'missing');
  };
}
