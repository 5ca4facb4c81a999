/**
 * The rule of MAESTRO_JWT_KEYS, shared by the configuration (checked at start-up: a bad value is a
 * ConfigError, never a 500 from `register` or a 401 on every Bearer request; issue 16, contract 06
 * D57) and the key ring (src/shared/auth/tokens.ts).
 */

/**
 * Shortest secret, in characters (UTF-8 encoded, so at least as many bytes): an HS256 key must be at
 * least as long as the hash, 256 bits (RFC 7518 §3.2).
 */
export const JWT_SECRET_MIN_LENGTH = 32;

/** One signing key of MAESTRO_JWT_KEYS. */
export interface JwtKeySpec {
  kid: string;
  secret: string;
}

/**
 * Parses `kid:secret[,kid2:secret2…]` (entries trimmed, empty ones skipped; a secret may contain `:`):
 * at least one entry, every kid non-empty and distinct, every secret ≥ JWT_SECRET_MIN_LENGTH
 * characters. Throws Error whose message names the entry by position (and kid) and the rule, never a
 * secret, e.g. "entry 2 (kid 'k2') has a secret of fewer than 32 characters (HS256 needs 256 bits)".
 */
export function parseJwtKeys(spec: string): JwtKeySpec[] {
  const entries = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (entries.length === 0) throw new Error('must list at least one kid:secret');
  const keys: JwtKeySpec[] = [];
  entries.forEach((entry, i) => {
    const at = entry.indexOf(':');
    if (at <= 0) throw new Error(`entry ${i + 1} must be kid:secret (a non-empty kid, a colon, then the secret)`);
    const kid = entry.slice(0, at);
    const secret = entry.slice(at + 1);
    if (secret.length < JWT_SECRET_MIN_LENGTH) {
      throw new Error(`entry ${i + 1} (kid '${kid}') has a secret of fewer than ${JWT_SECRET_MIN_LENGTH} characters (HS256 needs 256 bits)`);
    }
    if (keys.some((k) => k.kid === kid)) throw new Error(`entry ${i + 1} repeats kid '${kid}'`);
    keys.push({ kid, secret });
  });
  return keys;
}
