import { createServer, request, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { nginxBinary, sleep, startNginx, type Nginx } from '../helpers/fault-kit.js';

/**
 * The load balancer's lanes (issue 13 item 6; src/local-cluster.ts `nginxConf`, the routing of
 * deploy/nginx/nginx.conf) with the real nginx in front of scripted upstreams instead of replicas:
 * every lane passes the request target exactly as the client sent it, and each kind of request has
 * its own timeouts and retry rule. An upstream is told by headers how to treat a request's first
 * attempt (`x-first: hang` never answers, `x-first: 503`) or to answer every attempt late
 * (`x-delay-ms`); every attempt is recorded under `x-case`. There are many upstreams, so that the
 * ones a failure takes out of rotation (`max_fails=1`) leave others for the retries.
 */
const hasNginx = nginxBinary() !== undefined;
if (!hasNginx) console.warn('nginx routing test skipped: nginx is not installed');

const HTTP_S = 2;
const SPAWN_S = 6;
/** Later than the HTTP timeout, sooner than spawn's (and than the WebSocket one). */
const SLOW_MS = 4000;
const UPSTREAMS = 24;

interface Attempt {
  upstream: number;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}
const attempts = new Map<string, Attempt[]>();
const held: ServerResponse[] = [];
const servers: Server[] = [];
let nginx: Nginx | undefined;

/** Records an attempt under its `x-case`; returns how many attempts that case has had. */
function record(upstream: number, method: string, url: string, headers: IncomingHttpHeaders, body: string): number {
  const id = String(headers['x-case'] ?? '');
  const list = attempts.get(id) ?? [];
  list.push({ upstream, method, url, headers, body });
  attempts.set(id, list);
  return list.length;
}

function upstream(n: number): Promise<number> {
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const nth = record(n, req.method!, req.url!, req.headers, body);
      const first = req.headers['x-first'];
      if (nth === 1 && first === 'hang') return void held.push(res);
      if (nth === 1 && first === '503') return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":true,"code":"UNAVAILABLE"}');
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ upstream: n, url: req.url })), Number(req.headers['x-delay-ms'] ?? 0));
    });
  });
  server.on('upgrade', (req, socket, head) => {
    record(n, req.method!, req.url!, req.headers, '');
    setTimeout(() => wss.handleUpgrade(req, socket, head, (ws) => ws.send(JSON.stringify({ upstream: n, url: req.url }))), Number(req.headers['x-delay-ms'] ?? 0));
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

beforeAll(async () => {
  if (!hasNginx) return;
  const ports = await Promise.all(Array.from({ length: UPSTREAMS }, (_, i) => upstream(i)));
  nginx = await startNginx(ports, { timeouts: { http: HTTP_S, spawn: SPAWN_S } });
});
afterAll(async () => {
  await nginx?.stop();
  for (const res of held) res.destroy();
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

/** A request with its target sent byte for byte (no URL normalisation), on a connection of its own. */
function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string; ms: number }> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: nginx!.port, method, path, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, ms: Date.now() - start }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Opens a WebSocket through nginx; resolves with its first message and the socket. */
function openSocket(path: string, headers: Record<string, string>): Promise<{ ws: WebSocket; first: any; closed: () => number | undefined }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${nginx!.port}${path}`, { headers, perMessageDeflate: false });
    let closed: number | undefined;
    ws.on('close', (code) => (closed = code));
    ws.once('message', (raw) => resolve({ ws, first: JSON.parse(String(raw)), closed: () => closed }));
    ws.once('error', reject);
  });
}

const key = (id: string) => ({ 'idempotency-key': `k-${id}` });

describe.runIf(hasNginx)('nginx lanes (nginxConf) in front of scripted upstreams', () => {
  it('passes the request target unchanged (percent-encoding, dot segments, query) in every lane, with Host, X-Forwarded-For and X-Request-Id', async () => {
    const target = '/api/v1/tasks/a%20b%2Fc/%2e%2e/d%3Fe?projectId=p%201&q=a%2Bb&u=%E2%9C%93&e=&x=/y';
    const cases: [string, string, string, Record<string, string>, string?][] = [
      ['get', 'GET', target, {}],
      ['post', 'POST', target, {}, '{"a":1}'],
      ['post-keyed', 'POST', target, key('post-keyed'), '{"a":2}'],
      ['patch', 'PATCH', target, {}, '{"a":3}'],
      ['put', 'PUT', target, {}, '{"a":4}'],
      ['delete', 'DELETE', target, {}],
      ['spawn', 'POST', '/api/v1/sessions/spawn?x=%20y&z=%2F', {}, '{"s":1}'],
      ['spawn-keyed', 'POST', '/api/sessions/spawn?x=%20y&z=%2F', key('spawn-keyed'), '{"s":2}'],
      ['auth-keyed', 'POST', '/api/v1/auth/login?x=%20y', key('auth-keyed'), '{"u":1}'],
    ];
    for (const [id, method, path, headers, body] of cases) {
      const res = await send(method, path, { 'x-case': id, ...headers }, body);
      expect(res.status, id).toBe(200);
      const seen = attempts.get(id)!;
      expect(seen.map((a) => [a.method, a.url, a.body]), id).toEqual([[method, path, body ?? '']]);
      const h = seen[0]!.headers;
      expect(h.host).toBe('127.0.0.1'); // $host: the client's host name, without its port
      expect(h['x-forwarded-for']).toBe('127.0.0.1');
      expect(h['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
      expect([h.upgrade, h.connection], `${id}: no Connection: close, so the upstream connection is kept alive`).toEqual([undefined, undefined]);
    }
    const ws = await openSocket('/ws%20x/a%2Fb?since=1-0&x=%20y', { 'x-case': 'ws' });
    expect(ws.first.url).toBe('/ws%20x/a%2Fb?since=1-0&x=%20y');
    const h = attempts.get('ws')![0]!.headers;
    expect([h.upgrade, h.connection, h.host]).toEqual(['websocket', 'upgrade', '127.0.0.1']);
    expect(h['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    ws.ws.terminate();
    // The lanes themselves are internal: not reachable by their own path.
    expect((await send('GET', '/.maestro-lb/keyed', { 'x-case': 'internal' })).status).toBe(404);
    expect(attempts.get('internal')).toBeUndefined();
  });

  it('re-sends GETs and keyed POSTs after a timeout (a 503 passes as it is), never unkeyed POST/PATCH, PUT/DELETE (key or not) or keyed /auth/*; spawn and WebSocket wait longer than HTTP', async () => {
    // [case, method, path, headers, body, expected status, expected attempts]
    const cases: [string, string, string, Record<string, string>, string | undefined, number, number][] = [
      ['get-hang', 'GET', '/api/v1/tasks?c=1', { 'x-first': 'hang' }, undefined, 200, 2],
      ['keyed-hang', 'POST', '/api/v1/tasks', { 'x-first': 'hang', ...key('keyed-hang') }, '{}', 200, 2],
      ['post-hang', 'POST', '/api/v1/tasks', { 'x-first': 'hang' }, '{}', 504, 1],
      ['patch-hang', 'PATCH', '/api/v1/tasks/t1', { 'x-first': 'hang' }, '{}', 504, 1],
      ['patch-keyed-hang', 'PATCH', '/api/v1/tasks/t1', { 'x-first': 'hang', ...key('patch-keyed-hang') }, '{}', 504, 1],
      ['put-hang', 'PUT', '/api/v1/projects/p1', { 'x-first': 'hang' }, '{}', 504, 1],
      ['delete-hang', 'DELETE', '/api/v1/tasks/t1', { 'x-first': 'hang' }, undefined, 504, 1],
      ['delete-keyed-hang', 'DELETE', '/api/v1/tasks/t2', { 'x-first': 'hang', ...key('delete-keyed-hang') }, undefined, 504, 1],
      ['auth-keyed-hang', 'POST', '/api/v1/auth/refresh', { 'x-first': 'hang', ...key('auth-keyed-hang') }, '{}', 504, 1],
      ['auth-alias-keyed-hang', 'POST', '/API/Auth/login', { 'x-first': 'hang', ...key('auth-alias-keyed-hang') }, '{}', 504, 1],
      // a 503 is the API's own answer (Redis down or slow: shared by every replica; Retry-After):
      // passed to the client, never re-sent, and the replica stays in rotation
      ['get-503', 'GET', '/api/v1/tasks?c=2', { 'x-first': '503' }, undefined, 503, 1],
      ['keyed-503', 'POST', '/api/v1/tasks', { 'x-first': '503', ...key('keyed-503') }, '{}', 503, 1],
      ['post-503', 'POST', '/api/v1/tasks', { 'x-first': '503' }, '{}', 503, 1],
      ['delete-503', 'DELETE', '/api/v1/tasks/t3', { 'x-first': '503' }, undefined, 503, 1],
      ['spawn-slow', 'POST', '/api/v1/sessions/spawn', { 'x-delay-ms': String(SLOW_MS) }, '{}', 200, 1],
      ['spawn-keyed-slow', 'POST', '/api/sessions/spawn', { 'x-delay-ms': String(SLOW_MS), ...key('spawn-keyed-slow') }, '{}', 200, 1],
      ['spawn-keyed-hang', 'POST', '/api/v1/sessions/spawn', { 'x-first': 'hang', ...key('spawn-keyed-hang') }, '{}', 200, 2],
      ['post-slow', 'POST', '/api/v1/tasks', { 'x-delay-ms': String(SLOW_MS) }, '{}', 504, 1],
    ];
    const socket = (async () => {
      const s = await openSocket('/', { 'x-case': 'ws-slow', 'x-delay-ms': String(SLOW_MS) });
      await sleep(2 * HTTP_S * 1000); // idle for twice the HTTP timeout
      return s;
    })();
    const results = await Promise.all(cases.map(([id, method, path, headers, body]) => send(method, path, { 'x-case': id, ...headers }, body)));
    for (const [i, [id, , path, , , status, tries]] of cases.entries()) {
      const seen = attempts.get(id) ?? [];
      expect([results[i]!.status, seen.length], `${id}: status and attempts (${results[i]!.ms} ms)`).toEqual([status, tries]);
      expect(seen.every((a) => a.url === path)).toBe(true);
      if (tries === 2) expect(seen[0]!.upstream).not.toBe(seen[1]!.upstream);
    }
    // Given up after their lane's read timeout: HTTP's for the rest, spawn's for spawn.
    const ms = (id: string) => results[cases.findIndex((c) => c[0] === id)]!.ms;
    for (const id of ['get-hang', 'post-hang', 'delete-hang', 'post-slow']) expect(ms(id), id).toBeLessThan(SPAWN_S * 1000 - 500);
    expect(ms('spawn-keyed-hang')).toBeGreaterThanOrEqual(SPAWN_S * 1000 - 100);
    const s = await socket;
    expect(attempts.get('ws-slow')).toHaveLength(1); // its 101 came after 4 s: not given up after HTTP's 2 s
    expect(s.closed()).toBeUndefined(); // and, idle 4 s since, it is still open
    s.ws.terminate();
  }, 30_000);
});
