import type { Request, Response } from 'express';
import type { z } from 'zod';
import { PreconditionFailedError, ValidationError, type ValidationDetail } from '../shared/errors.js';
import type { Page, PageRequest } from '../shared/stores/pager.js';
import type { SessionView } from '../shared/stores/session-store.js';
import type { Rendered } from '../shared/stores/documents.js';
import type { Principal } from '../shared/principal.js';
import { LOCAL_ADMIN } from '../shared/principal.js';

/**
 * Messages the original sends from route-level checks, whose envelope has no `statusCode`
 * (contract 02 "Error envelope", shape B).
 */
const ROUTE_LEVEL_MESSAGES = new Set([
  'taskIds is required',
  'message is required',
  'sessionId is required',
  'type is required',
  'Role must be "worker" or "orchestrator"',
  'Invalid role. Must be "worker" or "orchestrator"',
  'name, role, and content are required',
  'At least one of name or content is required',
]);

/**
 * Parses `value` with `schema`; on failure throws ValidationError whose message is the first issue's
 * (schemas declare keys in the contract's check order) and whose `details` list every issue as
 * `{ path: 'body.title', message }` (contract 00 "Input").
 */
export function parse<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query' | 'params'): z.output<S> {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const details: ValidationDetail[] = r.error.issues.map((i) => ({
    path: [where, ...i.path.map(String)].join('.'),
    message: i.message,
  }));
  const message = details[0]?.message ?? 'Invalid request';
  throw new ValidationError(message, details, ROUTE_LEVEL_MESSAGES.has(message) ? 'route' : 'service');
}

/** The request body, `{}` when missing or not JSON (contract 02, D58). */
export function body(req: Request): unknown {
  return req.body === undefined || req.body === null ? {} : req.body;
}

/** The acting principal (set by the auth seam; LOCAL_ADMIN until the security issue). */
export function principal(req: Request): Principal {
  return req.principal ?? LOCAL_ADMIN;
}

/**
 * `If-Match` as an expected version: `"3"`, `3`, `W/"3"` → 3; absent or `*` → undefined; anything
 * else can never match → 412 (contract 00 "Concurrency").
 */
export function ifMatch(req: Request): number | undefined {
  const h = req.get('if-match');
  if (h === undefined || h.trim() === '*' || h.trim() === '') return undefined;
  const m = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(h);
  if (!m) throw new PreconditionFailedError(-1);
  return Number(m[1]);
}

/**
 * Called with the response a handler produced after the client was already answered (503 from the
 * request timeout): status, JSON text to keep (credentials left out, see `sendJson`) and headers. The
 * idempotency middleware sets it so a retry with the same key gets what the write really did
 * (`res.locals.lateResponse`).
 */
export type LateResponse = (status: number, json: string, headers: Record<string, string>) => void;

/** True (and the result handed to `res.locals.lateResponse`) when the client was already answered. */
export function answeredAlready(res: Response, status: number, json: string, headers: Record<string, string> = {}): boolean {
  if (!res.headersSent) return false;
  (res.locals.lateResponse as LateResponse | undefined)?.(status, json, { 'content-type': 'application/json; charset=utf-8', ...headers });
  return true;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Sends a pre-rendered JSON text (a stored document, a page) as it is. What `res.send` does for it
 * (304 when the request is fresh against the response's ETag, no body for HEAD, Content-Length), but
 * without parsing and formatting the Content-Type twice or copying a text of 1,000 characters or more
 * into a Buffer first (issue 12). When `res.send` was wrapped (the Idempotency-Key capture), through it.
 */
export function sendJsonText(res: Response, status: number, json: string): void {
  if (answeredAlready(res, status, json)) return;
  if (Object.hasOwn(res, 'send')) {
    res.status(status).type('application/json').send(json);
    return;
  }
  res.statusCode = status;
  res.setHeader('Content-Type', JSON_TYPE);
  if (res.req.fresh) {
    res.statusCode = 304;
    res.removeHeader('Content-Type');
    res.end();
    return;
  }
  res.setHeader('Content-Length', Buffer.byteLength(json, 'utf8'));
  if (res.req.method === 'HEAD') res.end();
  else res.end(json, 'utf8');
}

/** Sends a rendered entity with its `ETag` (`"<version>"`). */
export function sendEntity(res: Response, status: number, r: Rendered): void {
  if (answeredAlready(res, status, r.json, { etag: `"${r.version}"` })) return;
  res.setHeader('ETag', `"${r.version}"`);
  sendJsonText(res, status, r.json);
}

/**
 * Sends a JS value as JSON. A response that carries a credential (a new API key, a session key) passes
 * `replayable`, the same value without it: that is what an `Idempotency-Key` record keeps and a retry
 * gets back (contract 00 "Spawn": no credential in an idempotency record).
 */
export function sendJson(res: Response, status: number, value: unknown, replayable?: unknown): void {
  const kept = replayable === undefined ? undefined : JSON.stringify(replayable);
  if (answeredAlready(res, status, kept ?? JSON.stringify(value))) return;
  if (kept !== undefined) res.locals.replayBody = kept;
  res.status(status).json(value);
}

/**
 * Sends a page as a plain JSON array with `X-Total-Count`, `X-Next-Cursor` and
 * `Link: <…>; rel="next"` (contract 00 "Lists").
 */
export function sendPage(req: Request, res: Response, page: Page): void {
  const json = `[${page.items.join(',')}]`;
  if (answeredAlready(res, 200, json)) return;
  if (page.total !== undefined) res.setHeader('X-Total-Count', String(page.total));
  if (page.nextCursor) {
    res.setHeader('X-Next-Cursor', page.nextCursor);
    const url = new URL(req.originalUrl, 'http://x');
    url.searchParams.set('cursor', page.nextCursor);
    res.setHeader('Link', `<${url.pathname}${url.search}>; rel="next"`);
  }
  sendJsonText(res, 200, json);
}

/**
 * True for a request through the original's paths (`/api/...`), which keep the original's meaning:
 * whole lists and whole sessions (contract 00 "Paths", "Lists", "Events").
 */
export function legacyPath(req: Request): boolean {
  return req.baseUrl === '/api';
}

/** How a session is answered on this path: whole on `/api`, the bounded view on `/api/v1`. */
export function sessionViewOf(req: Request): SessionView {
  return legacyPath(req) ? 'whole' : 'view';
}

/** Items fetched per Redis page while a whole list is built (the largest page `/api/v1` serves). */
const WHOLE_LIST_CHUNK = 1000;

/**
 * Sends a list (contract 00 "Lists"). `/api/v1`, or `/api` with `?limit=`: one page of `req`
 * (sendPage). `/api` without `?limit=`: the whole list, as the original and its clients expect (they
 * never follow a `Link`), fetched `WHOLE_LIST_CHUNK` at a time (no Redis call works on more than a
 * page) and streamed as it comes, up to `max` (LEGACY_LIST_MAX) items; beyond that the answer stops
 * there with `Link: <…cursor…>; rel="next"` and `X-Next-Cursor`, found by reading ahead first (a list
 * longer than `max` is read twice up to `max`). `fetch(limit, cursor)` returns one page.
 */
export async function sendList(req: Request, res: Response, page: PageRequest, max: number, fetch: (r: PageRequest) => Promise<Page>): Promise<void> {
  if (!legacyPath(req) || req.query.limit !== undefined) return sendPage(req, res, await fetch(page));
  const first = await fetch({ limit: Math.min(WHOLE_LIST_CHUNK, max), cursor: page.cursor });
  if (!first.nextCursor || (first.total !== undefined && first.total <= first.items.length)) return sendPage(req, res, { ...first, nextCursor: undefined });
  // Over the cap (or not known): find the cursor at the cap before anything is sent.
  let capCursor: string | undefined;
  if (first.total === undefined || first.total > max) {
    let seen = first.items.length;
    let cursor: string | undefined = first.nextCursor;
    while (cursor && seen < max) {
      const p = await fetch({ limit: Math.min(WHOLE_LIST_CHUNK, max - seen), cursor });
      seen += p.items.length;
      cursor = p.nextCursor;
    }
    if (cursor && seen >= max) capCursor = cursor;
  }
  if (res.headersSent) return; // answered by the request timeout meanwhile
  if (first.total !== undefined) res.setHeader('X-Total-Count', String(first.total));
  if (capCursor) {
    res.setHeader('X-Next-Cursor', capCursor);
    const url = new URL(req.originalUrl, 'http://x');
    url.searchParams.set('cursor', capCursor);
    res.setHeader('Link', `<${url.pathname}${url.search}>; rel="next"`);
  }
  res.status(200).type('application/json');
  const write = (text: string) => (res.write(text) ? Promise.resolve() : new Promise<void>((resolve) => res.once('drain', () => resolve())));
  let sent = 0;
  let chunk: Page = first;
  await write('[');
  for (;;) {
    const items = chunk.items.slice(0, max - sent);
    if (items.length) await write((sent > 0 ? ',' : '') + items.join(','));
    sent += items.length;
    if (!chunk.nextCursor || sent >= max || res.destroyed) break;
    chunk = await fetch({ limit: Math.min(WHOLE_LIST_CHUNK, max - sent), cursor: chunk.nextCursor });
  }
  res.end(']');
}
