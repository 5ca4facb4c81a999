import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { Request } from 'express';
import { ApiCallError, type ApiReply, type McpApi } from '../mcp/api-caller.js';

/**
 * How a tool of the Streamable HTTP transport (routes/mcp.ts) calls the API as its caller (contract 08,
 * "MCP": "each a thin call of the HTTP API … with the same credentials as any `/api/v1` route").
 *
 * Decision: the replica calls **its own HTTP API over the local socket** the MCP request arrived on
 * (`req.socket.localAddress:localPort`, an address of this host the server listens on), forwarding
 * the request's own `Authorization` / `X-API-Key` header, rather than calling the stores in-process.
 * A tool call then is an ordinary API request in every respect, by construction: the same
 * authentication (a revoked key stops working mid-session), the same access policy (another user's
 * project is 404), validation, idempotency, events, metrics and logs (under the MCP request's id), and
 * the same per-principal rate limit, with nothing duplicated or bypassed; and no in-process path has
 * to be kept equal to the routes. MAESTRO_AUTH=disabled works the same way (no header: the local
 * admin). The cost is one loopback HTTP round trip per API call (well under a millisecond on one
 * host, on kept-alive sockets) and one extra hit of each rate limit per MCP request (the outer POST
 * counts as well as the calls it makes).
 *
 * The per-IP limit would otherwise see every hop as coming from the replica itself, one bucket shared
 * by every MCP user of the cluster. So a hop carries the caller's address in `X-Maestro-Hop-Ip`,
 * sealed with `X-Maestro-Hop`: a random secret of this process, never sent anywhere but to itself.
 * `clientIp` gives the sealed address back to the rate limiters (middleware/rate-limits.ts); an
 * unsealed or wrongly sealed header is ignored, so nobody outside can choose the address they are
 * counted under.
 *
 * Connections: one kept-alive pool of at most `maxSockets` sockets (the connection limiter counts
 * them under this host's address, like any client's).
 */
export class LoopbackHop {
  private readonly seal = randomBytes(32).toString('base64url');
  private readonly sealBytes = Buffer.from(this.seal);
  private readonly agent: Agent;

  /** `timeoutMs`: how long one hop may take (the API's request time limit plus a margin). */
  constructor(
    private readonly timeoutMs: number,
    maxSockets: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  /** The caller's address a sealed hop request speaks for; undefined for any other request. */
  clientIp(req: Request): string | undefined {
    const seal = req.headers['x-maestro-hop'];
    const ip = req.headers['x-maestro-hop-ip'];
    if (typeof seal !== 'string' || typeof ip !== 'string') return undefined;
    const given = Buffer.from(seal);
    return given.length === this.sealBytes.length && timingSafeEqual(given, this.sealBytes) ? ip : undefined;
  }

  /**
   * An API caller acting as `req`'s caller: each `request(method, path, body)` is `method /api<path>`
   * on the socket `req` came in on, with `req`'s credential header, its request id and the sealed
   * caller address. A non-2xx answer rejects with ApiCallError(status, code, message, details) from
   * the error envelope; no answer at all with 503 UNAVAILABLE.
   */
  callerFor(req: Request): McpApi {
    const host = req.socket.localAddress ?? '127.0.0.1';
    const port = req.socket.localPort;
    const headers: Record<string, string> = {
      accept: 'application/json',
      'x-maestro-hop': this.seal,
      'x-maestro-hop-ip': (this.clientIp(req) ?? req.ip ?? req.socket.remoteAddress ?? 'unknown'),
    };
    if (typeof req.headers.authorization === 'string') headers.authorization = req.headers.authorization;
    if (typeof req.headers['x-api-key'] === 'string') headers['x-api-key'] = req.headers['x-api-key'];
    if (req.id) headers['x-request-id'] = req.id;
    return {
      request: (method, path, body) => this.send({ host, port, method, path: `/api${path}`, headers, body }),
    };
  }

  /** Ends the pool's sockets (the replica is stopping). */
  close(): void {
    this.agent.destroy();
  }

  private send(o: { host: string; port: number | undefined; method: string; path: string; headers: Record<string, string>; body?: unknown }): Promise<ApiReply> {
    const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
    const headers = payload === undefined ? o.headers : { ...o.headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) };
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: o.host, port: o.port, method: o.method, path: o.path, headers, agent: this.agent, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', (err) => reject(unreachable(err)));
        res.once('end', () => {
          try {
            resolve(reply(res.statusCode ?? 0, res.headers, Buffer.concat(chunks).toString('utf8')));
          } catch (err) {
            reject(err);
          }
        });
      });
      req.once('timeout', () => req.destroy(new Error('timed out')));
      req.once('error', (err) => reject(unreachable(err)));
      req.end(payload);
    });
  }
}

/** A hop that got no answer. */
function unreachable(err: Error): ApiCallError {
  return new ApiCallError(503, 'UNAVAILABLE', `The API did not answer: ${err.message}`);
}

/** An answer as an ApiReply (2xx) or an ApiCallError from its envelope. */
function reply(status: number, headers: IncomingHttpHeaders, text: string): ApiReply {
  let body: unknown = {};
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = { message: text.slice(0, 200) };
    }
  }
  if (status < 200 || status >= 300) {
    const e = (body ?? {}) as { code?: unknown; message?: unknown; details?: unknown };
    throw new ApiCallError(status, typeof e.code === 'string' ? e.code : `HTTP_${status}`, typeof e.message === 'string' ? e.message : `HTTP ${status}`, e.details);
  }
  const next = headers['x-next-cursor'];
  const total = Number(headers['x-total-count']);
  return {
    status,
    body: status === 204 ? {} : body,
    ...(typeof next === 'string' && next ? { nextCursor: next } : {}),
    ...(headers['x-total-count'] !== undefined && Number.isFinite(total) ? { total } : {}),
  };
}
