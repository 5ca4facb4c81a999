import { CliError, type Json } from './api-client.js';

/**
 * What the CLI prints, as the original does (contract 09 §2 "Output", "Errors → exit codes"): with
 * `--json`, success is `{"success":true,"data":…}` on stdout (2-space JSON); failures are
 * `{success:false, error, message, details[, suggestion]}` on stdout; local argument errors go to
 * stderr as `{success:false, error, message}` even with `--json`. Text mode prints the command's text
 * on stdout and errors on stderr as `\nError: <message>\n   Details: {…}\n   <suggestion>\n`.
 */

/** Global output mode, set once from `--json` before a command runs. */
export const output = { json: false };

/** Prints a success: `{success:true,data}` with --json, else `text(data)` (nothing when it is ''). */
export function printResult(data: Json, text: (v: Json) => string): void {
  if (output.json) {
    process.stdout.write(JSON.stringify({ success: true, data }, null, 2) + '\n');
    return;
  }
  const t = text(data);
  if (t !== '') process.stdout.write(t + '\n');
}

/** A described failure: the original's `error` code, exit status, message, details and suggestion. */
export interface Failure {
  error: string;
  exit: number;
  message: string;
  details?: Record<string, unknown>;
  suggestion?: string;
  /** A local argument error (written to stderr even with --json). */
  local?: boolean;
}

/**
 * The original's `handleError` (contract 09 §2 table): 404 → resource_not_found (exit 2), 403 →
 * permission_denied (4), 400 → invalid_request (1, `details.errors`), 5xx → server_error (1), other
 * statuses → http_error (1), ECONNREFUSED → connection_refused (3), ETIMEDOUT / ENOTFOUND and other
 * network failures → network_error (3), a message matching /not found/i → resource_not_found (2), a
 * local error its own code (1), anything else unknown_error (1). 401 (this server's addition) →
 * unauthorized (1), with how to give a credential.
 */
export function describeError(err: unknown, server: string): Failure {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof CliError) {
    const s = err.status;
    if (s === 404) return { error: 'resource_not_found', exit: 2, message: message || 'Resource not found', details: { status: 404 }, suggestion: 'Use list commands to see available resources' };
    if (s === 403) return { error: 'permission_denied', exit: 4, message, details: { status: 403 } };
    if (s === 401) {
      return { error: 'unauthorized', exit: 1, message, details: { status: 401 }, suggestion: 'Set MAESTRO_API_KEY (or ~/.maestro/credentials), or run `maestro connect <server-url>` and point this CLI at it' };
    }
    if (s === 400) return { error: 'invalid_request', exit: 1, message, details: { status: 400, errors: err.extra.errors } };
    if (s >= 500) return { error: 'server_error', exit: 1, message, details: { status: s } };
    if (s > 0) return { error: 'http_error', exit: 1, message, details: { status: s } };
    const net = err.extra.network;
    if (net === 'ECONNREFUSED') return { error: 'connection_refused', exit: 3, message, details: { server, errno: net }, suggestion: 'Is the Maestro server running? Check MAESTRO_API_URL / --server' };
    if (net) return { error: 'network_error', exit: 3, message, details: { server, errno: net } };
    if (err.code) return { error: err.code, exit: 1, message, ...(err.extra.details ? { details: err.extra.details } : {}), local: true };
  }
  if (/not found/i.test(message)) return { error: 'resource_not_found', exit: 2, message, details: {}, suggestion: 'Use list commands to see available resources' };
  return { error: 'unknown_error', exit: 1, message, details: { originalError: message } };
}

/** Prints a failure as `describeError` describes it (on stderr when `toStderr`); returns its exit status. */
export function printError(err: unknown, server: string, toStderr = false): number {
  const f = describeError(err, server);
  if (output.json) {
    const body = { success: false, error: f.error, message: f.message, ...(f.details ? { details: f.details } : {}), ...(f.suggestion ? { suggestion: f.suggestion } : {}) };
    (f.local || toStderr ? process.stderr : process.stdout).write(JSON.stringify(body, null, 2) + '\n');
  } else {
    let text = `\nError: ${f.message}\n`;
    if (f.details && Object.keys(f.details).length) text += `   Details: ${JSON.stringify(f.details)}\n`;
    if (f.suggestion) text += `   ${f.suggestion}\n`;
    process.stderr.write(text);
  }
  return f.exit;
}

/** A local argument error (contract 09: `outputErrorJSON`), e.g. no session or no project. */
export function localError(code: string, message: string): CliError {
  return new CliError(message, 0, code);
}
