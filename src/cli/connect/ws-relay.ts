import type { IncomingMessage } from 'node:http';
import { WebSocket, type RawData } from 'ws';
import { compareIds } from '../../shared/events/stream-ids.js';
import { ClusterError, type ClusterApi } from './cluster-api.js';
import { readClientFrame } from './client-frames.js';
import type { ConnectLog } from './connect-log.js';
import type { CredentialSource } from './credential.js';
import { readFrameHead } from './event-frames.js';
import { EventPositions } from './event-positions.js';
import { errorBody } from './local-guard.js';

/**
 * One client WebSocket of the proxy and its socket to the cluster (contract 08, "Original clients on
 * a secured cluster"; contract 03 and 00 "Events").
 *
 * - **Auth**: the upstream upgrade carries the user's credential as a header (`X-API-Key` or
 *   `Authorization: Bearer`), which the gateway accepts on upgrades (src/api/middleware/authenticate.ts
 *   `fromUpgrade`); no ticket is needed. A client's `?ticket=` is dropped, its headers are not sent.
 * - **Relay**: frames go both ways unchanged; the relay reads only the heads (event-frames.ts,
 *   client-frames.ts) to remember, per client, the last event id of each project, its subscription and
 *   whether it asked for deltas.
 * - **Reconnect**: when the cluster side closes abnormally (1006: a replica killed; 1001: shut down;
 *   1011, 1012, 1014) the client's socket stays open; the relay dials again with backoff (first try
 *   after 50–100 ms, then doubling up to RECONNECT_MAX_MS; through the load balancer it lands on a
 *   live replica) and sends, as the new socket's first message,
 *   `{"type":"resume","since":{projectId: lastId, …}}` for every project the client follows (its
 *   subscription, else every project the credential can read, listed with `GET /api/v1/projects` once
 *   the socket is open; projects not seen yet from the floor, event-positions.ts). The gateway replays
 *   each after its position, then goes live, without gap or duplicate (contract 00 "Events"), so the
 *   client misses nothing and gets nothing twice. Then the client's last `subscribe` is sent again (its
 *   `subscribed` answer is not passed on), then what the client sent meanwhile (its pings are answered
 *   by the relay while the cluster is away). More than RESUME_MAX_PROJECTS projects: one resume from
 *   the floor for all, and the relay drops what the client already has. A `resync_required` is passed
 *   on. After RECONNECT_GIVE_UP_MS without the cluster, the client is closed with 1012 (reconnect later).
 * - **Other closes** pass to the client: 4401/4403 (credential revoked, logged), 1013 (too slow, over
 *   the per-user cap), 1000, 1008. The client closing closes the upstream socket.
 * - **Backpressure**: while the client's send buffer is over CLIENT_HIGH_BYTES the upstream socket is
 *   paused (the cluster then sees a slow reader and bounds its own buffer, closing with 1013).
 * - **Liveness**: a ping frame to the cluster every PING_MS; silence for a whole period ends the
 *   socket (→ reconnect), for a replica that vanished without closing its TCP connections.
 */

/** Close codes of the cluster's side after which the relay reconnects instead of closing the client. */
const RECONNECT_CODES = new Set([1001, 1005, 1006, 1011, 1012, 1014]);
const RECONNECT_FIRST_MS = 50;
const RECONNECT_MAX_MS = 5000;
const RECONNECT_GIVE_UP_MS = 60_000;
const PING_MS = 20_000;
const CLIENT_HIGH_BYTES = 8 * 1024 * 1024;
const CLIENT_LOW_BYTES = 1024 * 1024;
/** Messages a client may send while the cluster is away (kept in order, the oldest dropped beyond). */
const OUTBOX_MAX = 100;
/** Projects resumed one by one at most (beyond, the floor and a de-duplication are used). */
const RESUME_MAX_PROJECTS = 1000;
/** The server reads client messages up to 64 KiB (its maxPayload); a resume must fit. */
const RESUME_MAX_BYTES = 60 * 1024;
/** The handshake of an upstream socket must complete within this, ms. */
const HANDSHAKE_MS = 10_000;

/** What a relay needs from the proxy. */
export interface RelayDeps {
  /** The cluster's base URL (http/https; the WebSocket uses ws/wss on the same host and path). */
  upstream: URL;
  credential: CredentialSource;
  api: ClusterApi;
  log: ConnectLog;
  /** Cluster clock minus this machine's, ms (cluster-api.ts `whoAmI`). */
  clockOffsetMs: number;
}

/** The outcome of dialling the cluster: an open socket, or the HTTP answer to pass to the client. */
export type DialOutcome = { ok: true; ws: WebSocket } | { ok: false; status: number; body: string };

type Frame = [data: Buffer, isBinary: boolean];

const toBuffer = (d: RawData): Buffer => (Buffer.isBuffer(d) ? d : Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d));
/** Codes a close frame may carry (RFC 6455 §7.4; 1005/1006/1015 are never sent). */
const sendable = (code: number) => (code >= 1000 && code <= 1014 && ![1004, 1005, 1006].includes(code)) || (code >= 3000 && code <= 4999);
/** A close reason fits in 123 bytes. */
const reasonText = (s: string) => Buffer.from(s).subarray(0, 123).toString('utf8').replace(/\uFFFD+$/, '');

/**
 * One local WebSocket client's relay to the cluster (the rules are this module's comment above): `open`
 * dials the cluster and resolves with a DialOutcome (it never throws: a refusal is an outcome), `attach`
 * joins the accepted local client, and the relay ends (`end`) when either side closes; it redials the
 * cluster on a lost upstream, resuming from the last event the client saw.
 */
export class WsRelay {
  private client?: WebSocket;
  private up?: WebSocket;
  /** Cluster frames that arrived before the client's upgrade completed. */
  private early: Frame[] = [];
  /** Client frames sent while the cluster is away. */
  private outbox: Frame[] = [];
  private readonly positions: EventPositions;
  /** After a whole-stream replay (no per-project resume): events up to these ids were delivered already. */
  private dedupe?: Map<string, string>;
  private filter?: Set<string>;
  private deltas: boolean;
  private lastSubscribe?: Buffer;
  /** `subscribed` answers to the relay's own re-sent subscribe, not passed on. */
  private swallowSubscribed = 0;
  /** The relay's own ping on the first socket (for the cluster's clock) awaits its pong. */
  private awaitingPong = false;
  private attempts = 0;
  private downSince = 0;
  private timer?: NodeJS.Timeout;
  private pinger?: NodeJS.Timeout;
  private drainPoll?: NodeJS.Timeout;
  private heard = true;
  /** The upstream socket takes the client's frames (see `adopt`). */
  private ready = false;
  private paused = false;
  private ended = false;
  /** Set when the relay decided to close the client before it was attached. */
  private closeWith?: [number, string];
  private readonly path: string;
  private readonly query: URLSearchParams;
  private readonly protocols: string[];
  private readonly userAgent?: string;
  private readonly label: string;

  constructor(
    req: IncomingMessage,
    private readonly d: RelayDeps,
  ) {
    const u = new URL(req.url ?? '/', 'http://local');
    this.path = u.pathname;
    this.query = u.searchParams;
    this.query.delete('ticket');
    this.deltas = ['1', 'true'].includes(this.query.get('deltas') ?? '');
    const ids = this.query.get('projectIds');
    if (ids) this.filter = new Set(ids.split(',').filter(Boolean).slice(0, 1000));
    this.positions = new EventPositions(Date.now() + d.clockOffsetMs, this.query.get('since'));
    const proto = req.headers['sec-websocket-protocol'];
    this.protocols = proto ? proto.split(',').map((s) => s.trim()).filter(Boolean) : [];
    this.userAgent = req.headers['user-agent'];
    this.label = `WebSocket ${this.path}${u.search}`;
  }

  /** Opens the first upstream socket, with the client's own path and query (minus `ticket`). */
  async open(): Promise<DialOutcome> {
    let r = await this.dial(this.url(false));
    if (!r.ok && r.status === 401) {
      const renewed = await this.d.credential.rejected(await this.d.credential.headers(), `401 on the upgrade of ${this.label}`);
      if (renewed) r = await this.dial(this.url(false));
    }
    if (r.ok) {
      if (this.ended) r.ws.close(1000);
      else {
        this.adopt(r.ws, true);
        // The cluster's clock, for the floor of projects not seen yet (the first pong is the relay's:
        // the client is not attached yet, so nothing of its precedes this on the socket).
        this.awaitingPong = true;
        r.ws.send('{"type":"ping"}');
      }
    }
    return r;
  }

  /** The client's upgrade completed: relay from now on. */
  attach(client: WebSocket): void {
    this.client = client;
    client.on('message', (data: RawData, isBinary: boolean) => this.fromClient(toBuffer(data), isBinary));
    client.on('close', () => this.end());
    client.on('error', () => this.end());
    if (this.closeWith) {
      const [code, reason] = this.closeWith;
      client.close(code, reasonText(reason));
      return;
    }
    const early = this.early;
    this.early = [];
    for (const [data, isBinary] of early) this.fromUp(data, isBinary);
  }

  /** The client is gone, or the proxy stops (`code` to the client, e.g. 1001): everything closes. */
  end(code?: number, reason = ''): void {
    if (code !== undefined && this.client && this.client.readyState === WebSocket.OPEN) this.client.close(code, reasonText(reason));
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    clearInterval(this.drainPoll);
    const up = this.up;
    this.up = undefined;
    if (up) {
      if (up.readyState === WebSocket.OPEN) up.close(1000);
      else up.terminate();
    }
  }

  /**
   * The upstream URL: the client's path and query (never its `ticket`); on a reconnect without its
   * `since` and `projectIds` (the resume and the re-sent subscribe say where and what) and with
   * `deltas=1` when the client chose deltas (it decides how the replay renders sessions).
   */
  private url(reconnect: boolean): string {
    const u = new URL(this.d.upstream.href);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    u.pathname = this.d.upstream.pathname.replace(/\/+$/, '') + this.path;
    const q = new URLSearchParams(this.query);
    if (reconnect) {
      for (const k of ['since', 'deltas', 'projectIds']) q.delete(k);
      if (this.deltas) q.set('deltas', '1');
    }
    const search = q.toString();
    u.search = search ? `?${search}` : '';
    return u.href;
  }

  /** Opens a socket to the cluster with the credential; resolves once open or refused. */
  private async dial(url: string): Promise<DialOutcome> {
    const headers: Record<string, string> = { ...(await this.d.credential.headers()) };
    if (this.userAgent) headers['user-agent'] = this.userAgent;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (r: DialOutcome) => {
        if (settled) return;
        settled = true;
        resolve(r);
      };
      const ws = new WebSocket(url, this.protocols, { headers, perMessageDeflate: false, handshakeTimeout: HANDSHAKE_MS, followRedirects: false });
      ws.on('error', (err: Error & { code?: string }) =>
        settle({ ok: false, status: 502, body: errorBody('BAD_GATEWAY', `maestro connect: cannot reach the cluster at ${this.d.upstream.origin} (${err.code ?? err.message})`) }),
      );
      ws.once('open', () => settle({ ok: true, ws }));
      ws.once('unexpected-response', (req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (body.length < 4096) body += c;
        });
        const done = () => {
          settle({ ok: false, status: res.statusCode ?? 502, body: body || errorBody('BAD_GATEWAY', `the cluster answered ${res.statusCode}`) });
          req.destroy();
        };
        res.once('end', done);
        res.once('error', done);
        res.once('close', done);
      });
    });
  }

  /**
   * Takes `ws` as the upstream socket; `ready` = the client's frames may go to it at once (on a
   * reconnect only once the resume and the subscribe went first).
   */
  private adopt(ws: WebSocket, ready: boolean): void {
    this.up = ws;
    this.ready = ready;
    this.swallowSubscribed = 0;
    this.heard = true;
    ws.on('message', (data: RawData, isBinary: boolean) => this.fromUp(toBuffer(data), isBinary));
    ws.on('pong', () => (this.heard = true));
    ws.on('close', (code: number, reason: Buffer) => this.upClosed(ws, code, reason.toString()));
    ws.on('error', () => undefined); // a close follows
    if (this.paused) ws.pause();
    clearInterval(this.pinger);
    this.pinger = setInterval(() => {
      if (!this.heard) {
        this.d.log.warn(`${this.label}: no answer from the cluster for ${PING_MS / 1000} s; reconnecting`);
        ws.terminate();
        return;
      }
      this.heard = false;
      ws.ping();
    }, PING_MS);
    this.pinger.unref();
  }

  /** A frame from the cluster. */
  private fromUp(data: Buffer, isBinary: boolean): void {
    this.heard = true;
    if (!this.client) {
      this.early.push([data, isBinary]);
      return;
    }
    if (!isBinary) {
      const h = readFrameHead(data);
      if (h.kind === 'event' && h.projectId !== null) {
        if (this.filter && !this.filter.has(h.projectId)) return;
        // a whole session:updated (clients without deltas) is a snapshot, not a stream entry: always passed
        if (this.dedupe && (this.deltas || h.type !== 'session:updated')) {
          const upTo = this.dedupe.get(h.projectId);
          if (upTo !== undefined && compareIds(h.id, upTo) <= 0) return;
        }
        this.positions.note(h.projectId, h.id);
      } else if (h.kind === 'control') {
        if (h.type === 'pong' && this.awaitingPong) {
          this.awaitingPong = false;
          if (h.timestamp !== undefined) this.positions.clusterTime(h.timestamp);
          return;
        }
        if (h.type === 'subscribed' && this.swallowSubscribed > 0) {
          this.swallowSubscribed--;
          return;
        }
        if (h.type === 'resync_required') {
          this.dedupe = undefined;
          this.d.log.warn(`${this.label}: the cluster no longer holds every event since this client's position (resync_required, passed on: the client should refetch)`);
        }
      }
    }
    this.toClient(data, isBinary);
  }

  private toClient(data: Buffer, isBinary: boolean): void {
    const c = this.client;
    if (!c || c.readyState !== WebSocket.OPEN) return;
    c.send(data, { binary: isBinary });
    if (!this.paused && c.bufferedAmount > CLIENT_HIGH_BYTES) {
      this.paused = true;
      this.up?.pause();
      this.drainPoll = setInterval(() => {
        if (c.readyState !== WebSocket.OPEN || c.bufferedAmount <= CLIENT_LOW_BYTES) {
          clearInterval(this.drainPoll);
          this.paused = false;
          this.up?.resume();
        }
      }, 50);
      this.drainPoll.unref();
    }
  }

  /** A frame from the client. */
  private fromClient(data: Buffer, isBinary: boolean): void {
    if (!isBinary && data.length <= 64 * 1024) {
      const m = readClientFrame(data.toString('utf8'));
      if (m.type === 'subscribe') {
        // as the server does: absent or null = every readable project
        this.filter = m.projectIds ? new Set(m.projectIds) : undefined;
        if (m.deltas !== undefined) this.deltas = m.deltas;
        this.lastSubscribe = data;
      } else if (m.type === 'resume') {
        this.positions.clientResume(m.since);
        this.dedupe = undefined;
      } else if (m.type === 'ping' && !this.upReady()) {
        // the cluster is being reconnected: answer as it would (contract 03), the client stays calm
        this.toClient(Buffer.from(JSON.stringify({ type: 'pong', timestamp: Date.now() + this.d.clockOffsetMs })), false);
        return;
      }
    }
    if (this.upReady()) this.up!.send(data, { binary: isBinary });
    else {
      this.outbox.push([data, isBinary]);
      if (this.outbox.length > OUTBOX_MAX) this.outbox.shift();
    }
  }

  private upReady(): boolean {
    return this.ready && this.up?.readyState === WebSocket.OPEN;
  }

  private upClosed(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.up) return;
    this.up = undefined;
    clearInterval(this.pinger);
    this.awaitingPong = false;
    if (this.ended) return;
    if (RECONNECT_CODES.has(code)) {
      if (!this.downSince) {
        this.downSince = Date.now();
        this.d.log.warn(`${this.label}: the cluster closed its side (${code}${reason ? ` ${reason}` : ''}); reconnecting and resuming after the last event (the client stays connected)`);
      }
      this.schedule();
      return;
    }
    if (code === 4401 || code === 4403) {
      this.d.log.error(`${this.label}: the cluster closed it because ${this.d.credential.describe} is no longer valid for it (${code}${reason ? ` ${reason}` : ''}); passed on to the client`);
    } else this.d.log.info(`${this.label}: the cluster closed it (${code}${reason ? ` ${reason}` : ''}); passed on to the client`);
    this.closeClient(code, reason);
  }

  /** Closes the client (code mapped to one a close frame may carry) and ends the relay. */
  private closeClient(code: number, reason: string): void {
    const c = sendable(code) ? code : 1011;
    if (!this.client) this.closeWith = [c, reason];
    this.end(c, reason);
  }

  private schedule(now = false): void {
    if (this.ended) return;
    if (Date.now() - this.downSince > RECONNECT_GIVE_UP_MS) {
      this.d.log.error(`${this.label}: the cluster at ${this.d.upstream.origin} has been unreachable for ${RECONNECT_GIVE_UP_MS / 1000} s; closing the client (1012) so it reconnects later`);
      this.closeClient(1012, 'maestro connect: the cluster is unreachable');
      return;
    }
    const backoff = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** this.attempts);
    const delay = now ? 0 : backoff + Math.random() * backoff;
    this.attempts++;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reconnect(), delay);
    this.timer.unref();
  }

  /**
   * One reconnect attempt (see the class comment). The new socket is opened first, without `since`:
   * the gateway then holds its live events until the first message, if that is a `resume` sent within
   * its grace (500 ms, ws-gateway.ts RESUME_GRACE_MS), and replays before them. Only then are the
   * projects listed, so one created while this happens is either listed (and replayed from the floor)
   * or its events are among those held: nothing falls between the listing and the socket.
   */
  private async reconnect(): Promise<void> {
    if (this.ended) return;
    const r = await this.dial(this.url(true));
    if (this.ended) {
      if (r.ok) r.ws.close(1000);
      return;
    }
    if (!r.ok) {
      if (r.status === 401) return this.refused();
      if (r.status >= 500 || r.status === 429 || r.status === 408) return this.schedule();
      this.d.log.error(`${this.label}: the cluster refused the reconnect (${r.status} ${r.body.slice(0, 200)}); closing the client`);
      return this.closeClient(1011, `maestro connect: the cluster refused the reconnect (${r.status})`);
    }
    const ws = r.ws;
    this.adopt(ws, false);
    let wanted: string[] | undefined;
    try {
      wanted = this.filter ? [...this.filter] : await this.d.api.projectIds(await this.d.credential.headers(), RESUME_MAX_PROJECTS);
    } catch (err) {
      if (err instanceof ClusterError && err.status === 401) {
        ws.terminate();
        return this.refused();
      }
      this.d.log.warn(`${this.label}: could not list the projects to resume (${(err as Error).message}); replaying every project from ${this.positions.floorId}`);
    }
    if (this.up !== ws) return; // it closed meanwhile; its close scheduled the next attempt
    let resume = wanted ? JSON.stringify({ type: 'resume', since: this.positions.resume(wanted) }) : undefined;
    if (resume && Buffer.byteLength(resume) > RESUME_MAX_BYTES) resume = undefined;
    if (resume) this.dedupe = undefined;
    else {
      // Too many projects for one message (or no list): every readable project from the floor, and
      // what the client already has is dropped here.
      resume = JSON.stringify({ type: 'resume', since: this.positions.floorId });
      this.dedupe = this.positions.snapshot();
    }
    ws.send(resume);
    if (this.lastSubscribe) {
      this.swallowSubscribed++;
      ws.send(this.lastSubscribe);
    }
    this.ready = true;
    const outbox = this.outbox;
    this.outbox = [];
    for (const [data, isBinary] of outbox) ws.send(data, { binary: isBinary });
    const how = this.dedupe ? `replaying every project from ${this.positions.floorId}` : `resumed ${wanted!.length} project(s) after their last event (${this.positions.seen} seen by this client)`;
    this.d.log.info(`${this.label}: reconnected to the cluster after ${Date.now() - this.downSince} ms (${this.attempts} attempt(s)); ${how}`);
    this.attempts = 0;
    this.downSince = 0;
  }

  /** The cluster refused the credential on a reconnect: renew it if possible, else close the client with 4401. */
  private async refused(): Promise<void> {
    const renewed = await this.d.credential.rejected(await this.d.credential.headers(), `401 on the reconnect of ${this.label}`);
    if (renewed && this.attempts < 3) return this.schedule(true);
    this.closeClient(4401, `maestro connect: the cluster rejected ${this.d.credential.describe}`);
  }
}
