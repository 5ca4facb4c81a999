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
  'res.headers["set-cookie"]',
  '*.password',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.apiKey',
  'env.MAESTRO_API_KEY',
];

/** Creates the process logger: JSON lines with `name` (api | worker | cli | start) and redaction. */
export function createLogger(name: string, level = 'info'): Logger {
  return pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}
