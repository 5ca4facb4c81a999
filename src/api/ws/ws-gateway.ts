import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { Keys } from '../../shared/keys.js';
import type { Logger } from '../../shared/logger.js';
import type { Metrics } from '../../shared/metrics.js';
import { LOCAL_ADMIN, type Principal } from '../../shared/principal.js';
import { isRedisUnavailable, type RedisClient } from '../../shared/redis-connection.js';
import { compareIds, isStreamId } from '../../shared/events/stream-ids.js';
import { envelope, splitPublished, type EventHead } from './event-envelope.js';
import { UserSocketQuota, type SocketLease } from './user-socket-quota.js';
import { EventStream } from '../../shared/events/event-stream.js';
import { parseClientMessage } from '../../shared/schemas/ws-client-messages.js';
import { REGISTRY_MS, ReplicaRegistry } from './replica-registry.js';
import { SESSION_STATE_EVENTS, SessionCoalescer, sessionOfEvent } from './session-coalescer.js';

/** Resolves the principal of an upgrade request, or undefined to refuse it with 401 (access seam). */
export type UpgradeAuthenticator = (req: IncomingMessage) => Promise<Principal | undefined>;

/** What the gateway needs; see server.ts for the wiring. */
export interface GatewayDeps {
  /** Command connection (XRANGE, XINFO, registry). */
  redis: RedisClient;
  /** A dedicated connection for the replica's ONE subscription. */
  subscriber: RedisClient;
  keys: Keys;
  logger: Logger;
  nodeId: string;
  /** Server ping frame interval, ms (WS_HEARTBEAT_MS). */
  heartbeatMs: number;
  /** A client whose send buffer passes this many bytes is closed with 1013 (WS_MAX_BUFFERED_BYTES). */
  maxBufferedBytes: number;
  /** Stream entries a replay reads per XRANGE, per socket (WS_REPLAY_PAGE). */
  replayPage: number;
  /** Sockets one user may hold across the cluster; over it → close 1013 (WS_MAX_CONNECTIONS_PER_USER). */
  maxConnectionsPerUser: number;
  /** Projects a principal may read (for replay without a subscription). */
  readableProjects: (p: Principal) => Promise<string[]>;
  authenticate?: UpgradeAuthenticator;
  /** May the principal read the project's events (the access policy; required, no default here). */
  canRead: (p: Principal, projectId: string) => boolean;
  /** Re-reads a principal's roles after a membership change (undefined = user gone). */
  refreshPrincipal?: (p: Principal) => Promise<Principal | undefined>;
  /** The whole session (document + every list entry) as JSON text, for clients without deltas; undefined when gone. */
  renderSession: (projectId: string, sessionId: string) => Promise<string | undefined>;
  /** At most one whole `session:updated` per session per this many ms to clients without deltas (SESSION_UPDATE_COALESCE_MS). */
  coalesceMs: number;
  /** Allowed `Origin` values for upgrades (CORS_ORIGINS; `*` = any). */
  allowedOrigins?: string[];
  metrics?: Metrics;
}

/** An event serialised once for every client of this replica: its head and its UTF-8 envelope. */
interface Delivery {
  head: EventHead;
  text: Buffer;
}

interface Client {
  ws: WebSocket;
  principal: Principal;
  /**
   * Asked for deltas (`?deltas=1`, or subscribe `deltas: true`): gets `session:timeline_added` /
   * `session:event_added` and the list-less `session:updated` as they are in the stream. Otherwise (the
   * original UI) it gets whole, coalesced `session:updated`s instead (contract 00 "Events").
   */
  deltas: boolean;
  /** Project ids the client subscribed to; undefined = every project it may read. */
  filter?: Set<string>;
  alive: boolean;
  /** While replaying, live events wait here (bounded) and are de-duplicated against `lastIds`. */
  replaying: boolean;
  /**
   * A socket opened without `?since=` holds its live events for RESUME_GRACE_MS, in case its first
   * message is a `resume`: then the replay comes first and nothing is reordered (issue 13, item 5).
   */
  awaitingResume?: NodeJS.Timeout;
  pending: Delivery[];
  /** Bytes of the texts in `pending` (bounded by maxBufferedBytes, see `holdBack`). */
  pendingBytes: number;
  lastIds: Map<string, string>;
  /** Per project, the first and last event id sent live on this connection (a contiguous range). */
  live: Map<string, [string, string]>;
  /**
   * Per replayed project, the last id the replay sent. The replica's subscription may deliver an
   * event after the replay already read it from the stream (pub/sub lags the stream): live events up
   * to this id are dropped; the first newer one clears the entry.
   */
  replayedUpTo: Map<string, string>;
  /** While the principal's roles are being re-read, events wait here and are filtered afterwards. */
  held?: Delivery[];
  closing: boolean;
}

/**
 * Live events a replaying client may hold back before it counts as too slow; they are also bounded
 * in bytes by WS_MAX_BUFFERED_BYTES (see `holdBack`).
 */
const MAX_PENDING = 10_000;
/**
 * How long a replay waits for a client's send buffer to drain to the low watermark before the client
 * counts as too slow and is closed with 1013, ms (the bound the replay has always had).
 */
const DRAIN_WAIT_MS = 30_000;
/** The longest a project's events wait behind a whole session being rendered for clients without deltas, ms. */
const HOLD_MAX_MS = 1000;
/** How long a socket opened without `?since=` holds its live events waiting for a `resume`, ms. */
const RESUME_GRACE_MS = 500;
/** How often a paused replay looks at the send buffer again, ms. */
const DRAIN_POLL_MS = 20;
const READY_STATE_TEXT = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'] as const;

/**
 * The WebSocket side of contract 03 and 00 "Events": attached to the API's HTTP server on any path;
 * ONE Redis subscription per replica; each event serialised once per replica and sent to every client
 * that may read its project and subscribed to it; replay from the project streams on `?since=` or
 * `{"type":"resume"}`, switching to live with no gap and no duplicate, a page at a time per socket;
 * ping/pong; heartbeats; slow clients closed with 1013, and so are sockets over the per-user cap
 * (user-socket-quota.ts); 1001 on shutdown.
 */
export class WsGateway {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
  private readonly clients = new Set<Client>();
  private heartbeat?: NodeJS.Timeout;
  private registry?: NodeJS.Timeout;
  private readonly authenticate: UpgradeAuthenticator;
  /** Events delivered to clients since start (for status and tests). */
  sentCount = 0;
  /** Clients closed for being too slow. */
  droppedSlow = 0;
  /** Replays served. */
  replays = 0;
  /** Sockets closed (1013) at once because their user already held WS_MAX_CONNECTIONS_PER_USER. */
  refusedOverCap = 0;
  /** Per-user socket cap across the cluster (user-socket-quota.ts). */
  readonly quota: UserSocketQuota;
  private stopped = false;
  private corked = false;
  /** Resolves once the replica's events subscription is active. */
  subscribed: Promise<void> = Promise.resolve();

  /** Whole `session:updated`s for clients without deltas, rendered once per replica. */
  private readonly coalescer: SessionCoalescer;
  /**
   * Projects whose clients without deltas wait for a whole session being rendered at once: their later
   * events queue here meanwhile, so those clients keep the project's order (contract 03: e.g. spawn's
   * session:updated before session:spawn). `count` = renders in flight for the project.
   */
  private readonly legacyHolds = new Map<string, { count: number; queue: Delivery[]; timer: NodeJS.Timeout }>();
  private readonly stream: EventStream;
  private readonly replicasRegistry: ReplicaRegistry;

  constructor(private readonly d: GatewayDeps) {
    this.authenticate = d.authenticate ?? (async () => LOCAL_ADMIN);
    this.quota = new UserSocketQuota({ redis: d.redis, keys: d.keys, nodeId: d.nodeId, limit: d.maxConnectionsPerUser, logger: d.logger });
    this.stream = new EventStream(d.redis, d.keys);
    this.replicasRegistry = new ReplicaRegistry(d.redis, d.keys, d.nodeId);
    this.coalescer = new SessionCoalescer({
      windowMs: d.coalesceMs,
      render: d.renderSession,
      deliver: (pid, id, data) => this.deliverWhole(pid, id, data),
      logger: d.logger,
    });
  }

  /**
   * Sends a coalesced whole session (`session:updated`, stream id `id`) to every client of project
   * `pid` without deltas: serialised once for all of them.
   */
  private deliverWhole(pid: string, id: string, data: string): void {
    const head: EventHead = { id, projectId: pid, type: 'session:updated', timestamp: Date.now() };
    let e: Delivery | undefined;
    for (const client of this.clients) {
      if (client.deltas || (!client.held && !this.wants(client, pid))) continue;
      e ??= { head, text: Buffer.from(envelope(head, data), 'utf8') };
      this.deliverTo(client, e);
    }
  }

  /**
   * Hands one serialised event to a client that wants it (the caller checked `wants`, except for a
   * client whose rights are being re-read): held while they are, held back while it replays (see
   * `holdBack`), sent otherwise.
   */
  private deliverTo(client: Client, e: Delivery): void {
    if (client.held) {
      if (client.held.length < MAX_PENDING) client.held.push(e);
    } else if (client.replaying) this.holdBack(client, e);
    else this.sendLive(client, e.head, e.text);
  }

  /** True when `client` gets this event as it is (a session state event goes whole and coalesced to clients without deltas). */
  private passes(client: Client, type: string): boolean {
    return client.deltas || !SESSION_STATE_EVENTS.has(type);
  }

  /**
   * Keeps project `pid`'s events for clients without deltas queued until `rendering` (a whole session
   * sent at once) is done, at most HOLD_MAX_MS; then sends them in order. Clients with deltas are not
   * held.
   */
  private holdLegacy(pid: string, rendering: Promise<void>): void {
    let hold = this.legacyHolds.get(pid);
    if (!hold) {
      const h = { count: 0, queue: [] as Delivery[], timer: setTimeout(() => this.releaseLegacy(pid, true), HOLD_MAX_MS) };
      h.timer.unref();
      this.legacyHolds.set(pid, h);
      hold = h;
    }
    hold.count++;
    void rendering.finally(() => this.releaseLegacy(pid, false));
  }

  private releaseLegacy(pid: string, force: boolean): void {
    const hold = this.legacyHolds.get(pid);
    if (!hold) return;
    if (!force && --hold.count > 0) return;
    clearTimeout(hold.timer);
    this.legacyHolds.delete(pid);
    for (const e of hold.queue) {
      for (const client of this.clients) {
        if (client.deltas || (!client.held && !this.wants(client, pid))) continue;
        this.deliverTo(client, e);
      }
    }
  }

  /** Subscribes to the events channel and takes over WebSocket upgrades of `server`. */
  async attach(server: Server): Promise<void> {
    const authChannel = `${this.d.keys.prefix}auth`;
    this.d.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.d.keys.eventsChannel) this.fanOut(message);
      else if (channel === authChannel) void this.refreshUser(message);
    });
    if (this.d.refreshPrincipal) void this.d.subscriber.subscribe(authChannel).catch(() => undefined);
    // Pub/sub does not buffer: events published while this replica's subscription was down never
    // reach it. When the subscription is back, every client is asked to reconnect (1012) with its
    // last id, and the replay from the streams fills the gap.
    let interrupted = false;
    this.d.subscriber.on('close', () => (interrupted = true));
    this.d.subscriber.on('ready', () => {
      if (!interrupted) return;
      interrupted = false;
      for (const c of this.clients) c.ws.close(1012, 'Event subscription was interrupted: reconnect with ?since=<last id>');
    });
    // Not awaited: with Redis away at start-up the subscription is made when it returns.
    this.subscribed = this.d.subscriber.subscribe(this.d.keys.eventsChannel).then(
      () => undefined,
      (err: Error) => this.d.logger.warn({ err: err.message }, 'events subscription failed'),
    );
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.upgrade(req, socket, head));
    this.heartbeat = setInterval(() => this.beat(), this.d.heartbeatMs);
    this.heartbeat.unref();
    this.registry = setInterval(() => void this.report(), REGISTRY_MS);
    this.registry.unref();
    this.d.redis.on('ready', () => void this.report());
    void this.report();
  }

  /** A membership of `userId` changed: its connected clients get their roles read again, at once. */
  private async refreshUser(userId: string): Promise<void> {
    const refresh = this.d.refreshPrincipal;
    if (!refresh) return;
    const affected = [...this.clients].filter((c) => c.principal.id === userId);
    // Events arriving while the roles are re-read are held, then filtered with the new roles: the
    // membership message is published before the change it enables, so nothing is dropped.
    for (const c of affected) c.held ??= [];
    for (const client of affected) {
      const next = await refresh(client.principal).catch(() => client.principal);
      const held = client.held ?? [];
      client.held = undefined;
      if (!next) {
        client.ws.close(4401, 'Credential no longer valid');
        continue;
      }
      client.principal = next;
      for (const e of held) if (this.wants(client, e.head.projectId)) this.deliverTo(client, e);
    }
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const origin = req.headers.origin;
    const allowed = this.d.allowedOrigins ?? ['*'];
    if (origin && !allowed.includes('*') && !allowed.includes(origin)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"error":true,"code":"FORBIDDEN","message":"Origin not allowed"}');
      return;
    }
    let principal: Principal | undefined;
    try {
      principal = await this.authenticate(req);
    } catch {
      principal = undefined;
    }
    if (!principal) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"error":true,"code":"UNAUTHORIZED","message":"Authentication required"}');
      return;
    }
    const who = principal;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.quota.caps(who)) void this.admit(ws, req, who);
      else this.connected(ws, req, who, undefined);
    });
  }

  /**
   * Admits an upgraded socket under the per-user cap (contract 00 "Tenancy limits"). The socket is
   * paused meanwhile (what the client sends waits in it) and joins no fan-out until admitted; over
   * the cap it is closed with 1013 at once, before any event, and nothing else is slowed.
   */
  private async admit(ws: WebSocket, req: IncomingMessage, principal: Principal): Promise<void> {
    // Until `connected` attaches its own, a protocol error of a socket that is not admitted must not
    // be an unhandled 'error' event (which would end the process).
    const ignore = () => undefined;
    ws.on('error', ignore);
    ws.pause();
    const lease = await this.quota.acquire(principal);
    if (lease && !this.stopped && ws.readyState === WebSocket.OPEN) {
      this.connected(ws, req, principal, lease);
      ws.off('error', ignore);
      ws.resume(); // its listeners are in place: what it sent meanwhile is read now
      return;
    }
    ws.resume(); // to read the client's answer to the close below
    if (!lease) {
      this.refusedOverCap++;
      this.d.logger.warn({ userId: principal.id, limit: this.d.maxConnectionsPerUser }, 'refusing WebSocket over the per-user cap (1013)');
      ws.close(1013, `Too many WebSockets for this user (WS_MAX_CONNECTIONS_PER_USER=${this.d.maxConnectionsPerUser})`);
      setTimeout(() => ws.terminate(), 10_000).unref();
      return;
    }
    // Shutting down, or the socket went away while it waited.
    lease.release();
    if (ws.readyState === WebSocket.OPEN) ws.close(1001, 'Server shutting down');
  }

  private connected(ws: WebSocket, req: IncomingMessage, principal: Principal, lease: SocketLease | undefined): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const deltas = ['1', 'true'].includes(url.searchParams.get('deltas') ?? '');
    const client: Client = { ws, principal, deltas, alive: true, replaying: false, pending: [], pendingBytes: 0, lastIds: new Map(), live: new Map(), replayedUpTo: new Map(), closing: false };
    this.clients.add(client);
    ws.on('pong', () => (client.alive = true));
    this.d.metrics?.wsConnections.inc();
    let gone = false;
    const leave = () => {
      this.clients.delete(client);
      if (!gone) {
        this.d.metrics?.wsConnections.dec();
        lease?.release();
      }
      gone = true;
    };
    ws.on('close', leave);
    ws.on('error', leave);
    ws.on('message', (raw: RawData, isBinary: boolean) => this.onMessage(client, raw, isBinary));
    const since = url.searchParams.get('since');
    const projects = url.searchParams.get('projectIds');
    if (projects) client.filter = new Set(projects.split(',').filter(Boolean).slice(0, 1000));
    if (since) void this.replay(client, since);
    else {
      client.replaying = true;
      client.awaitingResume = setTimeout(() => this.endResumeGrace(client), RESUME_GRACE_MS);
      client.awaitingResume.unref();
    }
  }

  private onMessage(client: Client, raw: RawData, isBinary: boolean): void {
    if (isBinary) return;
    const msg = parseClientMessage(String(raw));
    if (!msg) {
      this.d.logger.debug('ignored a WebSocket message of no known shape');
      return;
    }
    if (msg.type === 'ping') {
      this.send(client, JSON.stringify({ type: 'pong', timestamp: Date.now() }));
    } else if (msg.type === 'subscribe') {
      const ids = msg.projectIds ?? undefined;
      client.filter = ids ? new Set(ids) : undefined;
      if (msg.deltas !== undefined) client.deltas = msg.deltas;
      this.send(client, JSON.stringify({ type: 'subscribed', projectIds: ids ?? null, deltas: client.deltas }));
    } else {
      void this.replay(client, msg.since);
    }
  }

  private wants(client: Client, projectId: string | null): boolean {
    if (projectId === null) return true;
    if (client.filter && !client.filter.has(projectId)) return false;
    return this.d.canRead(client.principal, projectId);
  }

  /**
   * Corks every client socket until the end of this tick, so that the events of one burst (the
   * subscriber delivers a whole read at once) leave in one write per client instead of one each.
   */
  private corkUntilNextTick(): void {
    if (this.corked) return;
    this.corked = true;
    const sockets: { cork(): void; uncork(): void }[] = [];
    for (const c of this.clients) {
      const sock = (c.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
      if (sock) {
        sock.cork();
        sockets.push(sock);
      }
    }
    setImmediate(() => {
      this.corked = false;
      for (const sock of sockets) sock.uncork();
    });
  }

  /**
   * Fans one published event out: serialised once, sent to every client that wants it. A session
   * state event goes as it is to clients with deltas; for the others it only marks its session
   * touched, and the coalescer sends them the whole session (once per replica).
   */
  private fanOut(message: string): void {
    if (this.clients.size === 0) return;
    this.corkUntilNextTick();
    const parts = splitPublished(message);
    if (!parts) return;
    let legacyWatcher = false;
    const pid = parts.head.projectId;
    let hold = pid === null ? undefined : this.legacyHolds.get(pid);
    if (hold && hold.queue.length >= MAX_PENDING) {
      // a render that takes too long: what waited goes out now, and this event after it
      this.releaseLegacy(pid!, true);
      hold = undefined;
    }
    let queued = false;
    // Serialised and UTF-8 encoded once for every client of this replica.
    let e: Delivery | undefined;
    for (const client of this.clients) {
      if (!client.held && !this.wants(client, pid)) continue;
      if (!this.passes(client, parts.head.type)) {
        legacyWatcher = true;
        continue;
      }
      e ??= { head: parts.head, text: Buffer.from(envelope(parts.head, parts.data), 'utf8') };
      if (hold && !client.deltas) {
        // behind a whole session being rendered: queued once, sent to these clients in order after it
        if (!queued) hold.queue.push(e);
        queued = true;
      } else this.deliverTo(client, e);
    }
    if (legacyWatcher && parts.head.projectId !== null) {
      const sid = sessionOfEvent(parts.data);
      const rendering = sid ? this.coalescer.touched(parts.head.projectId, sid, parts.head.id) : undefined;
      if (rendering) this.holdLegacy(parts.head.projectId, rendering);
    }
  }

  /**
   * Holds a live event back while the client replays. Over MAX_PENDING events, or over
   * WS_MAX_BUFFERED_BYTES bytes of them, the client is too slow (1013): what it holds could not be
   * sent at the switch to live without passing the send-buffer bound anyway. The texts are the
   * replica's one serialised copy of each event, shared by every client that holds it.
   */
  private holdBack(client: Client, e: Delivery): void {
    if (client.closing) return;
    if (client.pending.length >= MAX_PENDING || client.pendingBytes + e.text.length > this.d.maxBufferedBytes) {
      this.dropSlow(client);
      return;
    }
    client.pending.push(e);
    client.pendingBytes += e.text.length;
  }

  /** Sends a live event and records it in the client's live range for its project. */
  private sendLive(client: Client, head: EventHead, text: Buffer): void {
    if (head.projectId !== null && client.replayedUpTo.size > 0) {
      const upTo = client.replayedUpTo.get(head.projectId);
      if (upTo !== undefined) {
        if (compareIds(head.id, upTo) <= 0) return;
        client.replayedUpTo.delete(head.projectId);
      }
    }
    if (!this.send(client, text) || head.projectId === null) return;
    const range = client.live.get(head.projectId);
    if (range) range[1] = head.id;
    else client.live.set(head.projectId, [head.id, head.id]);
  }

  private send(client: Client, text: string | Buffer): boolean {
    const { ws } = client;
    if (client.closing || ws.readyState !== WebSocket.OPEN) return false;
    if (ws.bufferedAmount > this.d.maxBufferedBytes) {
      this.dropSlow(client);
      return false;
    }
    ws.send(text, { binary: false });
    this.sentCount++;
    this.d.metrics?.wsMessagesSent.inc();
    return true;
  }

  /** Closes a client that cannot keep up with 1013 (its buffer stays bounded: nothing more is sent). */
  private dropSlow(client: Client): void {
    if (client.closing) return;
    client.closing = true;
    client.pending = [];
    client.pendingBytes = 0;
    this.droppedSlow++;
    this.d.metrics?.wsDroppedSlow.inc();
    this.d.logger.warn({ bufferedBytes: client.ws.bufferedAmount }, 'closing slow WebSocket client (1013)');
    client.ws.close(1013, 'Client too slow: send buffer over limit');
    // If the close handshake cannot complete (the client never reads), drop the socket.
    setTimeout(() => client.ws.terminate(), 10_000).unref();
  }

  /**
   * The send-buffer level at or below which a replay goes on: an eighth of WS_MAX_BUFFERED_BYTES
   * (1 MiB by default, a page of 100 entries of 10 KB). A replay only reads a page, and only sends
   * an entry, while the buffer is at or below it, so a socket that does not read holds at most this
   * plus one entry in its send buffer, and one page in the replica's memory; the rest stays in Redis.
   */
  private get lowWatermark(): number {
    return Math.floor(this.d.maxBufferedBytes / 8);
  }

  /**
   * Waits (paused, reading nothing) while the client's send buffer is above the low watermark. A
   * client whose buffer stays above it for DRAIN_WAIT_MS is closed with 1013. Resolves false when
   * the client is gone or closing (the replay stops), true when there is room.
   */
  private async waitForRoom(client: Client): Promise<boolean> {
    const open = () => !client.closing && client.ws.readyState === WebSocket.OPEN;
    const deadline = Date.now() + DRAIN_WAIT_MS;
    while (open() && client.ws.bufferedAmount > this.lowWatermark) {
      if (Date.now() >= deadline) {
        this.dropSlow(client);
        return false;
      }
      await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    }
    return open();
  }

  /**
   * Replays retained events after `since` (a stream id: every readable project's events after it; or
   * `{projectId: id}`: exact per-project positions), then goes live: live events that arrive meanwhile
   * are held back and sent afterwards unless already replayed. A position older than what a stream
   * retains → `{"type":"resync_required"}` and no replay.
   *
   * Bounded per socket (contract 00 "Events"): entries are read WS_REPLAY_PAGE at a time, and the
   * next page is read (and each entry sent) only once the socket's send buffer is at or below the
   * low watermark, so a client that does not read costs one page of memory and no further Redis
   * reads until it reads again (or is closed with 1013 after DRAIN_WAIT_MS).
   */
  async replay(client: Client, since: string | Record<string, string>): Promise<void> {
    // a resume within the grace after connecting keeps what was held back meanwhile (sent after the
    // replay unless already replayed)
    const continuing = client.awaitingResume !== undefined;
    if (continuing) {
      clearTimeout(client.awaitingResume);
      client.awaitingResume = undefined;
    } else {
      if (client.replaying) return;
      client.replaying = true;
      client.pending = [];
      client.pendingBytes = 0;
    }
    client.lastIds = new Map();
    this.replays++;
    this.d.metrics?.wsReplays.inc();
    try {
      const positions = new Map<string, string>();
      if (typeof since === 'string') {
        if (!isStreamId(since)) {
          this.send(client, JSON.stringify({ type: 'error', message: 'since must be an event id like 1700000000000-0' }));
          return;
        }
        for (const pid of await this.d.readableProjects(client.principal)) if (this.wants(client, pid)) positions.set(pid, since);
      } else {
        for (const [pid, id] of Object.entries(since)) {
          if (typeof id === 'string' && isStreamId(id) && this.wants(client, pid)) positions.set(pid, id);
        }
      }
      if (await this.anyTooOld(positions)) {
        this.send(client, JSON.stringify({ type: 'resync_required' }));
        return;
      }
      for (const [pid, from] of positions) {
        // Events this connection already received live are not sent again.
        const live = client.live.get(pid);
        // Without deltas, session state events are not replayed one by one: each touched session is
        // sent once, whole and current, after the project's other events (contract 00 "Events").
        const touched = new Set<string>();
        if (!client.deltas && this.d.coalesceMs > 0) await this.lookBack(pid, from, touched);
        let cursor = from;
        for (;;) {
          // No page is read for a socket whose send buffer is full: it waits here, paused.
          if (!(await this.waitForRoom(client))) return;
          const entries = await this.stream.page(pid, cursor, this.d.replayPage);
          for (const e of entries) {
            if (client.ws.bufferedAmount > this.lowWatermark && !(await this.waitForRoom(client))) return;
            if (!this.passes(client, e.type)) {
              const sid = sessionOfEvent(e.data);
              if (sid) touched.add(sid);
            } else if (!live || compareIds(e.id, live[0]) < 0 || compareIds(e.id, live[1]) > 0) {
              this.send(client, envelope({ id: e.id, projectId: pid, type: e.type }, e.data));
            }
            client.lastIds.set(pid, e.id);
            cursor = e.id;
          }
          if (entries.length < this.d.replayPage) break;
        }
        for (const sid of touched) {
          if (!(await this.waitForRoom(client))) return;
          const data = await this.d.renderSession(pid, sid);
          if (data !== undefined) this.send(client, envelope({ id: client.lastIds.get(pid) ?? from, projectId: pid, type: 'session:updated' }, data));
        }
      }
    } catch (err) {
      this.d.logger.warn({ err: (err as Error).message }, 'WebSocket replay failed');
      // Redis away (e.g. just restarted): the position is not too old, so the client is asked to come
      // back with the same `since` rather than to refetch everything.
      if (isRedisUnavailable(err)) client.ws.close(1012, 'Replay unavailable: reconnect with ?since=<last id>');
      else this.send(client, JSON.stringify({ type: 'resync_required' }));
    } finally {
      // Switch to live: what arrived meanwhile, minus what the replay already sent (same tick, no gap).
      const pending = client.pending;
      client.pending = [];
      client.pendingBytes = 0;
      client.replaying = false;
      for (const [pid, id] of client.lastIds) client.replayedUpTo.set(pid, id);
      client.lastIds = new Map();
      for (const { head, text } of pending) this.sendLive(client, head, text);
    }
  }

  /** The resume grace of a new socket is over without a `resume`: what it held goes out, in order. */
  private endResumeGrace(client: Client): void {
    if (client.awaitingResume === undefined) return;
    client.awaitingResume = undefined;
    const pending = client.pending;
    client.pending = [];
    client.pendingBytes = 0;
    client.replaying = false;
    for (const { head, text } of pending) this.sendLive(client, head, text);
  }

  /** True when some stream has trimmed events after the given position. */
  private async anyTooOld(positions: Map<string, string>): Promise<boolean> {
    const checks = await Promise.all([...positions].map(([pid, from]) => this.stream.tooOld(pid, from)));
    return checks.some(Boolean);
  }

  /**
   * For a client without deltas resuming at `from`: the sessions whose state events fall in the
   * coalescing window before it (2 × SESSION_UPDATE_COALESCE_MS, for clock slack). A whole
   * `session:updated` for them may have been pending when the client left, so the replay sends them
   * again. Reads that window of the stream a page at a time (no socket writes).
   */
  private async lookBack(pid: string, from: string, touched: Set<string>): Promise<void> {
    const ms = Number(from.split('-')[0]);
    let cursor = `${Math.max(0, ms - 2 * this.d.coalesceMs)}-0`;
    for (;;) {
      const entries = await this.stream.page(pid, cursor, this.d.replayPage, from);
      for (const e of entries) {
        if (SESSION_STATE_EVENTS.has(e.type)) {
          const sid = sessionOfEvent(e.data);
          if (sid) touched.add(sid);
        }
        cursor = e.id;
      }
      if (entries.length < this.d.replayPage) return;
    }
  }

  private beat(): void {
    for (const client of this.clients) {
      if (!client.alive) {
        client.ws.terminate();
        this.clients.delete(client);
        continue;
      }
      client.alive = false;
      try {
        client.ws.ping();
      } catch {
        /* socket already gone */
      }
    }
  }

  private async report(): Promise<void> {
    await this.replicasRegistry.report(this.clients.size);
    // The per-user cap's own registry step: which replicas' counts still count.
    await this.quota.heartbeat();
  }

  /**
   * `/ws-status` (contract 02): this replica's clients, plus additively the cluster's replicas seen in
   * the last 15 s and their client counts.
   */
  async status(): Promise<Record<string, unknown>> {
    const clients = [...this.clients].map((c) => ({ readyState: c.ws.readyState, readyStateText: READY_STATE_TEXT[c.ws.readyState] }));
    const out: Record<string, unknown> = { connectedClients: clients.length, clients, nodeId: this.d.nodeId };
    const replicas = await this.replicasRegistry.replicas(clients.length);
    if (replicas) out.cluster = { replicas, connectedClients: replicas.reduce((a, r) => a + r.connectedClients, 0) };
    return out;
  }

  /** Number of connected clients on this replica. */
  get size(): number {
    return this.clients.size;
  }

  /** Shutdown: every client gets 1001 (reconnect elsewhere), the subscription is closed. */
  async close(): Promise<void> {
    this.stopped = true;
    this.coalescer.close();
    clearInterval(this.heartbeat);
    clearInterval(this.registry);
    for (const c of this.clients) c.ws.close(1001, 'Server shutting down');
    await new Promise<void>((resolve) => {
      const deadline = setTimeout(resolve, 2000);
      const check = () => {
        if (this.clients.size === 0) {
          clearTimeout(deadline);
          resolve();
        } else setTimeout(check, 20);
      };
      check();
    });
    for (const c of this.clients) c.ws.terminate();
    this.wss.close();
    await this.replicasRegistry.leave();
    await this.quota.close();
    await this.d.subscriber.quit().catch(() => this.d.subscriber.disconnect());
  }
}
