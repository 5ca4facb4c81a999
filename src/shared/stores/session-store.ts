import { hostname, platform } from 'node:os';
import { AppError, NotFoundError, PreconditionFailedError, ValidationError } from '../errors.js';
import { allows, authorizeIn, canRead } from '../access/policy.js';
import type { Principal } from '../principal.js';
import { indexMember, memberId } from '../keys.js';
import { newId, type SessionTimelineEvent, type WorkerStrategy } from '../schemas/entities.js';
import type {
  SessionCreate,
  SessionEventInput,
  SessionListQuery,
  SessionTimelineInput,
  SessionUpdate,
  TaskTimeline,
} from '../schemas/requests.js';
import { nothingWritten, renderedId, VersionConflict, withRetry, type Commit, type CommitResult } from '../commit.js';
import { decodeFields, encodeFields } from './entity-codec.js';
import { pageMerged, type IndexSource, type Page, type PageRequest } from './pager.js';
import type { ProjectStore } from './project-store.js';
import { readDoc, readWholeList, sessionIdsOf, sessionView, sessionWhole, withTail, type Rendered } from './documents.js';
import type { TaskStore } from './task-store.js';
import type { StoreContext } from './store-context.js';

const FINISHED = new Set(['completed', 'failed', 'stopped']);

/**
 * How a session is answered (contract 00 "Events"): `view` — its document with the last 100 entries
 * of `events` and `timeline` and their counts (`/api/v1`); `whole` — with every entry, as the original
 * (`/api`, assembled in chunks).
 */
export type SessionView = 'view' | 'whole';

/** Which list of a session: its events or its timeline. */
export type SessionList = 'events' | 'timeline';

/** Decodes a list cursor (`i:<position>`, base64url); a malformed one is 400 VALIDATION_ERROR. */
function entryCursor(cursor: string | undefined): number {
  if (!cursor) return 0;
  const m = /^i:(\d{1,12})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new ValidationError('Invalid cursor', [{ path: 'query.cursor', message: 'Invalid cursor' }]);
  return Number(m[1]);
}

/** Fields a spawn adds when it creates its session (contract 04, step 1). */
export interface SpawnSessionInput {
  projectId: string;
  taskIds: string[];
  name: string;
  strategy: WorkerStrategy;
  metadata: Record<string, unknown>;
}

/**
 * Sessions on Redis (contract 01 "Session", 02 "Sessions"). A session is a hash plus two lists
 * (`events`, `timeline`) under its project's hash tag, indexed by project, status, active (status not
 * `completed`) and task. Links to tasks are kept on both sides in one atomic step; a linked task must
 * belong to the session's project (cluster-safe: one slot per change).
 */
export class SessionStore {
  /**
   * Called with the ids of a session's keys once that session has ended (completed, failed, stopped),
   * was deleted or replaced: createStores revokes them (contract 00 "Spawn": a session key lives as
   * long as its session). Best effort, after the change is committed.
   */
  onKeysEnded?: (keyIds: string[]) => Promise<void>;
  /**
   * Called after a session ended (completed, failed, stopped) or went (deleted, replaced) with its
   * project, id and task ids as read: its claims are released (contract 08). Best effort.
   */
  onSessionEnded?: (projectId: string, sessionId: string, taskIds: string[]) => Promise<void>;

  constructor(
    private readonly ctx: StoreContext,
    private readonly projects: ProjectStore,
    private readonly tasks: TaskStore,
  ) {}

  /** Revokes `ids` (the session's keys as read before a removal) through `onKeysEnded`. */
  private endKeys(ids: (string | undefined)[]): Promise<void> {
    const keys = ids.filter((k): k is string => Boolean(k));
    return keys.length && this.onKeysEnded ? this.onKeysEnded(keys).catch(() => undefined) : Promise.resolve();
  }

  /** Revokes the keys the session holds now (read after the change that ended it). */
  private async endCurrentKeys(pid: string, id: string): Promise<void> {
    const [many, one] = await this.ctx.redis.hmget(this.ctx.keys.session(pid, id), 'apiKeyIds', 'apiKeyId').catch(() => [null, null]);
    await this.endKeys([...(many ? (JSON.parse(many) as string[]) : []), one ? (JSON.parse(one) as string) : undefined]);
  }

  private ended(pid: string, id: string, taskIds: string[]): Promise<void> {
    return this.onSessionEnded && taskIds.length ? this.onSessionEnded(pid, id, taskIds).catch(() => undefined) : Promise.resolve();
  }

  private removed(id: string, ownerId: string | undefined): Promise<void> {
    return this.ctx.onSessionRemoved ? this.ctx.onSessionRemoved(id, ownerId).catch(() => undefined) : Promise.resolve();
  }

  /** Project id of session `id`, or undefined. */
  async projectOf(id: string): Promise<string | undefined> {
    return (await this.ctx.redis.get(this.ctx.keys.sessionLookup(id))) ?? undefined;
  }

  /**
   * Session `id` as `view` (default: document + last 100 of each list + counts; `whole`: every entry);
   * NotFoundError('Session', id) when absent or not readable.
   */
  async get(actor: Principal, id: string, view: SessionView = 'view'): Promise<Rendered & { projectId: string }> {
    const pid = await this.projectOf(id);
    const r = pid && canRead(actor, pid) ? await this.read(pid, id, view) : undefined;
    if (!r || !pid) throw new NotFoundError('Session', id);
    return { ...r, projectId: pid };
  }

  /** The session's stored document only (no lists), or NotFoundError: for existence and field checks. */
  async doc(actor: Principal, id: string): Promise<Rendered & { projectId: string }> {
    const pid = await this.projectOf(id);
    const r = pid && canRead(actor, pid) ? await readDoc(this.ctx, this.ctx.keys.session(pid, id), 'session-doc') : undefined;
    if (!r || !pid) throw new NotFoundError('Session', id);
    return { ...r, projectId: pid };
  }

  /** Session `id` of project `pid` as `view`, no access check (undefined when gone). */
  read(pid: string, id: string, view: SessionView): Promise<Rendered | undefined> {
    return view === 'whole' ? sessionWhole(this.ctx, pid, id) : sessionView(this.ctx, pid, id);
  }

  /**
   * `GET /sessions/:id/timeline|events` (contract 00 "Events"): a page of one list in append order.
   * The cursor is the position after the page (lists only grow at the end); total = its length.
   * Two round trips: the session's project (GET), then EXISTS, LLEN and one LRANGE of at most `limit`
   * entries in one pipeline. NotFoundError('Session', id) when absent or not readable; a bad cursor
   * is a ValidationError.
   */
  async entries(actor: Principal, id: string, list: SessionList, req: PageRequest): Promise<Page> {
    const start = entryCursor(req.cursor);
    const pid = await this.projectOf(id);
    if (!pid || !canRead(actor, pid)) throw new NotFoundError('Session', id);
    const key = list === 'events' ? this.ctx.keys.sessionEvents(pid, id) : this.ctx.keys.sessionTimeline(pid, id);
    const res = await this.ctx.redis.pipeline().exists(this.ctx.keys.session(pid, id)).llen(key).lrange(key, start, start + req.limit - 1).exec();
    for (const [err] of res ?? []) if (err) throw err;
    if (!res?.[0]?.[1]) throw new NotFoundError('Session', id);
    const total = Number(res[1]?.[1] ?? 0);
    const items = (res[2]?.[1] as string[]) ?? [];
    const next = start + items.length;
    return { items, total, nextCursor: next < total ? Buffer.from(`i:${next}`, 'utf8').toString('base64url') : undefined };
  }

  /**
   * Adds every entry of `events` and `timeline` to session documents of one page (`/api` lists: the
   * original's whole sessions), each list read in chunks. Documents it cannot parse are left as they are.
   */
  async withLists(docs: string[]): Promise<string[]> {
    const k = this.ctx.keys;
    return Promise.all(
      docs.map(async (doc) => {
        const ids = sessionIdsOf(doc);
        if (!ids) return doc;
        const [events, timeline] = await Promise.all([readWholeList(this.ctx, k.sessionEvents(ids.projectId, ids.id)), readWholeList(this.ctx, k.sessionTimeline(ids.projectId, ids.id))]);
        return withTail(doc, `,"events":[${events.join(',')}],"timeline":[${timeline.join(',')}]`);
      }),
    );
  }

  /** Reads the fields needed to move indexes; undefined when the session does not exist. */
  private async readCore(pid: string, id: string) {
    const key = this.ctx.keys.session(pid, id);
    const names = ['status', 'taskIds', 'startedAt', 'env', 'version', 'strategy', 'archivedAt', 'apiKeyId', 'apiKeyIds', 'ownerId'] as const;
    const cur = decodeFields(names, await this.ctx.redis.hmget(key, ...names));
    if (cur.version === undefined) return undefined;
    return {
      status: cur.status as string,
      taskIds: (cur.taskIds as string[]) ?? [],
      startedAt: cur.startedAt as number,
      env: (cur.env as Record<string, string>) ?? {},
      version: cur.version as number,
      strategy: cur.strategy as string,
      archivedAt: cur.archivedAt as number | undefined,
      /** Every key minted for the session (the legacy single `apiKeyId` included). */
      keyIds: [...((cur.apiKeyIds as string[] | undefined) ?? []), ...(cur.apiKeyId ? [cur.apiKeyId as string] : [])],
      ownerId: cur.ownerId as string | undefined,
    };
  }

  private statusIndexes(c: Commit, pid: string, member: string, oldStatus: string | undefined, newStatus: string): void {
    const k = this.ctx.keys;
    if (oldStatus !== undefined && oldStatus !== newStatus) {
      c.zrem(k.sessionsByStatus(pid, oldStatus), member);
    }
    c.zadd(k.sessionsByStatus(pid, newStatus), member);
    if (newStatus === 'completed') c.zrem(k.sessionsActive(pid), member);
    else c.zadd(k.sessionsActive(pid), member);
  }

  /** Adds to `c` the removal of an existing session (hash, lists, indexes, queue, manifest, task links). */
  private removeInto(c: Commit, pid: string, id: string, cur: NonNullable<Awaited<ReturnType<SessionStore['readCore']>>>): void {
    const k = this.ctx.keys;
    const key = k.session(pid, id);
    const member = indexMember(cur.startedAt, id);
    c.checkVersion(key, cur.version, { resource: 'Session', id });
    c.zrem(k.sessionsAll(pid), member).zrem(k.sessionsByStatus(pid, cur.status), member).zrem(k.sessionsActive(pid), member);
    if (cur.archivedAt !== undefined) c.zrem(k.sessionsArchived(pid), member);
    for (const t of cur.taskIds) {
      c.zrem(k.sessionsByTask(pid, t), member);
      const tk = k.task(pid, t);
      c.arrayRemove(tk, 'sessionIds', id).hset(tk, { updatedAt: String(c.now) }, true, true);
    }
    c.del(key).del(k.sessionEvents(pid, id)).del(k.sessionTimeline(pid, id)).del(k.queue(pid, id)).del(k.manifest(pid, id));
  }

  /**
   * Writes a new session into `c`: hash, timeline (`session_started`, then `task_started` per task),
   * indexes and both sides of each task link. Tasks must exist in the project (NotFound 'Task').
   */
  private createInto(
    c: Commit,
    pid: string,
    s: {
      id: string;
      taskIds: string[];
      name: string;
      agentId?: string;
      env: Record<string, string>;
      strategy: string;
      status: string;
      metadata?: Record<string, unknown>;
      ownerId: string;
    },
  ): string {
    const k = this.ctx.keys;
    const now = c.now;
    const key = k.session(pid, s.id);
    for (const t of s.taskIds) c.exists(k.task(pid, t), { resource: 'Task', id: t });
    c.hset(
      key,
      encodeFields({
        id: s.id,
        projectId: pid,
        taskIds: s.taskIds,
        name: s.name,
        agentId: s.agentId,
        env: s.env,
        strategy: s.strategy,
        status: s.status,
        startedAt: now,
        lastActivity: now,
        completedAt: null,
        hostname: hostname(),
        platform: platform(),
        metadata: s.metadata,
        version: 1,
        ownerId: s.ownerId,
      }),
    );
    const timeline: SessionTimelineEvent[] = [
      { id: newId('evt', now), type: 'session_started', timestamp: now, message: 'Session created' },
      ...s.taskIds.map((taskId) => ({
        id: newId('evt', now),
        type: 'task_started',
        timestamp: now,
        message: 'Started working on task',
        taskId,
      })),
    ];
    c.rpush(k.sessionTimeline(pid, s.id), timeline.map((e) => JSON.stringify(e)));
    const member = indexMember(now, s.id);
    c.zadd(k.sessionsAll(pid), member);
    this.statusIndexes(c, pid, member, undefined, s.status);
    for (const t of s.taskIds) {
      c.zadd(k.sessionsByTask(pid, t), member);
      const tk = k.task(pid, t);
      c.arrayAdd(tk, 'sessionIds', s.id).hset(tk, { updatedAt: String(now) }, true);
    }
    return key;
  }

  /**
   * The answer to a client id that may not be used (item 13: the same for another tenant's session and
   * for a replacement the policy refuses, so it tells nothing about who holds the id).
   */
  private idTaken(id: string): AppError {
    return new AppError(409, 'CONFLICT', `Session id '${id}' is not available; pick a different id`, { envelope: 'route' });
  }

  /**
   * Writes the id → project lookup, first removing a same-id session of another project (which the
   * actor must be allowed to replace, else 409). Returns whether the lookup was written by this call
   * (so a failed create can take it back) and the keys of a session it removed.
   */
  private async claimId(actor: Principal, id: string, pid: string): Promise<{ wrote: boolean }> {
    const prev = await this.projectOf(id);
    if (prev === pid) return { wrote: false };
    if (prev) {
      if (!allows(actor, 'session:replace', { projectId: prev, sessionId: id })) throw this.idTaken(id);
      let gone: Awaited<ReturnType<SessionStore['readCore']>>;
      await withRetry(async () => {
        const cur = await this.readCore(prev, id);
        if (!cur) return;
        const c = this.ctx.commit(prev);
        this.removeInto(c, prev, id, cur);
        await c.event('session:deleted', JSON.stringify({ id })).exec(this.ctx.redis);
        gone = cur;
      });
      if (gone) {
        await this.endKeys(gone.keyIds);
        await this.removed(id, gone.ownerId);
      }
    }
    await this.ctx.redis.set(this.ctx.keys.sessionLookup(id), pid);
    return { wrote: true };
  }

  /**
   * `POST /sessions` (contract 02): order taskIds required → projectId → 404 project → 404 each task.
   * A client `id` that exists is overwritten. Emits `session:created` (unless `_suppressCreatedEvent`)
   * then `task:session_added` per task. No queue is created.
   */
  async create(actor: Principal, input: SessionCreate, view: SessionView = 'view'): Promise<Rendered> {
    const pid = input.projectId;
    authorizeIn(actor, 'session:write', pid, () => new NotFoundError('Project', pid));
    const taskIds = [...new Set(input.taskIds ?? (input.taskId ? [input.taskId] : []))];
    const now = this.ctx.clock();
    const id = input.id ?? newId('sess', now);
    const k = this.ctx.keys;
    // Validate before writing the lookup so a bad request changes nothing.
    if (!(await this.projects.exists(pid))) throw new NotFoundError('Project', pid);
    const found = taskIds.length ? await this.ctx.redis.exists(...taskIds.map((t) => k.task(pid, t))) : 0;
    if (found !== taskIds.length) {
      for (const t of taskIds) {
        if (!(await this.ctx.redis.exists(k.task(pid, t)))) throw new NotFoundError('Task', t);
      }
    }
    if (input.id !== undefined && !allows(actor, 'session:replace', { projectId: pid, sessionId: id }) && (await this.readCore(pid, id))) throw this.idTaken(id);
    const claim = await this.claimId(actor, id, pid);
    let replaced: Awaited<ReturnType<SessionStore['readCore']>>;
    try {
      const res = await withRetry(async () => {
        const c = this.ctx.commit(pid);
        c.exists(k.project(pid), { resource: 'Project', id: pid });
        const old = await this.readCore(pid, id);
        if (old) this.removeInto(c, pid, id, old);
        replaced = old;
        const key = this.createInto(c, pid, {
          id,
          taskIds,
          name: input.name ?? 'Unnamed Session',
          agentId: input.agentId,
          env: input.env ?? {},
          strategy: input.strategy ?? 'simple',
          status: input.status ?? 'idle',
          metadata: input.metadata,
          ownerId: actor.id,
        });
        if (!input._suppressCreatedEvent) {
          c.eventRender('session:created', 'session', key);
          for (const t of taskIds) c.event('task:session_added', JSON.stringify({ taskId: t, sessionId: id }));
        }
        return c.render('session', key).exec(this.ctx.redis);
      });
      // A retry of a create that was made (Idempotency-Key): nothing was replaced now, and the session
      // is the first attempt's; a lookup of this attempt's new id goes.
      const made = res.replayed ? renderedId(res.renders[0]!) : id;
      if (res.replayed) {
        replaced = undefined;
        if (claim.wrote && made !== id) await this.ctx.redis.del(k.sessionLookup(id)).catch(() => undefined);
      }
      // Replaced: its keys die with it (item 6), its files go.
      if (replaced) {
        await this.endKeys(replaced.keyIds);
        await this.ended(pid, id, replaced.taskIds);
        await this.removed(id, replaced.ownerId);
      }
      // A new session's lists are short (its start and one entry per task): whole is the render.
      if (view === 'whole') return { json: res.renders[0]!, version: 1 };
      return (await this.read(pid, made, 'view')) ?? { json: res.renders[0]!, version: 1 };
    } catch (err) {
      // Nothing was written: take back the id claim this call made (item 15: no orphan lookup). After a
      // Redis error the session may exist: its lookup stays (issue 13, item 2).
      if (claim.wrote && nothingWritten(err)) await this.ctx.redis.del(k.sessionLookup(id)).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Creates the session of a spawn (contract 04 step 1-2): status `spawning`, no events yet, task links
   * on both sides and, for `strategy: 'queue'`, the queue — all in one atomic step. Returns its id;
   * `replayed` when a retry under the same Idempotency-Key found it made by the first attempt (the id is
   * then that attempt's).
   */
  async createForSpawn(
    actor: Principal,
    input: SpawnSessionInput,
    queueDoc?: (id: string, now: number) => string,
    id = newId('sess', this.ctx.clock()),
  ): Promise<Rendered & { id: string; replayed: boolean }> {
    const pid = input.projectId;
    const now = this.ctx.clock();
    await this.ctx.redis.set(this.ctx.keys.sessionLookup(id), pid);
    const c = this.ctx.commit(pid, now).exists(this.ctx.keys.project(pid), { resource: 'Project', id: pid });
    const key = this.createInto(c, pid, {
      id,
      taskIds: [...new Set(input.taskIds)],
      name: input.name,
      env: {},
      strategy: input.strategy,
      status: 'spawning',
      metadata: input.metadata,
      ownerId: actor.id,
    });
    if (queueDoc) c.hset(this.ctx.keys.queue(pid, id), { doc: queueDoc(id, now), version: '1' });
    let res: CommitResult;
    try {
      res = await c.render('session', key).exec(this.ctx.redis);
    } catch (err) {
      if (nothingWritten(err)) await this.ctx.redis.del(this.ctx.keys.sessionLookup(id)).catch(() => undefined);
      throw err;
    }
    if (!res.replayed) return { id, json: res.renders[0]!, version: 1, replayed: false };
    // A retry of a spawn whose session was made (Idempotency-Key): that session, not this id.
    const made = renderedId(res.renders[0]!);
    if (made !== id) await this.ctx.redis.del(this.ctx.keys.sessionLookup(id)).catch(() => undefined);
    return { id: made, json: res.renders[0]!, version: 1, replayed: true };
  }

  /**
   * `PATCH /sessions/:id` (contract 02): `taskIds` replaced (no task sync), `status` (completed |
   * failed | stopped ⇒ `completedAt = now`), `agentId`, `env` merged, `events`/`timeline` appended;
   * `lastActivity = now`; emits `session:updated`. `ifMatch` → 412 on version mismatch.
   */
  async update(actor: Principal, id: string, input: SessionUpdate, ifMatch?: number, view: SessionView = 'view'): Promise<Rendered> {
    const pid = await this.projectOf(id);
    authorizeIn(actor, 'session:write', pid, () => new NotFoundError('Session', id));
    const k = this.ctx.keys;
    const key = k.session(pid, id);
    // the tasks the session had or has after this write: where its claims may be (contract 08)
    let linked: string[] = [];
    await withRetry(async () => {
      const cur = await this.readCore(pid, id);
      if (!cur) throw new NotFoundError('Session', id);
      linked = [...new Set([...cur.taskIds, ...(input.taskIds ?? [])])];
      const c = this.ctx.commit(pid);
      const role = { resource: 'Session', id };
      const needsCas = input.env !== undefined || input.taskIds !== undefined || input.status !== undefined;
      if (ifMatch !== undefined) c.checkVersion(key, ifMatch, role);
      else if (needsCas) c.checkVersion(key, cur.version, role);
      else c.exists(key, role);
      const member = indexMember(cur.startedAt, id);
      const fields: Record<string, unknown> = { lastActivity: c.now, agentId: input.agentId };
      if (cur.archivedAt !== undefined) {
        // A PATCH brings an archived session back into the lists (retention archives only idle history).
        c.zrem(k.sessionsArchived(pid), member).zadd(k.sessionsAll(pid), member).hdel(key, ['archivedAt']);
        this.statusIndexes(c, pid, member, undefined, input.status ?? cur.status);
      }
      if (input.taskIds !== undefined) {
        const next = [...new Set(input.taskIds)];
        for (const t of cur.taskIds) if (!next.includes(t)) c.zrem(k.sessionsByTask(pid, t), member);
        for (const t of next) c.zadd(k.sessionsByTask(pid, t), member);
        fields.taskIds = next;
      }
      if (input.status !== undefined) {
        fields.status = input.status;
        this.statusIndexes(c, pid, member, cur.status, input.status);
        if (FINISHED.has(input.status)) fields.completedAt = c.now;
      }
      if (input.env !== undefined) fields.env = { ...cur.env, ...input.env };
      const events = (input.events ?? []).map((e) => JSON.stringify({ ...e, id: e.id ?? newId('evt', c.now), timestamp: e.timestamp ?? c.now }));
      const timeline = (input.timeline ?? []).map((e) => JSON.stringify({ ...e, id: e.id ?? newId('evt', c.now), timestamp: e.timestamp ?? c.now }));
      c.rpush(k.sessionEvents(pid, id), events).rpush(k.sessionTimeline(pid, id), timeline);
      c.hset(key, encodeFields(fields), true).eventRender('session:updated', 'session-head', key);
      // each appended entry as its own small event, for delta clients (contract 00 "Events")
      events.forEach((_, i) => this.entryEvent(c, id, key, 'events', i + 1));
      timeline.forEach((_, i) => this.entryEvent(c, id, key, 'timeline', i + 1));
      await c.exec(this.ctx.redis);
    }, ifMatch);
    if (input.status !== undefined && FINISHED.has(input.status)) {
      await this.endCurrentKeys(pid, id);
      await this.ended(pid, id, linked);
    }
    const out = await this.read(pid, id, view);
    if (!out) throw new NotFoundError('Session', id);
    return out;
  }

  /**
   * Adds to `c` the small event of one appended entry (the `index`-th pushed by `c`): `session:event_added
   * {sessionId, event, …}` or `session:timeline_added {sessionId, entry, …}`, plus additively the
   * session's `version` and `lastActivity` after the commit and the length of the list appended to
   * (`eventCount` / `timelineCount`). Bounded by the entry's own size, and reads nothing (contract 00
   * "Events": the stream never stores the whole session).
   */
  private entryEvent(c: Commit, id: string, key: string, list: SessionList, index: number): void {
    const [type, field, count] = list === 'events' ? ['session:event_added', 'event', 'eventCount'] : ['session:timeline_added', 'entry', 'timelineCount'];
    const k = this.ctx.keys;
    const pid = c.projectId!;
    c.eventStamp(type, key, list === 'events' ? k.sessionEvents(pid, id) : k.sessionTimeline(pid, id), index, count, `{"sessionId":${JSON.stringify(id)},"${field}":`, '}');
  }

  /** Merges `env` into the session (spawn step 7) and emits the given events in one step. */
  async setSpawnEnv(pid: string, id: string, env: Record<string, string>, after: (c: Commit, sessionKey: string) => void): Promise<string> {
    const key = this.ctx.keys.session(pid, id);
    return withRetry(async () => {
      const cur = await this.readCore(pid, id);
      if (!cur) throw new NotFoundError('Session', id);
      const c = this.ctx.commit(pid).checkVersion(key, cur.version, { resource: 'Session', id });
      c.hset(key, encodeFields({ env: { ...cur.env, ...env }, lastActivity: c.now }), true);
      c.eventRender('session:updated', 'session-head', key);
      after(c, key);
      const res = await c.render('session', key).exec(this.ctx.redis);
      return res.renders[0]!;
    });
  }

  /**
   * Ends a spawn that failed for good (contract 00 "Spawn"): a session still `spawning` becomes
   * `failed` with `metadata.error = reason`, `completedAt = now`; emits `session:updated`. No-op when
   * the session is gone or no longer spawning.
   */
  async failSpawn(pid: string, id: string, reason: string): Promise<void> {
    const k = this.ctx.keys;
    const key = k.session(pid, id);
    await withRetry(async () => {
      const cur = await this.readCore(pid, id);
      if (!cur || cur.status !== 'spawning') return;
      const raw = await this.ctx.redis.hget(key, 'metadata');
      const metadata = { ...(raw ? (JSON.parse(raw) as Record<string, unknown>) : {}), error: reason };
      const c = this.ctx.commit(pid).checkVersion(key, cur.version, { resource: 'Session', id });
      this.statusIndexes(c, pid, indexMember(cur.startedAt, id), cur.status, 'failed');
      c.hset(key, encodeFields({ status: 'failed', completedAt: c.now, lastActivity: c.now, metadata }), true);
      await c.eventRender('session:updated', 'session-head', key).exec(this.ctx.redis);
      await this.endCurrentKeys(pid, id);
      await this.ended(pid, id, cur.taskIds);
    });
  }

  /**
   * Puts a failed spawn back to `spawning` for another try (a client's retry of the same spawn; issue
   * 14: retries must not multiply sessions): `failed` → `spawning`, `completedAt` null and
   * `metadata.error` removed; emits `session:updated`. Returns the session as rendered, or undefined
   * when it is gone or not `failed` (then the caller spawns anew).
   */
  async retrySpawn(pid: string, id: string): Promise<string | undefined> {
    const key = this.ctx.keys.session(pid, id);
    return withRetry(async () => {
      const cur = await this.readCore(pid, id);
      if (!cur || cur.status !== 'failed') return undefined;
      const raw = await this.ctx.redis.hget(key, 'metadata');
      const metadata = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      delete metadata.error;
      const c = this.ctx.commit(pid).checkVersion(key, cur.version, { resource: 'Session', id });
      this.statusIndexes(c, pid, indexMember(cur.startedAt, id), cur.status, 'spawning');
      c.hset(key, encodeFields({ status: 'spawning', completedAt: null, lastActivity: c.now, metadata }), true);
      const res = await c.eventRender('session:updated', 'session-head', key).render('session', key).exec(this.ctx.redis);
      return res.renders[0] ?? undefined;
    });
  }

  /**
   * `DELETE /sessions/:id` (contract 02, D8): strips the id from its tasks' `sessionIds`, removes the
   * queue and manifest; emits only `session:deleted {id}`.
   */
  async delete(actor: Principal, id: string, ifMatch?: number): Promise<void> {
    const pid = await this.projectOf(id);
    authorizeIn(actor, 'session:write', pid, () => new NotFoundError('Session', id));
    const gone = await withRetry(async () => {
      const cur = await this.readCore(pid, id);
      if (!cur) throw new NotFoundError('Session', id);
      if (ifMatch !== undefined && ifMatch !== cur.version) throw new PreconditionFailedError(cur.version);
      const c = this.ctx.commit(pid);
      this.removeInto(c, pid, id, cur);
      await c.event('session:deleted', JSON.stringify({ id })).exec(this.ctx.redis);
      return cur;
    }, ifMatch);
    await this.endKeys(gone.keyIds);
    await this.ended(pid, id, gone.taskIds);
    await this.ctx.redis.del(this.ctx.keys.sessionLookup(id));
    await this.removed(id, gone.ownerId);
  }

  /**
   * Records key `keyId` as one of session `id`'s keys (`apiKeyIds`, not rendered), so it is revoked
   * with the session. Throws 409 CONFLICT when the session has ended (or ends meanwhile: then the key
   * is revoked here), NotFound when it is gone. `maxKeys`: at most that many of its keys may work at
   * once (MAX_API_KEYS_PER_SESSION; `activeOf` tells which still do) → 429.
   */
  async addKey(pid: string, id: string, keyId: string, maxKeys: number, activeOf: (ids: string[]) => Promise<string[]>): Promise<void> {
    const key = this.ctx.keys.session(pid, id);
    const cur = await this.readCore(pid, id);
    if (!cur) throw new NotFoundError('Session', id);
    if (FINISHED.has(cur.status)) throw new AppError(409, 'CONFLICT', `Session ${id} has ended; its keys are revoked`, { envelope: 'route' });
    if ((await activeOf(cur.keyIds)).length >= maxKeys) {
      throw new AppError(429, 'RATE_LIMITED', `At most ${maxKeys} active keys per session (MAX_API_KEYS_PER_SESSION)`, { envelope: 'route', headers: { 'Retry-After': '60' } });
    }
    await this.ctx.commit(pid).arrayAdd(key, 'apiKeyIds', keyId).exec(this.ctx.redis);
    // The session may have ended or gone between the read and the add: then nothing revokes this key
    // later, so it is revoked now.
    const after = await this.readCore(pid, id);
    if (!after || FINISHED.has(after.status) || !after.keyIds.includes(keyId)) {
      await this.endKeys([keyId]);
      if (!after) throw new NotFoundError('Session', id);
      throw new AppError(409, 'CONFLICT', `Session ${id} has ended; its keys are revoked`, { envelope: 'route' });
    }
  }

  /**
   * Appends to a session's events or timeline (contract 00 "Events": appends are small events): the
   * entry goes to its list and, as `session:event_added`/`session:timeline_added`, to the stream; the
   * session's `lastActivity`/`version` move. One commit whose cost does not depend on the length of
   * the session. Answers the session as `view` (`rendered: false`: nothing, for the task-timeline route).
   */
  private async append(actor: Principal, id: string, list: SessionList, item: object, view: SessionView = 'view', rendered = true): Promise<Rendered> {
    const pid = await this.projectOf(id);
    authorizeIn(actor, 'session:write', pid, () => new NotFoundError('Session', id));
    const k = this.ctx.keys;
    const key = k.session(pid, id);
    const entry = JSON.stringify(item);
    const c = this.ctx.commit(pid).exists(key, { resource: 'Session', id });
    c.rpush(list === 'events' ? k.sessionEvents(pid, id) : k.sessionTimeline(pid, id), [entry]).hset(key, { lastActivity: String(c.now) }, true);
    this.entryEvent(c, id, key, list, 1);
    await c.exec(this.ctx.redis);
    if (!rendered) return { json: '', version: 0 };
    const out = await this.read(pid, id, view);
    if (!out) throw new NotFoundError('Session', id);
    return out;
  }

  /** `POST /sessions/:id/events`: appends `{id: evt_…, timestamp, type, data}`; emits `session:event_added`. */
  async addEvent(actor: Principal, id: string, input: SessionEventInput, view: SessionView = 'view'): Promise<Rendered> {
    const now = this.ctx.clock();
    return this.append(actor, id, 'events', { id: newId('evt', now), timestamp: now, type: input.type, data: input.data }, view);
  }

  /** `POST /sessions/:id/timeline`: appends an entry (type default `progress`); emits `session:timeline_added`. */
  async addTimeline(actor: Principal, id: string, input: SessionTimelineInput, view: SessionView = 'view'): Promise<Rendered> {
    const now = this.ctx.clock();
    return this.append(
      actor,
      id,
      'timeline',
      {
        id: newId('evt', now),
        type: input.type ?? 'progress',
        timestamp: now,
        message: input.message,
        taskId: input.taskId,
        metadata: input.metadata,
      },
      view,
    );
  }

  /**
   * `POST /tasks/:id/timeline` (contract 02): 404 task → 404 session; appends `{id,type,timestamp,
   * message,taskId}` to the session's timeline; emits `session:updated`.
   */
  async addTaskTimeline(actor: Principal, taskId: string, input: TaskTimeline) {
    await this.tasks.get(actor, taskId);
    const type = input.type ?? 'progress';
    const now = this.ctx.clock();
    await this.append(actor, input.sessionId, 'timeline', { id: newId('evt', now), type, timestamp: now, message: input.message, taskId }, 'view', false);
    return { success: true, taskId, sessionId: input.sessionId, message: input.message, type };
  }

  /**
   * Links (`add`) or unlinks a task (contract 02): 404 session first, then 404 task (it must be in the
   * session's project); both sides + a timeline entry in one step; emits `session:task_added` +
   * `task:session_added` (or the `_removed` pair). Idempotent on the sides, never on the events.
   */
  async link(actor: Principal, id: string, taskId: string, add: boolean, view: SessionView = 'view'): Promise<Rendered> {
    const pid = await this.projectOf(id);
    authorizeIn(actor, 'session:write', pid, () => new NotFoundError('Session', id));
    const k = this.ctx.keys;
    const key = k.session(pid, id);
    const tk = k.task(pid, taskId);
    const startedAt = await this.ctx.redis.hget(key, 'startedAt');
    if (startedAt === null) throw new NotFoundError('Session', id);
    const c = this.ctx.commit(pid).exists(key, { resource: 'Session', id }).exists(tk, { resource: 'Task', id: taskId });
    this.linkOps(c, pid, id, Number(startedAt), taskId, add);
    await c.exec(this.ctx.redis);
    const out = await this.read(pid, id, view);
    if (!out) throw new NotFoundError('Session', id);
    return out;
  }

  /**
   * Adds to `c` the writes of linking (`add`) or unlinking session `id` (started at `startedAt`, ms) and
   * task `taskId` of project `pid`: both sides (`taskIds`, `sessionIds`, the by-task index), the task's
   * `updatedAt`, the session's timeline entry (`task_started` / `task_completed`) and `lastActivity`,
   * and the events `session:task_added|removed`, `task:session_added|removed` and the entry's append
   * event (contract 02 "Sessions"). Used by `link` and by a claim, which links its session (task-claims.ts).
   */
  linkOps(c: Commit, pid: string, id: string, startedAt: number, taskId: string, add: boolean): void {
    const k = this.ctx.keys;
    const key = k.session(pid, id);
    const tk = k.task(pid, taskId);
    const member = indexMember(startedAt, id);
    if (add) {
      c.arrayAdd(key, 'taskIds', taskId).zadd(k.sessionsByTask(pid, taskId), member).arrayAdd(tk, 'sessionIds', id);
    } else {
      c.arrayRemove(key, 'taskIds', taskId).zrem(k.sessionsByTask(pid, taskId), member).arrayRemove(tk, 'sessionIds', id);
    }
    c.hset(tk, { updatedAt: String(c.now) }, true);
    const entry = {
      id: newId('evt', c.now),
      type: add ? 'task_started' : 'task_completed',
      timestamp: c.now,
      message: add ? 'Added task to session' : 'Removed task from session',
      taskId,
    };
    const entryJson = JSON.stringify(entry);
    c.rpush(k.sessionTimeline(pid, id), [entryJson]).hset(key, { lastActivity: String(c.now) }, true);
    const pair = JSON.stringify({ sessionId: id, taskId });
    const rev = JSON.stringify({ taskId, sessionId: id });
    if (add) c.event('session:task_added', pair).event('task:session_added', rev);
    else c.event('session:task_removed', pair).event('task:session_removed', rev);
    this.entryEvent(c, id, key, 'timeline', 1);
  }

  /**
   * `GET /sessions` (contract 02): `projectId`, `taskId` (taskIds contains), `status` (exact),
   * `active=true` (status ≠ completed). Items are `session-head`s (`view`: document + `eventCount`,
   * `timelineCount`) or whole sessions (`whole`). Index chosen: task > status > active > all; a second filter is
   * applied while walking the index (bounded per page).
   */
  async list(actor: Principal, q: SessionListQuery, view: SessionView = 'view'): Promise<Page> {
    const req = { limit: q.limit, cursor: q.cursor };
    if ([q.projectId, q.taskId, q.status, q.active, q.archived].some(Array.isArray)) return { items: [], total: 0 };
    const k = this.ctx.keys;
    const projectId = q.projectId as string | undefined;
    const taskId = q.taskId as string | undefined;
    const status = q.status as string | undefined;
    const active = q.active === 'true';
    const archived = q.archived === 'true';
    let projectIds: string[];
    if (taskId !== undefined) {
      const tp = await this.tasks.projectOf(taskId);
      projectIds = tp && canRead(actor, tp) && (projectId === undefined || projectId === tp) ? [tp] : [];
    } else if (projectId !== undefined) {
      projectIds = canRead(actor, projectId) ? [projectId] : [];
    } else {
      projectIds = await this.projects.readableIds(actor);
    }
    const sources: IndexSource[] = projectIds.map((pid) => {
      const entityPrefix = k.sessionPrefix(pid);
      if (taskId !== undefined) {
        const filter =
          status !== undefined
            ? { field: 'status', op: 'eq' as const, raw: JSON.stringify(status) }
            : active
              ? { field: 'status', op: 'ne' as const, raw: '"completed"' }
              : undefined;
        return { index: k.sessionsByTask(pid, taskId), entityPrefix, filter };
      }
      if (status !== undefined) {
        if (active && status === 'completed') return { index: k.sessionsByStatus(pid, '\u0000none'), entityPrefix };
        return { index: k.sessionsByStatus(pid, status), entityPrefix };
      }
      if (archived) return { index: k.sessionsArchived(pid), entityPrefix };
      if (active) return { index: k.sessionsActive(pid), entityPrefix };
      return { index: k.sessionsAll(pid), entityPrefix };
    });
    // `/api/v1` list items carry each session's document and list counts, not the lists (page them
    // with /timeline and /events); `/api` items are whole sessions, as the original's.
    if (view === 'view') return pageMerged(this.ctx, sources, 'session-head', req);
    const page = await pageMerged(this.ctx, sources, 'session-doc', req);
    return { ...page, items: await this.withLists(page.items) };
  }

  /**
   * Retention (issue 6): archives the sessions of project `pid` that finished (completed, failed or
   * stopped) before `cutoff` (ms; `completedAt`, else `lastActivity`). An archived session leaves the
   * list indexes (all, status, active) for `sessions:archived`, gains `archivedAt`, and keeps its task
   * links on both sides (task `sessionIds`, `GET /sessions?taskId=`), so it stays readable by id and from
   * its tasks. One atomic step per session, guarded by its version: a session changed meanwhile is left
   * for the next run. No event is emitted (nothing a client renders changes but `archivedAt`).
   * Returns the number archived. Cost: O(sessions started before cutoff) per run.
   */
  async archiveFinished(pid: string, cutoff: number, batch = 500): Promise<number> {
    const k = this.ctx.keys;
    let archived = 0;
    for (const status of FINISHED) {
      let from = '-';
      for (;;) {
        const members = await this.ctx.redis.zrange(k.sessionsByStatus(pid, status), from, `(${indexMember(cutoff, '')}`, 'BYLEX', 'LIMIT', '0', String(batch));
        if (!members.length) break;
        from = `(${members[members.length - 1]!}`;
        const rows = await Promise.all(
          members.map((m) => this.ctx.redis.hmget(k.session(pid, memberId(m)), 'completedAt', 'lastActivity', 'status', 'version', 'archivedAt')),
        );
        for (let i = 0; i < members.length; i++) {
          const [completedAt, lastActivity, st, version, archivedAt] = rows[i]!;
          const ended = completedAt && completedAt !== 'null' ? Number(completedAt) : Number(lastActivity);
          if (!version || archivedAt || st !== JSON.stringify(status) || !(ended < cutoff)) continue;
          const id = memberId(members[i]!);
          const key = k.session(pid, id);
          const c = this.ctx.commit(pid).checkVersion(key, Number(version), { resource: 'Session', id });
          c.zrem(k.sessionsAll(pid), members[i]!).zrem(k.sessionsByStatus(pid, status), members[i]!).zrem(k.sessionsActive(pid), members[i]!);
          c.zadd(k.sessionsArchived(pid), members[i]!).hset(key, { archivedAt: String(c.now) });
          try {
            await c.exec(this.ctx.redis);
            archived++;
          } catch (err) {
            if (!(err instanceof VersionConflict) && !(err instanceof NotFoundError)) throw err;
          }
        }
        if (members.length < batch) break;
      }
    }
    return archived;
  }

  /** The strategy and project of a session, for the queue routes (NotFound 'Session' if absent). */
  async strategyOf(actor: Principal, id: string): Promise<{ projectId: string; strategy: string }> {
    const pid = await this.projectOf(id);
    if (!pid || !canRead(actor, pid)) throw new NotFoundError('Session', id);
    const cur = await this.readCore(pid, id);
    if (!cur) throw new NotFoundError('Session', id);
    return { projectId: pid, strategy: cur.strategy };
  }
}
