import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { ipKeyGenerator } from 'express-rate-limit';

/** Which cap refused a connection: the replica's total, or the one of the client's address. */
export type RefusalReason = 'total' | 'per_ip';

/** The caps and timeouts of one API replica's HTTP server (contract 00, "Tenancy limits"). */
export interface ConnectionLimits {
  /** Open TCP connections the replica holds at once, every peer counted (MAX_CONNECTIONS). */
  maxConnections: number;
  /** Open TCP connections per client address; trusted proxies are not counted (MAX_CONNECTIONS_PER_IP). */
  maxPerIp: number;
  /** ms a connection has to deliver a request's headers, counted from the connection or from the request's first byte (HTTP_HEADERS_TIMEOUT_MS). */
  headersTimeoutMs: number;
  /** ms a kept-alive connection may wait for its next request (HTTP_IDLE_TIMEOUT_MS). */
  idleTimeoutMs: number;
  /** Whether a peer address is a trusted proxy: Express's `app.get('trust proxy fn')(addr, 0)`. */
  isTrustedProxy(addr: string): boolean;
  /** Called once per refused connection (e.g. a Prometheus counter). */
  onRefused?(reason: RefusalReason): void;
}

const REFUSAL_BODY = '{"error":true,"code":"RATE_LIMITED","message":"Too many open connections"}';
/** What a refused socket receives: the error envelope of contract 00 with `Retry-After` (seconds). */
export const REFUSAL_RESPONSE =
  'HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Type: application/json\r\n' +
  `Content-Length: ${Buffer.byteLength(REFUSAL_BODY)}\r\nConnection: close\r\n\r\n${REFUSAL_BODY}`;
/** ms a refused socket may stay open for the client to read the 429 (lingering close) before it is destroyed. */
const REFUSAL_LINGER_MS = 1000;
/** Refused sockets that may linger at once; beyond that they are destroyed at once (bounds their file descriptors). */
const MAX_LINGERING = 1000;
/** Node's request-timeout sweep runs at least this often, ms. */
const MAX_CHECK_INTERVAL_MS = 1000;
/** The least time Node is given to receive a whole request, headers and body, ms. */
const MIN_REQUEST_TIMEOUT_MS = 60_000;

/**
 * Caps the TCP connections of `server` and sets its HTTP timeouts (contract 00, "Tenancy limits":
 * per IP and in total, open connections; over a cap → 429 `RATE_LIMITED`, never a slowdown for
 * other users). Call it once, before `listen`.
 *
 * Counting: every accepted socket counts toward `maxConnections` until its `'close'`; its remote
 * address (IPv6 grouped by /56, as the request rate limiter keys it) counts toward `maxPerIp`,
 * unless the peer is a trusted proxy (behind nginx every connection comes from nginx: the per-IP cap
 * is the proxy's job there). Upgraded WebSockets are the same sockets and keep counting while open.
 *
 * Refusing: a socket over a cap is never handed to the HTTP parser (Node's own `'connection'`
 * listeners run only for admitted sockets), is not counted, gets {@link REFUSAL_RESPONSE} and is
 * closed. Its input is read and dropped meanwhile: closing a socket with unread input sends a TCP
 * reset, and a client that already sent its request would lose the 429. It is destroyed when the
 * client closes its side, or after {@link REFUSAL_LINGER_MS} (at once when {@link MAX_LINGERING}
 * refused sockets already linger).
 *
 * Timeouts (Node 20 `http.Server`):
 * - `headersTimeout` = `headersTimeoutMs`: a request's headers must arrive within it (slowloris). Node
 *   starts that clock when the connection opens too, so a socket that never sends a byte is closed
 *   after it as well (with a 408); no socket timeout of our own is needed. Node checks every
 *   `connectionsCheckingInterval` (default 30 s: a silent socket would live up to 50 s), set here to
 *   a quarter of the headers timeout, at most 1 s, so a silent or slow socket is closed between the
 *   timeout and the timeout + min(timeout / 4, 1 s). The sweep walks only connections with a
 *   request in progress or none yet (not kept-alive ones waiting), so it stays cheap.
 * - `requestTimeout` = max(`headersTimeoutMs`, 60 s): the whole request, headers and body, must
 *   arrive within it (Node's default is 5 min). A body is at most BODY_LIMIT_BYTES (1 MiB by
 *   default): 60 s needs about 17 KiB/s for it, which any real client has, and bounds how long a
 *   slow-body client holds a socket. It is kept at or above the headers timeout (given a smaller one,
 *   Node applies the smaller value to the headers). It does not limit the handler: the clock stops once the request is read.
 * - `keepAliveTimeout` = `idleTimeoutMs`: a kept-alive socket waiting for its next request is closed
 *   after it (Node 20 adds 1 s so clients that trust the `Keep-Alive: timeout=` header it sends do
 *   not race the close). Keep it above the proxy's upstream keep-alive (nginx: 60 s), so the proxy
 *   never reuses a socket Node is closing.
 * WebSockets are not closed by any of these: Node drops an upgraded socket from its timeout sweep
 * and `ws` clears the socket timeout; the gateway's pings keep them honest.
 */
export function limitConnections(server: Server, limits: ConnectionLimits): void {
  if (server.listening) throw new Error('limitConnections must be called before listen (Node reads connectionsCheckingInterval when the server starts listening)');
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = Math.max(limits.headersTimeoutMs, MIN_REQUEST_TIMEOUT_MS);
  server.keepAliveTimeout = limits.idleTimeoutMs;
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(MAX_CHECK_INTERVAL_MS, Math.max(1, Math.floor(limits.headersTimeoutMs / 4)));

  let total = 0;
  const perIp = new Map<string, number>();
  let lingering = 0;

  const refuse = (socket: Socket, reason: RefusalReason) => {
    limits.onRefused?.(reason);
    socket.on('error', () => undefined); // the client may reset; nothing to report
    if (lingering >= MAX_LINGERING) {
      socket.end(REFUSAL_RESPONSE); // written at once when the kernel has room, then closed
      socket.destroy();
      return;
    }
    lingering++;
    const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
    timer.unref();
    socket.once('close', () => {
      lingering--;
      clearTimeout(timer);
    });
    socket.once('end', () => socket.destroy());
    socket.resume(); // read and drop what the client sends
    socket.end(REFUSAL_RESPONSE);
  };

  // Node's HTTP server serves a socket from its own 'connection' listener (added by the
  // constructor): run those listeners only for the sockets admitted here.
  const serve = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    const key = address === undefined || limits.isTrustedProxy(address) ? undefined : ipKeyGenerator(address);
    const fromKey = key === undefined ? 0 : (perIp.get(key) ?? 0);
    if (key !== undefined && fromKey >= limits.maxPerIp) return refuse(socket, 'per_ip');
    if (total >= limits.maxConnections) return refuse(socket, 'total');
    total++;
    if (key !== undefined) perIp.set(key, fromKey + 1);
    socket.once('close', () => {
      total--;
      if (key === undefined) return;
      const left = (perIp.get(key) ?? 1) - 1;
      if (left > 0) perIp.set(key, left);
      else perIp.delete(key);
    });
    for (const listener of serve) listener.call(server, socket);
  });
}
