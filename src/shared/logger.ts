import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

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
 * Whether logs are pretty-printed: LOG_FORMAT=pretty, or LOG_FORMAT unset while stdout is a TTY and
 * NODE_ENV is development (issue 6: JSON for machines, readable lines for a person at a terminal).
 */
export function prettyLogs(format: 'json' | 'pretty' | undefined, nodeEnv: string | undefined, isTty = Boolean(process.stdout.isTTY)): boolean {
  if (format) return format === 'pretty';
  return isTty && (nodeEnv ?? 'development') === 'development';
}

/**
 * Whether `npm start` (src/start.ts) and the API and worker it runs log pretty: LOG_FORMAT when set
 * (`json` still forces JSON lines), else pretty exactly when stdout is a TTY, whatever NODE_ENV says
 * (issue 16, item 2: `npm start` at a terminal is a person reading; piped or under a supervisor, a
 * machine). The API and worker started on their own keep `prettyLogs`.
 */
export function startPrettyLogs(format: 'json' | 'pretty' | undefined, isTty = Boolean(process.stdout.isTTY)): boolean {
  return format ? format === 'pretty' : isTty;
}

/**
 * Creates the process logger: JSON lines with `name` (api | worker | cli | start) and redaction of
 * REDACT_PATHS and of `env` objects' secret-named values; with `pretty`, the same records rendered by
 * pino-pretty (colours, local time) to stdout synchronously.
 */
export function createLogger(name: string, level = 'info', prettyOutput = false): Logger {
  const options = {
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { env: (env: Record<string, string | undefined>) => redactEnv(env) },
  };
  if (!prettyOutput) return pino(options);
  return pino(options, pretty({ colorize: Boolean(process.stdout.isTTY), translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true }));
}
