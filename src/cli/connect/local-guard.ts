import type { IncomingMessage } from 'node:http';
import { isLocalOrigin, isLoopbackAddress, isLoopbackHostHeader } from './loopback.js';

/**
 * Who may use the proxy (contract 08, "Original clients": loopback only), checked on every HTTP
 * request and every WebSocket upgrade before anything is forwarded:
 *
 * 1. the peer is a loopback address (the listener is loopback already: defence in depth);
 * 2. `Host` names this machine (a page of another site made to resolve to 127.0.0.1 — DNS rebinding —
 *    still sends its own name);
 * 3. a request with an `Origin` (a browser page) comes from a local page (loopback name, the desktop
 *    UI's `tauri://localhost` / `http(s)://tauri.localhost`) or an origin given with `--allow-origin`:
 *    any other web page the user visits could otherwise use the user's rights through the proxy.
 *
 * Requests without `Origin` (the CLI, scripts) pass 3. A refusal is 403 with the API's error envelope
 * `{error: true, code: 'FORBIDDEN', message}` (contract 02/00), naming what to change.
 */
export type GuardResult = { ok: true; origin?: string } | { ok: false; status: 403; message: string };

/** Runs checks 1–3 above; `allowOrigins` are the exact extra origins of `--allow-origin`. */
export function guardRequest(req: IncomingMessage, allowOrigins: ReadonlySet<string>): GuardResult {
  if (!isLoopbackAddress(req.socket.remoteAddress)) {
    return { ok: false, status: 403, message: 'maestro connect serves this machine only (loopback clients)' };
  }
  if (!isLoopbackHostHeader(req.headers.host)) {
    return { ok: false, status: 403, message: `Host '${req.headers.host}' is not a name of this machine: use http://localhost:<port> or http://127.0.0.1:<port>` };
  }
  const origin = req.headers.origin;
  if (origin === undefined) return { ok: true };
  if (isLocalOrigin(origin) || allowOrigins.has(origin)) return { ok: true, origin };
  return {
    ok: false,
    status: 403,
    message: `Origin '${origin}' may not use maestro connect: it adds your credential to every request, so only local pages may. Allow this one with --allow-origin ${origin}`,
  };
}

/** The API's error envelope as JSON text. */
export function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: true, code, message });
}

/** Methods the API has (answered to a CORS preflight). */
const METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';
/** A header list a preflight may ask for: tokens and commas only (echoed back). */
const HEADER_LIST = /^[\w!#$%&'*+.^`|~-]+(\s*,\s*[\w!#$%&'*+.^`|~-]+)*$/;

/**
 * CORS on a response to an allowed page (`origin` set by `guardRequest`): the proxy answers for itself,
 * whatever origins the cluster allows, since it decided who may use it. `exposed` is the cluster's
 * `Access-Control-Expose-Headers` (Link, X-Next-Cursor, X-Total-Count, ETag, Retry-After, …), kept.
 */
export function corsHeaders(origin: string, exposed?: string | string[]): Record<string, string> {
  const h: Record<string, string> = { 'access-control-allow-origin': origin, vary: 'Origin' };
  if (exposed) h['access-control-expose-headers'] = Array.isArray(exposed) ? exposed.join(', ') : exposed;
  return h;
}

/** True for a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`). */
export function isPreflight(req: IncomingMessage): boolean {
  return req.method === 'OPTIONS' && typeof req.headers['access-control-request-method'] === 'string';
}

/** The answer to an allowed page's preflight: 204 with these headers (cached by the browser 10 min). */
export function preflightHeaders(origin: string, req: IncomingMessage): Record<string, string> {
  const asked = req.headers['access-control-request-headers'];
  const h: Record<string, string> = {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': METHODS,
    'access-control-max-age': '600',
    vary: 'Origin, Access-Control-Request-Headers',
    'content-length': '0',
  };
  if (typeof asked === 'string' && HEADER_LIST.test(asked.trim())) h['access-control-allow-headers'] = asked.trim();
  return h;
}
