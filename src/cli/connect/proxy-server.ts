import { Agent as HttpAgent, createServer, STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { ClusterApi } from './cluster-api.js';
import type { ConnectLog } from './connect-log.js';
import { ConnectError } from './connect-options.js';
import type { CredentialSource } from './credential.js';
import { createForwarder } from './http-forward.js';
import { errorBody, guardRequest, isPreflight, preflightHeaders } from './local-guard.js';
import { isLoopbackAddress } from './loopback.js';
import { WsRelay } from './ws-relay.js';

/** What the proxy is made of (index.ts builds it). */
export interface ProxyDeps {
  upstream: URL;
  credential: CredentialSource;
  api: ClusterApi;
  log: ConnectLog;
  clockOffsetMs: number;
  /** Exact extra origins (`--allow-origin`). */
  allowOrigins: string[];
}

/** A listening proxy. */
export interface RunningProxy {
  server: Server;
  /** The address it listens on (always loopback). */
  address: AddressInfo;
  /** Stops accepting, closes client WebSockets with 1001 and their upstream sockets, ends kept-alive connections. */
  close(): Promise<void>;
}

/** Writes a plain HTTP answer on an upgrade socket and ends it (the WebSocket is refused). */
function refuseUpgrade(socket: Duplex, status: number, body: string): void {
  if (socket.destroyed) return;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** A WebSocket handshake the local server can complete (RFC 6455 §4.2.1); checked before dialling the cluster. */
function isHandshake(req: IncomingMessage): boolean {
  return (
    req.method === 'GET' &&
    (req.headers.upgrade ?? '').toLowerCase() === 'websocket' &&
    typeof req.headers['sec-websocket-key'] === 'string' &&
    ['8', '13'].includes(String(req.headers['sec-websocket-version']))
  );
}

/**
 * The proxy of `maestro connect` (contract 08, "Original clients on a secured cluster"): one Node HTTP
 * server on a loopback address; every request and upgrade passes local-guard.ts first; HTTP is
 * forwarded by http-forward.ts, CORS preflights of allowed pages answered here; WebSocket upgrades on
 * any path (the gateway accepts any path, contract 03 "Connection") get a WsRelay, whose first
 * upstream socket is opened before the client's handshake completes, so that a refusal of the cluster
 * (401 for a rejected credential, 502 when unreachable) reaches the client as the same HTTP answer.
 * Resolves once listening; a host that is not loopback, or a busy port, → ConnectError.
 */
export async function startProxy(d: ProxyDeps, host: string, port: number): Promise<RunningProxy> {
  const agent = d.upstream.protocol === 'https:' ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const forward = createForwarder({ upstream: d.upstream, credential: d.credential, log: d.log, agent });
  const allow = new Set(d.allowOrigins);
  const relays = new Set<WsRelay>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });

  const server = createServer((req, res) => {
    const g = guardRequest(req, allow);
    if (!g.ok) {
      d.log.warn(`refused ${req.method} ${req.url} from ${req.socket.remoteAddress}: ${g.message}`, `refused:${g.message}`);
      res.writeHead(g.status, { 'content-type': 'application/json' });
      res.end(errorBody('FORBIDDEN', g.message));
      return;
    }
    if (g.origin && isPreflight(req)) {
      res.writeHead(204, preflightHeaders(g.origin, req));
      res.end();
      return;
    }
    forward(req, res, g.origin);
  });
  // Defence in depth: a connection from anywhere but loopback is dropped before any request is read.
  server.on('connection', (socket) => {
    if (!isLoopbackAddress(socket.remoteAddress)) socket.destroy();
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const g = guardRequest(req, allow);
    if (!g.ok) {
      d.log.warn(`refused a WebSocket on ${req.url} from ${req.socket.remoteAddress}: ${g.message}`, `refused:${g.message}`);
      return refuseUpgrade(socket, g.status, errorBody('FORBIDDEN', g.message));
    }
    if (!isHandshake(req)) return refuseUpgrade(socket, 400, errorBody('VALIDATION_ERROR', 'not a WebSocket handshake'));
    const relay = new WsRelay(req, { upstream: d.upstream, credential: d.credential, api: d.api, log: d.log, clockOffsetMs: d.clockOffsetMs });
    relays.add(relay);
    let attached = false;
    socket.once('close', () => {
      relays.delete(relay);
      if (!attached) relay.end();
    });
    void relay.open().then((r) => {
      if (socket.destroyed) return relay.end();
      if (!r.ok) {
        relay.end();
        return refuseUpgrade(socket, r.status, r.body);
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        attached = true;
        relay.attach(ws);
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: Error & { code?: string }) => {
      if (err.code === 'EADDRINUSE') reject(new ConnectError(`port ${port} on ${host} is in use (a Maestro server, or another maestro connect?): pick another with --port`));
      else reject(new ConnectError(`cannot listen on ${host}:${port}: ${err.message}`));
    });
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  if (!isLoopbackAddress(address.address)) {
    server.close();
    throw new ConnectError(`--host ${host} resolved to ${address.address}, which is not a loopback address`);
  }
  server.on('error', (err) => d.log.error(`proxy server: ${err.message}`));

  return {
    server,
    address,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const r of relays) r.end(1001, 'maestro connect is stopping');
      wss.close();
      // let the clients' close frames go out (at most 1 s), then drop what is left
      for (let waited = 0; relays.size > 0 && waited < 1000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      server.closeAllConnections();
      await closed;
      agent.destroy();
      d.credential.stop();
    },
  };
}
