import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
/**
 * The CLI's HTTP client (contract 02 "Calls the real CLI makes"): base URL from `--server`, else
 * MAESTRO_API_URL, else MAESTRO_SERVER_URL, else http://localhost:3000; JSON in and out; credential
 * MAESTRO_API_KEY as `X-API-Key`; retries 5xx and network errors MAESTRO_RETRIES (3) times with
 * delay MAESTRO_RETRY_DELAY·2^n ms (1000); never retries 4xx; 204 ⇒ {}.
 */

/** A JSON value from the API, read loosely by the CLI's printers. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** An HTTP or network failure; `status` 0 for network errors. Exit code 2 on 404, else 1. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly status = 0,
    readonly code?: string,
  ) {
    super(message);
  }
  get exitCode(): number {
    return this.status === 404 ? 2 : 1;
  }
}

/** Resolves the API base URL (contract 06 "CLI-side variables"). */
export function apiBase(server?: string, env: NodeJS.ProcessEnv = process.env): string {
  return (server || env.MAESTRO_API_URL || env.MAESTRO_SERVER_URL || 'http://localhost:3000').replace(/\/+$/, '');
}

/**
 * The credentials file written on a server's first start (`~/.maestro/credentials`, or
 * MAESTRO_CREDENTIALS_FILE): `{ apiUrl, apiKey }`. Used when MAESTRO_API_KEY is not set.
 */
export function readCredentials(env: NodeJS.ProcessEnv = process.env): { apiUrl?: string; apiKey?: string } {
  const file = env.MAESTRO_CREDENTIALS_FILE || join(homedir(), '.maestro', 'credentials');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { apiUrl?: string; apiKey?: string };
  } catch {
    return {};
  }
}

/** HTTP client of the CLI: `request` plus get/post/patch/put/delete helpers over `${base}/api`. */
export class ApiClient {
  private readonly retries: number;
  private readonly retryDelay: number;

  constructor(
    readonly base: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.retries = Number(env.MAESTRO_RETRIES ?? 3);
    this.retryDelay = Number(env.MAESTRO_RETRY_DELAY ?? 1000);
  }

  /** Sends a request to `/api<path>`; resolves with the parsed body, throws CliError. */
  async request<T = Json>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const key = this.env.MAESTRO_API_KEY || readCredentials(this.env).apiKey;
    if (key) headers['x-api-key'] = key;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(`${this.base}/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      } catch (err) {
        if (attempt < this.retries) {
          await this.pause(attempt, err);
          continue;
        }
        throw new CliError(`Cannot reach the Maestro server at ${this.base}: ${(err as Error).cause ?? (err as Error).message}`);
      }
      if (res.status === 204) return {} as T;
      const text = await res.text();
      let parsed: Json;
      try {
        parsed = text ? JSON.parse(text) : {};
      } catch {
        parsed = { message: text };
      }
      if (res.ok) return parsed as T;
      if (res.status >= 500 && attempt < this.retries) {
        await this.pause(attempt, parsed?.message);
        continue;
      }
      throw new CliError(parsed?.message || parsed?.error || `HTTP ${res.status}`, res.status, parsed?.code);
    }
  }

  private async pause(attempt: number, why: unknown): Promise<void> {
    if (this.env.MAESTRO_DEBUG === 'true') process.stderr.write(`retry ${attempt + 1}/${this.retries}: ${String(why)}\n`);
    await new Promise((r) => setTimeout(r, this.retryDelay * 2 ** attempt));
  }

  get = <T = Json>(path: string) => this.request<T>('GET', path);
  post = <T = Json>(path: string, body: unknown = {}) => this.request<T>('POST', path, body);
  patch = <T = Json>(path: string, body: unknown) => this.request<T>('PATCH', path, body);
  put = <T = Json>(path: string, body: unknown) => this.request<T>('PUT', path, body);
  delete = <T = Json>(path: string) => this.request<T>('DELETE', path);
}
