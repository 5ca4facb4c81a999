import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from 'cors';
import type { Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import type { Logger } from '../../shared/logger.js';
import type { Metrics } from '../../shared/metrics.js';

const LOGGED_HEADERS = ['user-agent', 'x-forwarded-for', 'origin', 'content-length'];
const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'cookie'];
/** Requests without a log line (probes and scrapes; the exact URL, so `/health?deep=1` is logged). */
const UNLOGGED_URLS = new Set(['/health', '/metrics', '/ready']);
/** Headers a browser may read from a cross-origin response (CORS `Access-Control-Expose-Headers`). */
export const EXPOSED_HEADERS = ['ETag', 'Link', 'X-Next-Cursor', 'X-Total-Count', 'X-Request-Id', 'Retry-After'];
const REQUEST_ID = /^[\w.:-]{1,128}$/;
/** What the request line's logger redacts (REDACT_PATHS of logger.ts that can occur in its shape). */
const REQUEST_REDACT_PATHS = CREDENTIAL_HEADERS.map((h) => `req.headers["${h}"]`);

/**
 * What the request log line keeps of a request: id, method, url, client address and a few headers;
 * credential headers appear only as `[redacted]` (so a line shows that one was sent, never its value).
 */
export function requestLogFields(req: IncomingMessage & { id?: unknown; originalUrl?: string }) {
  const headers: Record<string, string> = {};
  for (const h of LOGGED_HEADERS) {
    const v = req.headers[h];
    if (v !== undefined) headers[h] = String(v);
  }
  for (const h of CREDENTIAL_HEADERS) if (req.headers[h] !== undefined) headers[h] = '[redacted]';
  return { id: req.id, method: req.method, url: req.originalUrl ?? req.url, remoteAddress: req.socket?.remoteAddress, headers };
}

/** CORS of the API port (contract 06, D40; CORS_ENABLED, CORS_ORIGINS, CORS_CREDENTIALS). */
export interface CorsSettings {
  /** Allowed origins; `*` allows any. */
  origins: string[];
  /** `Access-Control-Allow-Credentials: true` (the origin is then reflected instead of `*`). */
  credentials: boolean;
}

/** What `requestBasics` is built from. */
export interface RequestBasicsOptions {
  /** The process logger: one line per request goes to a child of it. */
  logger: Logger;
  /** Absent: no HTTP metrics. */
  metrics?: Metrics;
  /** REQUEST_TIMEOUT_MS: a request not answered by then gets 503 (0 = never). */
  timeoutMs: number;
  /** Paths not timed here (spawn, which has its own bounded wait). */
  untimed: (path: string) => boolean;
  /** Absent: no CORS headers (CORS_ENABLED=false). */
  cors?: CorsSettings;
}

type HeaderList = [name: string, value: string][];

/**
 * The headers `middleware` sets on a response when it has nothing to read from the request (helmet's,
 * a static CORS configuration's), captured once by running it against a stand-in response.
 */
function capturedHeaders(middleware: RequestHandler, reqHeaders: Record<string, string> = {}): HeaderList {
  const out: HeaderList = [];
  const res = {
    setHeader: (name: string, value: unknown) => {
      out.push([name, String(value)]);
      return res;
    },
    getHeader: () => undefined,
    removeHeader: () => undefined,
  };
  let passed = false;
  middleware({ method: 'GET', headers: reqHeaders } as unknown as Request, res as unknown as Response, () => (passed = true));
  if (!passed) throw new Error('header middleware did not pass a plain GET on');
  return out;
}

/** The route template of a finished request (`/api/v1/tasks/:id`), or `unmatched`: never an id. */
function routeLabel(req: Request): string {
  const path = req.route?.path as string | string[] | undefined;
  if (!path) return 'unmatched';
  return `${req.baseUrl}${Array.isArray(path) ? path[0] : path}`;
}

/**
 * Everything every request gets, in one middleware layer with one `close` listener (issue 12: each
 * of these used to be its own layer with its own listeners, and pino-http built a child logger per
 * request):
 *
 * - **Request id**: `X-Request-Id` (≤ 128 of `[\w.:-]`) is kept, else a UUID is made; `req.id` and
 *   the response header.
 * - **Log line**: one JSON line per request when it closes, `{req: requestLogFields, res:
 *   {statusCode}, responseTime (ms), msg: 'request completed'}` at info, warn for 4xx, error for 5xx
 *   (`msg: 'request errored'`, with `err`), through a child of the process logger that redacts the
 *   credential headers; none for `/health`, `/metrics`, `/ready` (issue 6; README "Operations").
 * - **Metrics**: `http_requests_in_flight`, and `http_request_duration_seconds{method, route,
 *   status_code}` by route template.
 * - **Request timeout**: 503 UNAVAILABLE ("Request timed out", `Retry-After: 1`) when the request is
 *   not answered within `timeoutMs`; sets `res.locals.timedOut`; the handler keeps running and hands
 *   its late outcome to `res.locals.lateResponse` (see http.ts `answeredAlready`).
 * - **Security headers**: helmet's (no CSP, no CORP), computed once and set from a list.
 * - **CORS**: with any origin and no credentials (the default) the same two headers on every response,
 *   computed once; other settings and every preflight (`OPTIONS`, answered 204) go through `cors`.
 */
export function requestBasics(o: RequestBasicsOptions): RequestHandler {
  const { metrics, timeoutMs, untimed } = o;
  // The request line's fields are built by requestLogFields, which leaves credentials out; its
  // logger redacts the credential headers once more (the process logger's wildcard paths, which
  // match nothing in this shape, cost ~4 µs a line).
  const logger = o.logger.child({}, { redact: { paths: REQUEST_REDACT_PATHS, censor: '[redacted]' } });
  const security = capturedHeaders(helmet({ contentSecurityPolicy: false, crossOriginResourcePolicy: false }));
  let corsMiddleware: RequestHandler | undefined;
  let corsStatic: HeaderList | undefined;
  if (o.cors) {
    const { origins, credentials } = o.cors;
    corsMiddleware = cors({
      origin: origins.includes('*') ? (credentials ? true : '*') : origins,
      credentials,
      exposedHeaders: EXPOSED_HEADERS,
    });
    if (origins.includes('*') && !credentials) corsStatic = capturedHeaders(corsMiddleware, { origin: 'http://any.example' });
  }

  return (req, res, next) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    req.id = id;
    res.setHeader('X-Request-Id', id);
    const started = performance.now();
    const logged = !UNLOGGED_URLS.has(req.url);
    metrics?.httpInFlight.inc();
    let timer: NodeJS.Timeout | undefined;
    if (timeoutMs > 0 && !untimed(req.path)) {
      timer = setTimeout(() => timeOut(res), timeoutMs);
      timer.unref();
    }
    res.once('close', () => {
      if (timer) clearTimeout(timer);
      const ms = performance.now() - started;
      if (metrics) {
        metrics.httpInFlight.dec();
        metrics.httpDuration.observe({ method: req.method, route: routeLabel(req), status_code: String(res.statusCode) }, ms / 1000);
      }
      if (logged) logLine(logger, req, res, ms);
    });
    for (const [name, value] of security) res.setHeader(name, value);
    if (corsStatic && req.method !== 'OPTIONS') {
      for (const [name, value] of corsStatic) res.setHeader(name, value);
      next();
    } else if (corsMiddleware) corsMiddleware(req, res, next);
    else next();
  };
}

/** The request timeout's answer (see `requestBasics`). */
function timeOut(res: Response): void {
  if (res.headersSent) return;
  res.locals.timedOut = true;
  res.setHeader('Retry-After', '1');
  res.status(503).json({ error: true, code: 'UNAVAILABLE', message: 'Request timed out' });
}

/** Writes the request's log line (the fields and levels of pino-http's, which this replaces). */
function logLine(logger: Logger, req: Request, res: ServerResponse, ms: number): void {
  const status = res.statusCode;
  const fields: Record<string, unknown> = { req: requestLogFields(req), res: { statusCode: status }, responseTime: Math.round(ms) };
  if (status >= 500) {
    fields.err = new Error(`failed with status code ${status}`);
    logger.error(fields, 'request errored');
  } else if (status >= 400) logger.warn(fields, 'request completed');
  else logger.info(fields, 'request completed');
}

