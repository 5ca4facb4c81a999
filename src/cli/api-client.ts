import { randomUUID } from 'node:crypto';
import ky, { HTTPError, TimeoutError, type KyInstance } from 'ky';
import { readCredentialsFile as readCredentials, type CredentialsFile } from '../shared/auth/credentials-file.js';
import { isLoopbackHostname } from './connect/loopback.js';

/**
 * The CLI's HTTP client (contract 09 §2 "Transport"; 02 "Calls the real CLI makes"), on ky (a kept
 * fetch client with retries and timeouts). Base URL: `--server`, else MAESTRO_API_URL, else
 * MAESTRO_SERVER_URL, else the credentials file's `apiUrl`, else http://localhost:3000. JSON in and
 * out; credential MAESTRO_API_KEY, else the credentials file's `apiKey`, as `X-API-Key`. Every request
 * has a time limit (MAESTRO_REQUEST_TIMEOUT_MS, default 60,000 ms: above a spawn's 30 s wait). 5xx and
 * network errors are retried MAESTRO_RETRIES times (default 3; 0 means the default, as the original)
 * with a delay of MAESTRO_RETRY_DELAY·2^n ms (default 1000) — but only requests that are safe to
 * repeat: GET, PUT, DELETE, PATCH of fields, and POSTs, each of which carries an `Idempotency-Key`
 * made once per command call, so a retry gets the first attempt's outcome instead of writing twice
 * (contract 00 "Concurrency and retries"). 4xx are never retried. 204 ⇒ {}.
 */

/** A JSON value from the API, read loosely by the CLI's printers. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/**
 * An HTTP or network failure, or a local argument error. `status`: the HTTP status (0 for network and
 * local errors); `network`: the system error code (ECONNREFUSED, ETIMEDOUT, ENOTFOUND, …) of a
 * network failure; `errors`: a 400 body's `errors`; `code`: a local error's code (`no_session`, …).
 * How it is printed and the exit code: output.ts `describeError`.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly status = 0,
    readonly code?: string,
    readonly extra: { network?: string; errors?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message);
  }
}

/** The credentials file's contents (shared/auth/credentials-file.ts). */
export type SavedCredentials = CredentialsFile;

/**
 * Resolves the API base URL (contract 09 §2, 06 "CLI-side variables"; the credentials file's `apiUrl`
 * last). `saved` is the credentials file, read by the caller once.
 */
export function apiBase(server?: string, env: NodeJS.ProcessEnv = process.env, saved: SavedCredentials = readCredentials(env)): string {
  return (server || env.MAESTRO_API_URL || env.MAESTRO_SERVER_URL || saved.apiUrl || 'http://localhost:3000').replace(/\/+$/, '');
}

/**
 * True when URLs `a` and `b` name the same server: the same origin (scheme, host, port), or this
 * machine under two loopback names (`localhost`, `127.0.0.1`, `[::1]`) with the same scheme and port.
 * False when one does not parse.
 */
export function sameOrigin(a: string, b: string): boolean {
  try {
    const x = new URL(a);
    const y = new URL(b);
    if (x.origin === y.origin) return true;
    return x.protocol === y.protocol && x.port === y.port && isLoopbackHostname(x.hostname) && isLoopbackHostname(y.hostname);
  } catch {
    return false;
  }
}

/**
 * The credentials file's `apiKey` for requests to `base`, or undefined: the file names the server that
 * minted the key (`apiUrl`), and a key is never sent to another origin (a `--server`, MAESTRO_API_URL
 * or a project's `.env` pointing elsewhere gets no key from the file). A file without `apiUrl` is taken
 * as the key's own choice of server: its key goes to whichever server is in effect.
 */
export function savedKeyFor(base: string, saved: SavedCredentials): string | undefined {
  if (!saved.apiKey) return undefined;
  return !saved.apiUrl || sameOrigin(saved.apiUrl, base) ? saved.apiKey : undefined;
}

/** `parseInt(v) || fallback`, as the original reads its retry settings (0 and garbage mean the default). */
const intOr = (v: string | undefined, fallback: number) => Number.parseInt(v ?? '', 10) || fallback;

/** The system error code of a failed fetch (undici puts it on `cause`). */
function networkCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: string; errors?: { code?: string }[] } })?.cause;
  return cause?.code ?? cause?.errors?.[0]?.code;
}

/** HTTP client of the CLI: `request` plus get/post/patch/put/delete helpers over `${base}/api`. */
export class ApiClient {
  private readonly http: KyInstance;
  /** MAESTRO_API_KEY, else the credentials file's `apiKey` when it was written for `base` (read once, not per request). */
  private readonly key: string | undefined;

  /** `saved`: the credentials file, when the caller has read it already. */
  constructor(
    readonly base: string,
    env: NodeJS.ProcessEnv = process.env,
    saved: SavedCredentials = env.MAESTRO_API_KEY ? {} : readCredentials(env),
  ) {
    this.key = env.MAESTRO_API_KEY || savedKeyFor(base, saved);
    const retries = intOr(env.MAESTRO_RETRIES, 3);
    const delay = intOr(env.MAESTRO_RETRY_DELAY, 1000);
    this.http = ky.create({
      timeout: intOr(env.MAESTRO_REQUEST_TIMEOUT_MS, 60_000),
      retry: {
        limit: retries,
        // POSTs carry an Idempotency-Key (see `request`), so they may be repeated too
        methods: ['get', 'put', 'head', 'delete', 'options', 'patch', 'post'],
        statusCodes: [500, 502, 503, 504],
        afterStatusCodes: [503],
        maxRetryAfter: 10 * delay,
        delay: (attempt) => delay * 2 ** (attempt - 1),
      },
      hooks: {
        beforeRetry: [
          ({ retryCount, error }) => {
            if (env.MAESTRO_DEBUG === 'true') {
              process.stderr.write(`Request failed (attempt ${retryCount}/${retries + 1}). Retrying in ${delay * 2 ** (retryCount - 1)}ms... (${error.message})\n`);
            }
          },
        ],
      },
    });
  }

  /** Sends a request to `/api<path>`; resolves with the parsed body, throws CliError. */
  async request<T = Json>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.send(method, path, body)).body as T;
  }

  /**
   * `request`, answering also the status and the list headers: `nextCursor` (`X-Next-Cursor`) and
   * `total` (`X-Total-Count`), for callers that page (the MCP tools). 204 ⇒ body `{}`.
   */
  async send(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json; nextCursor?: string; total?: number }> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.key) headers['x-api-key'] = this.key;
    // one key per call, the same on every retry of it
    if (method === 'POST') headers['idempotency-key'] = `cli-${randomUUID()}`;
    let res: Response;
    try {
      res = await this.http(`${this.base}/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      if (err instanceof HTTPError) throw await httpFailure(err.response);
      if (err instanceof TimeoutError) throw new CliError(`Request timed out: ${method} ${this.base}/api${path}`, 0, undefined, { network: 'ETIMEDOUT' });
      const code = networkCode(err);
      throw new CliError(`Cannot reach the Maestro server at ${this.base}: ${code ?? (err as Error).message}`, 0, undefined, { network: code ?? 'ECONNREFUSED' });
    }
    const nextCursor = res.headers.get('x-next-cursor') ?? undefined;
    const totalText = res.headers.get('x-total-count');
    const total = totalText === null ? undefined : Number(totalText);
    if (res.status === 204) return { status: 204, body: {} };
    const text = await res.text();
    let parsed: Json;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new CliError(`The server answered ${res.status} with a body that is not JSON`);
    }
    return { status: res.status, body: parsed, ...(nextCursor ? { nextCursor } : {}), ...(total !== undefined && Number.isFinite(total) ? { total } : {}) };
  }

  get = <T = Json>(path: string) => this.request<T>('GET', path);
  post = <T = Json>(path: string, body: unknown = {}) => this.request<T>('POST', path, body);
  patch = <T = Json>(path: string, body: unknown) => this.request<T>('PATCH', path, body);
  put = <T = Json>(path: string, body: unknown) => this.request<T>('PUT', path, body);
  delete = <T = Json>(path: string) => this.request<T>('DELETE', path);
}

/** A CliError from a non-2xx response: message from `body.message`, then `body.error`, then `HTTP <n>`. */
async function httpFailure(res: Response): Promise<CliError> {
  const text = await res.text().catch(() => '');
  let parsed: Json;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { message: text };
  }
  const message = (typeof parsed?.message === 'string' && parsed.message) || (typeof parsed?.error === 'string' && parsed.error) || `HTTP ${res.status}`;
  return new CliError(message, res.status, typeof parsed?.code === 'string' ? parsed.code : undefined, { errors: parsed?.errors ?? parsed?.details });
}
