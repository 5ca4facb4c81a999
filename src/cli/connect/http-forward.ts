import { request as httpRequest, type Agent, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ConnectLog } from './connect-log.js';
import type { CredentialSource } from './credential.js';
import { corsHeaders, errorBody } from './local-guard.js';

/**
 * HTTP forwarding of `maestro connect` (contract 08, "Original clients on a secured cluster"): each
 * request goes to the cluster with its method, path and query unchanged (under the server URL's path,
 * if it has one), its headers minus the hop-by-hop ones (RFC 9110 §7.6.1) and minus any credential the
 * client sent (`Authorization`, `X-API-Key`, `Cookie`), plus the user's credential. Bodies stream both
 * ways (a whole legacy list is never held in memory); the answer comes back as the cluster gave it,
 * minus hop-by-hop headers, `Set-Cookie` and the cluster's own CORS headers (the proxy answers CORS
 * for the pages it allows, local-guard.ts).
 *
 * A 401 of the cluster (outside the login/register/refresh routes, whose 401 is about the body) means
 * the credential was refused: it is logged (credential.ts) and passed on; with a login, the token is
 * renewed and a request without a body is sent once more. The cluster unreachable → 502
 * `BAD_GATEWAY` in the API's envelope; the client going away aborts the upstream request.
 */

/** Request headers never forwarded: hop-by-hop, the client's own credentials, and what the proxy decides itself. */
const DROP_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // answered by the proxy's own server already
  'expect',
  'host',
  'authorization',
  'x-api-key',
  'cookie',
  // the proxy checked the page itself; the cluster sees a client of its own, not the browser
  'origin',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
]);

/** Response headers never passed back: hop-by-hop, cookies, and CORS (answered by the proxy). */
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'set-cookie']);

/** Routes whose 401 says something about the request's body (a wrong password), not about the proxy's credential. */
const BODY_AUTH = /^\/api(\/v1)?\/auth\/(login|register|refresh)(\/|\?|$)/;

/** Names listed in `Connection` (also hop-by-hop for that message). */
function connectionTokens(h: IncomingHttpHeaders): Set<string> {
  const v = h.connection;
  return new Set((Array.isArray(v) ? v.join(',') : (v ?? '')).split(',').map((s) => s.trim().toLowerCase()).filter(Boolean));
}

/** The client's request headers to forward (see DROP_REQUEST); values as Node parsed them. */
export function forwardedRequestHeaders(h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = connectionTokens(h);
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || DROP_REQUEST.has(k) || listed.has(k)) continue;
    out[k] = v;
  }
  return out;
}

/** The cluster's response headers to pass back (see DROP_RESPONSE and the CORS rule above). */
export function forwardedResponseHeaders(h: IncomingHttpHeaders, origin: string | undefined): OutgoingHttpHeaders {
  const listed = connectionTokens(h);
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || DROP_RESPONSE.has(k) || listed.has(k) || k.startsWith('access-control-')) continue;
    out[k] = v;
  }
  if (origin) {
    Object.assign(out, corsHeaders(origin, h['access-control-expose-headers']));
    const vary = h.vary;
    if (vary && !/\borigin\b/i.test(String(vary))) out.vary = `${String(vary)}, Origin`;
  }
  return out;
}

/** What the forwarder needs. */
export interface ForwardDeps {
  upstream: URL;
  credential: CredentialSource;
  log: ConnectLog;
  /** Keep-alive agent for the cluster (http or https to match `upstream`). */
  agent: Agent;
}

/** True when the request has no body (no Content-Length above 0 and no Transfer-Encoding). */
function bodyless(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (len === undefined || len === '0');
}

/**
 * Returns the handler that forwards one request (already admitted by local-guard.ts; `origin` is the
 * allowed page's origin, if any).
 */
export function createForwarder(d: ForwardDeps): (req: IncomingMessage, res: ServerResponse, origin: string | undefined) => void {
  const send = d.upstream.protocol === 'https:' ? httpsRequest : httpRequest;
  const basePath = d.upstream.pathname.replace(/\/+$/, '');
  const port = d.upstream.port ? Number(d.upstream.port) : undefined;
  const hostname = d.upstream.hostname.replace(/^\[(.*)\]$/, '$1');

  return (req, res, origin) => {
    const path = basePath + (req.url ?? '/');
    const headers = forwardedRequestHeaders(req.headers);
    const what = `${req.method} ${req.url}`;
    const started = Date.now();
    let upstreamReq: ReturnType<typeof send> | undefined;
    // The client went away before the answer was complete: stop the cluster's side too.
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq?.destroy();
    });

    const attempt = async (retry: boolean) => {
      const cred = await d.credential.headers();
      if (res.destroyed) return;
      const up = send({ hostname, port, method: req.method, path, headers: { ...headers, ...cred }, agent: d.agent });
      upstreamReq = up;
      up.on('response', (ures) => void answer(up, ures, cred, retry));
      up.on('error', (err: Error & { code?: string }) => {
        if (res.headersSent) {
          res.destroy(err);
          return;
        }
        d.log.warn(`cannot reach the cluster at ${d.upstream.origin} for ${what}: ${err.code ?? err.message}`, 'upstream-unreachable', 5000);
        res.writeHead(502, { 'content-type': 'application/json', ...(origin ? corsHeaders(origin) : {}) });
        res.end(errorBody('BAD_GATEWAY', `maestro connect: cannot reach the cluster at ${d.upstream.origin} (${err.code ?? err.message})`));
      });
      if (retry) up.end();
      else req.pipe(up);
    };

    const answer = async (up: ReturnType<typeof send>, ures: IncomingMessage, cred: Record<string, string>, retried: boolean) => {
      const status = ures.statusCode ?? 502;
      if (status === 401 && !BODY_AUTH.test(req.url ?? '')) {
        const renewed = await d.credential.rejected(cred, `401 on ${what}`);
        if (renewed && !retried && bodyless(req) && !res.destroyed) {
          ures.resume();
          up.destroy();
          return attempt(true);
        }
      }
      res.writeHead(status, ures.statusMessage, forwardedResponseHeaders(ures.headers, origin));
      ures.pipe(res);
      ures.on('end', () => d.log.debug(`${what} → ${status} (${Date.now() - started} ms)`));
      ures.on('error', (err) => res.destroy(err));
    };

    attempt(false).catch((err: Error) => {
      d.log.error(`forwarding ${what} failed: ${err.message}`);
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(errorBody('BAD_GATEWAY', 'maestro connect: forwarding failed'));
      } else res.destroy();
    });
  };
}
