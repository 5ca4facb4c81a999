import type { z } from 'zod';
import type { MeSchema, TokensSchema } from '../../shared/schemas/auth-wire.js';

/**
 * The few calls `maestro connect` makes to the cluster on its own behalf (everything else it only
 * forwards): log in, refresh a token, ask who the credential is, list the projects it may read. All
 * under `/api/v1` (contract 00 "Paths and versions"; auth endpoints in contract 00 "Identity and
 * access"), with JSON bodies, answering the API's error envelope `{error, code, message}` on failure.
 */

/** `fetch` as the proxy uses it (a test may pass its own). */
export type FetchLike = typeof fetch;

/** A non-2xx answer of the cluster: HTTP status, the envelope's `code` and `message`. */
export class ClusterError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'ClusterError';
  }
}

/** `base` (the cluster URL, possibly with a path) joined with an absolute API path such as `/api/v1/auth/me`. */
export function clusterUrl(base: URL, path: string): URL {
  const u = new URL(base.href);
  const [p, q] = path.split('?', 2) as [string, string | undefined];
  u.pathname = base.pathname.replace(/\/+$/, '') + p;
  u.search = q ? `?${q}` : '';
  return u;
}

/** Tokens of a login or a refresh (`POST /auth/login|refresh`; the API's TokensSchema): `expiresIn` in seconds. */
export type Tokens = z.infer<typeof TokensSchema>;

/** `GET /api/v1/auth/me` (the API's MeSchema): who a credential is (`credential` = `user` for a token, `apiKey` for a key). */
export type WhoAmI = z.infer<typeof MeSchema>;

async function answer<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { message: text.slice(0, 200) };
  }
  if (res.ok) return body as T;
  const e = (body ?? {}) as { code?: unknown; message?: unknown };
  throw new ClusterError(res.status, typeof e.code === 'string' ? e.code : undefined, typeof e.message === 'string' ? e.message : `HTTP ${res.status}`);
}

/** The calls; every method throws ClusterError on a non-2xx answer and the fetch error when unreachable. */
export class ClusterApi {
  constructor(
    readonly base: URL,
    private readonly fetchImpl: FetchLike = fetch,
    /** Per-call timeout, ms. */
    private readonly timeoutMs = 15_000,
  ) {}

  private async call<T>(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<{ value: T; date: string | null; next: string | null }> {
    const res = await this.fetchImpl(clusterUrl(this.base, path), {
      method,
      headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    return { value: await answer<T>(res), date: res.headers.get('date'), next: res.headers.get('x-next-cursor') };
  }

  /** `POST /api/v1/auth/login {email, password}` → tokens (401 when refused). */
  async login(email: string, password: string): Promise<Tokens> {
    return (await this.call<Tokens>('POST', '/api/v1/auth/login', {}, { email, password })).value;
  }

  /** `POST /api/v1/auth/refresh {refreshToken}` → new tokens; the old refresh token is spent (rotation). */
  async refresh(refreshToken: string): Promise<Tokens> {
    return (await this.call<Tokens>('POST', '/api/v1/auth/refresh', {}, { refreshToken })).value;
  }

  /**
   * `GET /api/v1/auth/me` with `headers` (the credential), plus the offset of the cluster's clock from
   * this machine's, ms, read from the `Date` header (whole seconds; 0 when absent).
   */
  async whoAmI(headers: Record<string, string>): Promise<{ me: WhoAmI; clockOffsetMs: number }> {
    const sent = Date.now();
    const r = await this.call<WhoAmI>('GET', '/api/v1/auth/me', headers);
    const server = r.date ? Date.parse(r.date) : NaN;
    const local = (sent + Date.now()) / 2;
    return { me: r.value, clockOffsetMs: Number.isFinite(server) ? Math.round(server + 500 - local) : 0 };
  }

  /**
   * Ids of the projects `headers`' credential may read (`GET /api/v1/projects`, pages of 1,000 through
   * `X-Next-Cursor`), at most `max`; undefined when there are more than that.
   */
  async projectIds(headers: Record<string, string>, max: number): Promise<string[] | undefined> {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const path: string = `/api/v1/projects?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const r: { value: { id: string }[]; next: string | null } = await this.call<{ id: string }[]>('GET', path, headers);
      for (const p of r.value) ids.push(p.id);
      if (ids.length > max) return undefined;
      cursor = r.next;
    } while (cursor);
    return ids;
  }
}
