import { randomBytes } from 'node:crypto';
import { writeCredentialsFile } from '../shared/auth/credentials-file.js';
import type { IdentityStore } from '../shared/auth/identity-store.js';
import type { Logger } from '../shared/logger.js';
import type { RedisClient } from '../shared/redis-connection.js';

/** The first admin's credentials given by the operator (MAESTRO_ADMIN_EMAIL / MAESTRO_ADMIN_PASSWORD). */
export interface GivenAdmin {
  email: string;
  /** PASSWORD_MIN_LENGTH..PASSWORD_MAX_LENGTH characters (shared/auth/passwords.ts; checked by loadConfig). */
  password: string;
}

/**
 * First start with no users (contract 00 "Identity and access"): one replica (a Redis lock decides)
 * creates an admin and an API key and writes them to `file` (mode 0600), which the CLI reads by
 * default. The admin is `given` (issue 16: the Helm chart's Secret, since a pod's home is read-only)
 * or `admin@localhost` with a random password. Returns true when this call created them. A failed
 * write of `file` is logged (without secrets) and not thrown: with `given` the operator has them.
 */
export async function bootstrapAdmin(
  identity: IdentityStore,
  redis: RedisClient,
  prefix: string,
  file: string,
  apiUrl: string,
  logger: Logger,
  given?: GivenAdmin,
): Promise<boolean> {
  if ((await identity.userCount()) > 0) return false;
  if ((await redis.set(`${prefix}bootstrap`, '1', 'NX')) !== 'OK') return false;
  const password = given?.password ?? randomBytes(18).toString('base64url');
  const user = await identity.register(given?.email ?? 'admin@localhost', password, 'Administrator', true);
  const key = await identity.createApiKey(user.id, { name: 'bootstrap (CLI)' });
  try {
    await writeCredentialsFile(file, { apiUrl, apiKey: key.key, email: user.email, password });
  } catch (err) {
    if (given) {
      // The Helm chart: a read-only home, and the operator's Secret holds the password.
      logger.warn({ file, email: user.email }, `First start: created the admin ${user.email} with the password given by MAESTRO_ADMIN_PASSWORD (${file} not written: ${(err as Error).message})`);
      return true;
    }
    // A read-only home: the admin exists, its secrets are not kept anywhere (never in logs); an
    // operator mints a key with Redis access (issue 14), or sets MAESTRO_ADMIN_EMAIL/PASSWORD next time.
    logger.error(
      { file, email: user.email, err: (err as Error).message },
      `First start: created ${user.email} but could not write ${file}; get a key with \`maestro admin reset-key --email ${user.email}\` (REDIS_URL, MAESTRO_REDIS_PREFIX set)`,
    );
    return true;
  }
  logger.warn({ file, email: user.email }, `First start: created the admin ${user.email} and an API key; credentials written to ${file} (mode 0600)`);
  return true;
}
