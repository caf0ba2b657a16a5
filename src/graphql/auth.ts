// Who is calling: API keys (stored as a hash, looked up by their public prefix) and JWT bearer
// tokens (HS256 with a shared secret or RS256 with a public key). Both end in an Actor with one
// of the three roles. Nothing here logs a key or a token.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errors as joseErrors, importSPKI, jwtVerify, type JWTVerifyOptions, type CryptoKey } from 'jose';
import { MammocadError, ROLES, type ApiKeyRecord, type Role } from '../domain/index.js';
import type { Store } from '../store/index.js';

export interface Actor {
  /** Stable identity written to the audit trail: "apikey:<prefix>" or "jwt:<sub>". */
  id: string;
  /** Human-readable name: the key's name or the token's subject. */
  name: string;
  role: Role;
}

/** The caller could not be identified (no, unknown, revoked or expired credentials). */
export class AuthenticationError extends MammocadError {
  constructor(message: string) {
    super('UNAUTHENTICATED', message);
  }
}

/** The caller is known but its role does not allow the operation. */
export class ForbiddenError extends MammocadError {
  constructor(message: string) {
    super('FORBIDDEN', message);
  }
}

export interface JwtSettings {
  hs256Secret?: string | undefined;
  publicKeyFile?: string | undefined;
  issuer?: string | undefined;
  audience?: string | undefined;
  roleClaim: string;
  /** Longest lifetime a token may have, in seconds (default DEFAULT_JWT_MAX_LIFETIME_S). */
  maxLifetimeSeconds?: number | undefined;
}

/**
 * Tokens living longer than this are refused: a stolen token, or one issued before its role or
 * access was withdrawn, must not stay good for weeks (tokens cannot be revoked here).
 */
export const DEFAULT_JWT_MAX_LIFETIME_S = 43_200;

const API_KEY = /^(mk_[0-9a-f]{8})_([A-Za-z0-9_-]{43})$/;

const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/**
 * Makes a new API key: 256 random bits behind a public prefix. The full key is shown once; the
 * store keeps the prefix (to find the row) and a SHA-256 of the secret (to check it). A plain
 * hash suffices: the secret is random, not a password a person chose.
 */
export function newApiKey(): { key: string; prefix: string; secretHash: string } {
  const prefix = `mk_${randomBytes(4).toString('hex')}`;
  const secret = randomBytes(32).toString('base64url');
  return { key: `${prefix}_${secret}`, prefix, secretHash: hashSecret(secret) };
}

export async function createApiKey(store: Store, input: { name: string; role: Role; createdBy: string | null }): Promise<{ key: string; record: ApiKeyRecord }> {
  const { key, prefix, secretHash } = newApiKey();
  const record = await store.apiKeys.create({ name: input.name, role: input.role, prefix, secretHash, createdBy: input.createdBy });
  return { key, record };
}

export class Authenticator {
  private readonly verifyKey: Promise<Uint8Array | CryptoKey | null>;
  private readonly algorithms: string[];

  constructor(
    private readonly store: Store,
    private readonly jwt: JwtSettings,
  ) {
    if (jwt.publicKeyFile) {
      const pem = readFileSync(jwt.publicKeyFile, 'utf8');
      this.verifyKey = importSPKI(pem, 'RS256');
      this.algorithms = ['RS256'];
    } else if (jwt.hs256Secret) {
      this.verifyKey = Promise.resolve(new TextEncoder().encode(jwt.hs256Secret));
      this.algorithms = ['HS256'];
    } else {
      this.verifyKey = Promise.resolve(null);
      this.algorithms = [];
    }
  }

  /** Identifies the caller from an Authorization header value ("Bearer <key or token>"). */
  async authenticate(authorization: string | undefined): Promise<Actor> {
    const credential = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
    if (!credential) throw new AuthenticationError('authentication required: send "Authorization: Bearer <API key or token>"');
    if (credential.startsWith('mk_')) return this.fromApiKey(credential);
    return this.fromJwt(credential);
  }

  private async fromApiKey(key: string): Promise<Actor> {
    const match = API_KEY.exec(key);
    if (!match) throw new AuthenticationError('malformed API key');
    const [, prefix, secret] = match as unknown as [string, string, string];
    const record = await this.store.apiKeys.findByPrefix(prefix);
    const expected = Buffer.from(record?.secretHash ?? '0'.repeat(64), 'hex');
    const presented = Buffer.from(hashSecret(secret), 'hex');
    if (!record || !timingSafeEqual(expected, presented)) throw new AuthenticationError(`unknown API key ${prefix}`);
    if (record.revokedAt) throw new AuthenticationError(`API key ${prefix} was revoked`);
    // Last use is informative only (a failed write must not refuse the call), and a minute's
    // precision is plenty: no write per request.
    if (!record.lastUsedAt || Date.now() - record.lastUsedAt.getTime() > 60_000) this.store.apiKeys.touch(prefix).catch(() => undefined);
    return { id: `apikey:${prefix}`, name: record.name, role: record.role };
  }

  private async fromJwt(token: string): Promise<Actor> {
    const key = await this.verifyKey;
    if (!key) throw new AuthenticationError('bearer tokens are not accepted: no JWT key is configured (api.jwt.*); use an API key');
    const options: JWTVerifyOptions = { algorithms: this.algorithms, requiredClaims: ['exp', 'sub'] };
    if (this.jwt.issuer) options.issuer = this.jwt.issuer;
    if (this.jwt.audience) options.audience = this.jwt.audience;
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, key, options));
    } catch (error) {
      throw new AuthenticationError(describeJwtError(error));
    }
    const maxLifetime = this.jwt.maxLifetimeSeconds ?? DEFAULT_JWT_MAX_LIFETIME_S;
    // An iat in the future would shorten the measured lifetime, so it counts from now at most.
    const now = Math.floor(Date.now() / 1000);
    const issuedAt = typeof payload.iat === 'number' ? Math.min(payload.iat, now) : now;
    if (typeof payload.exp === 'number' && payload.exp - issuedAt > maxLifetime) {
      throw new AuthenticationError(`token lifetime exceeds ${maxLifetime} seconds (api.jwt.maxLifetimeSeconds)`);
    }
    const role = payload[this.jwt.roleClaim];
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
      throw new AuthenticationError(`token claim '${this.jwt.roleClaim}' must be one of ${ROLES.join(', ')}`);
    }
    const subject = String(payload.sub);
    return { id: `jwt:${subject}`, name: subject, role: role as Role };
  }
}

function describeJwtError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'token expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `token claim '${error.claim}' is not acceptable: ${error.reason}`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'token signature is not valid';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'token algorithm is not accepted';
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) return 'malformed token';
  return 'token could not be verified';
}

/** Roles allowed by a role: an admin may do what a clinician may; the PACS only notifies. */
export function roleAllows(role: Role, required: readonly Role[]): boolean {
  if (required.length === 0) return true;
  if (role === 'admin') return true;
  return required.includes(role);
}
