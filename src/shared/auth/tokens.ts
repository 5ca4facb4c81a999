import { randomBytes } from 'node:crypto';
import { jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { RedisClient } from '../redis-connection.js';
import { parseJwtKeys } from './jwt-keys.js';

/** Issuer and audience of every access token (checked on verify). */
export const JWT_ISSUER = 'maestro';
export const JWT_AUDIENCE = 'maestro-api';
/** The only algorithm accepted (pinned: `alg: none` and others are refused). */
export const JWT_ALG = 'HS256';

/** Signing keys by `kid`; the first is used to sign, all are accepted to verify (rotation). */
export interface KeyRing {
  current: string;
  keys: Map<string, Uint8Array>;
}

/**
 * The key ring from MAESTRO_JWT_KEYS (`kid:secret,kid2:secret2`, secrets ≥
 * JWT_SECRET_MIN_LENGTH = 32 chars, see jwt-keys.ts; the first signs; a bad value throws Error naming the rule).
 * Rotation: put the new key first and keep the old one until its tokens have expired. Without the
 * variable, one random key is generated once and shared through Redis (`<prefix>jwt:key`) so every
 * replica signs and verifies alike.
 */
export async function loadKeyRing(spec: string | undefined, redis: RedisClient, prefix: string): Promise<KeyRing> {
  const keys = new Map<string, Uint8Array>();
  let current = '';
  if (spec) {
    // The configuration checked this rule at start-up already (issue 16); a caller that skipped it gets the same Error here.
    for (const { kid, secret } of parseJwtKeys(spec)) {
      keys.set(kid, new TextEncoder().encode(secret));
      current ||= kid;
    }
    return { current, keys };
  }
  const key = `${prefix}jwt:key`;
  await redis.set(key, `k1:${randomBytes(32).toString('base64url')}`, 'NX');
  const stored = (await redis.get(key))!;
  const [kid, secret] = stored.split(':') as [string, string];
  keys.set(kid, new TextEncoder().encode(secret));
  return { current: kid, keys };
}

/** Signs a short-lived access token for `userId` (`sub`), `ttlSeconds` long. */
export function signAccessToken(ring: KeyRing, userId: string, ttlSeconds: number): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: JWT_ALG, kid: ring.current, typ: 'JWT' })
    .setSubject(userId)
    .setIssuer(JWT_ISSUER)
    .setAudience(JWT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(ring.keys.get(ring.current)!);
}

/** Verifies an access token (kid, HS256 only, iss, aud, exp); returns its payload or throws. */
export async function verifyAccessToken(ring: KeyRing, token: string): Promise<JWTPayload & { sub: string }> {
  const { payload } = await jwtVerify(
    token,
    (header) => {
      const k = header.kid ? ring.keys.get(header.kid) : undefined;
      if (!k) throw new Error('unknown kid');
      return k;
    },
    { issuer: JWT_ISSUER, audience: JWT_AUDIENCE, algorithms: [JWT_ALG] },
  );
  if (typeof payload.sub !== 'string') throw new Error('no subject');
  return payload as JWTPayload & { sub: string };
}
