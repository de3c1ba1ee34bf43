/**
 * What each car's stream carries in its call metadata: the x-api-token, a JWT bearer token, the
 * `commands` capability. With --jwt-key / --jwt-secret every car has its own token (sub = its id,
 * scope `vehicle`), minted when its stream opens and renewed:
 *   - at any (re)connect within a minute of its expiry, so a new stream never starts on a token
 *     about to lapse;
 *   - after the server ended the stream UNAUTHENTICATED at expiry (the ingestion cuts a stream
 *     whose token expires); the car then reconnects at once with a fresh one.
 * A fresh token refused at once is refused for good: a car does not mint tokens in a loop.
 */
import * as grpc from '@grpc/grpc-js';
import { CAPABILITIES_HEADER, COMMANDS_CAPABILITY } from '@greenlane/common/commands';
import { hs256Key, mintToken, readSigningKey, type SigningKey } from '@greenlane/common/jwt-mint';
import type { StreamCredentials } from './car-stream.js';
import type { JwtConfig } from './security-options.js';

export const VEHICLE_SCOPE = 'vehicle';
/** A token this close to its expiry is not taken to a new stream. */
export const RENEW_BEFORE_MS = 60_000;
/** The server's clock may run a little ahead of ours: a refusal this close to `exp` is the expiry. */
const EXPIRY_SLACK_MS = 1_000;
/** Renewals in a row without the server answering in between, after which a refusal is final. */
const MAX_UNANSWERED_RENEWALS = 3;

export interface MetadataParts {
  /** x-api-token; undefined = not sent. */
  apiToken?: string | undefined;
  /** authorization: Bearer <jwt>; undefined = not sent. */
  bearer?: string | undefined;
  commands?: boolean;
}

export function callMetadata(parts: MetadataParts): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (parts.apiToken !== undefined) metadata.set('x-api-token', parts.apiToken);
  if (parts.bearer !== undefined) metadata.set('authorization', `Bearer ${parts.bearer}`);
  if (parts.commands === true) metadata.set(CAPABILITIES_HEADER, COMMANDS_CAPABILITY);
  return metadata;
}

export interface Minted {
  token: string;
  /** Unix epoch ms. */
  expiresAt: number;
}

/** Mints a car's token; one per thread, sharing the imported key. */
export type Minter = (carId: string) => Promise<Minted>;

export async function createMinter(config: Exclude<JwtConfig, { kind: 'static' }>): Promise<Minter> {
  const signing: SigningKey = config.kind === 'key' ? await readSigningKey(config.keyFile, config.alg, config.kid) : hs256Key(config.secret);
  return async (carId) => {
    // exp is whole seconds: the expiry we remember is the one the server will enforce.
    const expiresAt = (Math.floor(Date.now() / 1000) + config.ttlSeconds) * 1000;
    const token = await mintToken(signing, { subject: carId, scopes: [VEHICLE_SCOPE], ttlSeconds: config.ttlSeconds, issuer: config.issuer, audience: config.audience });
    return { token, expiresAt };
  };
}

/** One car's minted token, renewed as described above. */
export class CarToken implements StreamCredentials {
  private current: (Minted & { metadata: grpc.Metadata }) | undefined;
  private pending: Promise<grpc.Metadata> | undefined;
  private renewNext = false;
  private unansweredRenewals = 0;
  /** Tokens minted for this car so far. */
  minted = 0;

  constructor(
    readonly carId: string,
    private readonly mint: Minter,
    private readonly parts: Omit<MetadataParts, 'bearer'>,
    private readonly now: () => number = Date.now,
  ) {}

  metadata(): grpc.Metadata | Promise<grpc.Metadata> {
    const current = this.current;
    if (current !== undefined && !this.renewNext && this.now() < current.expiresAt - RENEW_BEFORE_MS) return current.metadata;
    // Two opens racing (a drop and its reconnect) share one mint.
    this.pending ??= this.mint(this.carId).then(
      (minted) => {
        this.minted += 1;
        this.renewNext = false;
        this.pending = undefined;
        this.current = { ...minted, metadata: callMetadata({ ...this.parts, bearer: minted.token }) };
        return this.current.metadata;
      },
      (error: unknown) => {
        this.pending = undefined;
        throw error;
      },
    );
    return this.pending;
  }

  get expiresAt(): number | undefined {
    return this.current?.expiresAt;
  }

  renewAfterRefusal(answered: boolean): boolean {
    if (answered) this.unansweredRenewals = 0;
    const expired = this.current !== undefined && this.now() >= this.current.expiresAt - EXPIRY_SLACK_MS;
    // Refused before a word, with a token still good: the server does not take our tokens.
    if (!answered && !expired) return false;
    if (++this.unansweredRenewals > MAX_UNANSWERED_RENEWALS) return false;
    this.renewNext = true;
    return true;
  }
}

/** The same metadata for every stream: no token to renew (an x-api-token, or one --jwt for all). */
export function fixedCredentials(metadata: grpc.Metadata): StreamCredentials {
  return { metadata: () => metadata };
}

export interface CarCredentialsConfig {
  apiToken: string | undefined;
  jwt: JwtConfig | undefined;
  commands: boolean;
}

/**
 * Each car's credentials, for one thread: cars without a minted token share one metadata object
 * (as before tokens), cars with one each get a CarToken.
 */
export async function carCredentials(config: CarCredentialsConfig): Promise<(carId: string) => StreamCredentials> {
  const parts = { apiToken: config.apiToken, commands: config.commands };
  if (config.jwt === undefined || config.jwt.kind === 'static') {
    const shared = fixedCredentials(callMetadata({ ...parts, bearer: config.jwt?.token }));
    return () => shared;
  }
  const mint = await createMinter(config.jwt);
  return (carId) => new CarToken(carId, mint, parts);
}

/** Which credential a refusal is about, in words naming the flags (for the message at exit code 3). */
export function describeCredentials(config: { apiToken: string | undefined; jwt: JwtConfig | undefined }): string {
  const jwt = config.jwt;
  const parts: string[] = [];
  if (jwt?.kind === 'static') parts.push(`the JWT given with ${jwt.source} (a fixed token is never renewed; --jwt-key mints one per car)`);
  if (jwt?.kind === 'key') {
    parts.push(`the JWTs minted with ${jwt.source} ${jwt.keyFile} (${jwt.alg}, kid ${jwt.kid}, iss ${jwt.issuer}, aud ${jwt.audience}, sub = the car id, scope vehicle): ` +
      'the ingestion\'s AUTH_JWKS must hold its public key, under that kid, and AUTH_JWT_ISSUER/AUDIENCE match');
  }
  if (jwt?.kind === 'secret') parts.push(`the HS256 JWTs minted with ${jwt.source} (iss ${jwt.issuer}, aud ${jwt.audience}): the ingestion's AUTH_JWT_HS256_SECRET must be the same`);
  if (config.apiToken !== undefined) parts.push('the x-api-token: give one of the ingestion\'s API_TOKENS with --token or API_TOKEN');
  return parts.join('; and ');
}
