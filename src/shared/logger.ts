import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Paths pino redacts in every log line: credentials in headers, bodies and session env
 * (contract 00 / security issue: logs never hold secrets).
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'req.query.ticket',
  'res.headers["set-cookie"]',
  '*.password',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.apiKey',
  'env.MAESTRO_API_KEY',
];

/** Names of environment variables whose values are secrets (security issue: never logged). */
export const SECRET_NAME = /KEY|TOKEN|SECRET|PASSWORD/i;

/** A copy of an env map with the values of secret-named variables replaced by `[redacted]`. */
export function redactEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, SECRET_NAME.test(k) ? '[redacted]' : v]));
}

/**
 * Creates the process logger: JSON lines with `name` (api | worker | cli | start) and redaction of
 * REDACT_PATHS and of `env` objects' secret-named values; pretty output when LOG_FORMAT=pretty.
 */
export function createLogger(name: string, level = 'info'): Logger {
  return pino({
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { env: (env: Record<string, string | undefined>) => redactEnv(env) },
  });
}
