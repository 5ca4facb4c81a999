import { AppError, NotFoundError, ValidationError } from '../errors.js';
import { allows, authorizeIn } from '../access/policy.js';
import type { Principal } from '../principal.js';
import { indexMember, memberId } from '../keys.js';
import { VersionConflict, withRetry, type Commit } from '../commit.js';
import { encodeFields } from './entity-codec.js';
import { readDoc, versionOf, type Rendered } from './documents.js';
import { guardFields, moveTaskIndexes, readTaskGraph, readTaskGraphs, type TaskClaim, type TaskGraphState } from './task-graph.js';
import type { StoreContext } from './store-context.js';
import type { SessionStore } from './session-store.js';
import type { TaskStore } from './task-store.js';

/** Lease settings of claims (config CLAIM_LEASE_MS, CLAIM_LEASE_MAX_MS), ms. */
export interface ClaimLimits {
  leaseMs: number;
  maxLeaseMs: number;
}

/** The defaults of ClaimLimits: 10 minutes, at most a day. */
export const DEFAULT_CLAIM_LIMITS: ClaimLimits = { leaseMs: 600_000, maxLeaseMs: 86_400_000 };

const SESSION_FIELDS = ['status', 'startedAt', 'taskIds', 'version'] as const;
const FINISHED = new Set(['completed', 'failed', 'stopped']);
/**
 * `claimNext`: candidates read from the head of the ready index per round, how many of the first of
 * them it picks from at random (so concurrent callers rarely try the same task), and rounds at most.
 */
const NEXT_WINDOW = 16;
const NEXT_SPREAD = 4;
const NEXT_ROUNDS = 20;

/** A render of the commit as the routes send it (its `version` for the ETag). */
const rendered = (json: string): Rendered => ({ json, version: versionOf(json) });

const conflict = (message: string, details?: unknown) => new AppError(409, 'CONFLICT', message, details === undefined ? {} : { details });
const isConflict = (err: unknown) => err instanceof AppError && err.status === 409;

/** A session as a claim reads it: its key, status as stored (for the commit's guard), start and tasks. */
interface SessionState {
  key: string;
  rawStatus: string | null;
  startedAt: number;
  taskIds: string[];
}

/**
 * Claims of tasks by sessions (contract 08 "Claims"). A claim is the task's `claimedBy {sessionId, at,
 * expiresAt}` plus its entry in the project's `claims` sorted set (task id by expiry, ms), both written
 * by one commit guarded on the claim, blockers and status as read — so of any number of concurrent
 * claims on any replicas exactly one lands; the others retry, see it and answer 409. Claiming sets the
 * task `in_progress`, links the session to it (as `POST /sessions/:id/tasks/:taskId` does) and takes it
 * out of the ready index. Leases are released server-side by `sweep`, a scheduled job of the workers
 * (every CLAIM_SWEEP_MS) rather than Redis keyspace notifications, which are fire-and-forget (lost
 * while no worker listens) and need server configuration: the sweep reads only what is due, a page at a
 * time, from an index of projects by earliest expiry (`{claims}:projects`).
 */
export class ClaimStore {
  constructor(
    private readonly ctx: StoreContext,
    private readonly tasks: Pick<TaskStore, 'projectOf'>,
    private readonly sessions: Pick<SessionStore, 'linkOps'>,
    private readonly limits: ClaimLimits = DEFAULT_CLAIM_LIMITS,
  ) {}

  private lease(leaseMs: number | undefined): number {
    if (leaseMs === undefined) return this.limits.leaseMs;
    if (!Number.isInteger(leaseMs) || leaseMs < 1000 || leaseMs > this.limits.maxLeaseMs) {
      throw new ValidationError(`leaseMs must be an integer from 1000 to ${this.limits.maxLeaseMs} (CLAIM_LEASE_MAX_MS)`, [{ path: 'body.leaseMs', message: 'out of range' }]);
    }
    return leaseMs;
  }

  /** The project of task `id` the caller may write, and that the caller may act for session `sessionId` there (else 404). */
  private async scope(actor: Principal, taskId: string, sessionId: string | undefined): Promise<string> {
    const pid = await this.tasks.projectOf(taskId);
    authorizeIn(actor, 'task:write', pid, () => new NotFoundError('Task', taskId));
    if (sessionId !== undefined && !allows(actor, 'session:write', { projectId: pid, sessionId })) throw new NotFoundError('Session', sessionId);
    return pid;
  }

  /** The session `sessionId` of project `pid` as read (404 when it is not there, 409 when it has ended). */
  private async session(pid: string, sessionId: string): Promise<SessionState> {
    const key = this.ctx.keys.session(pid, sessionId);
    const v = await this.ctx.redis.hmget(key, ...SESSION_FIELDS);
    if (v[3] === null) throw new NotFoundError('Session', sessionId);
    const status = JSON.parse(v[0] ?? '"idle"') as string;
    if (FINISHED.has(status)) throw conflict(`Session ${sessionId} has ended`);
    return { key, rawStatus: v[0] ?? null, startedAt: Number(v[1] ?? 0), taskIds: (v[2] ? (JSON.parse(v[2]) as string[]) : []) as string[] };
  }

  private async render(pid: string, id: string): Promise<Rendered> {
    const r = await readDoc(this.ctx, this.ctx.keys.task(pid, id), 'task');
    if (!r) throw new NotFoundError('Task', id);
    return r;
  }

  /** Moves task `st` to `status` in the status indexes (as a PATCH of its status does). */
  private moveStatus(c: Commit, pid: string, st: TaskGraphState, status: string): void {
    moveTaskIndexes(c, this.ctx.keys, pid, indexMember(st.createdAt, st.id), { status: st.status, parentId: st.parentId }, { status, parentId: st.parentId });
  }

  /**
   * One claim attempt on a task as read: 409 when another session's live claim holds it (with the
   * holder's `sessionId`), when it is blocked by dependencies (listing `blockedBy`), or when it is not
   * `todo`/`in_progress`; the same session's claim is renewed. VersionConflict when it or the session
   * changed meanwhile. `known` is the session as the caller read it (else read here: 404, 409 ended).
   */
  private async attempt(pid: string, st: TaskGraphState, sessionId: string, leaseMs: number, known?: SessionState): Promise<Rendered> {
    const now = this.ctx.clock();
    const held = st.claimedBy;
    if (held && held.expiresAt > now && held.sessionId !== sessionId) throw conflict(`Task ${st.id} is claimed by session ${held.sessionId}`, { sessionId: held.sessionId, expiresAt: held.expiresAt });
    if (st.blockedBy.length) throw conflict(`Task ${st.id} is blocked by ${st.blockedBy.join(', ')}`, { blockedBy: st.blockedBy });
    if (st.status !== 'todo' && st.status !== 'in_progress') throw conflict(`Task ${st.id} is ${st.status}`, { status: st.status });
    const s = known ?? (await this.session(pid, sessionId));
    const k = this.ctx.keys;
    const c = this.ctx.commit(pid, now);
    guardFields(c, st, ['claimedBy', 'blockedBy', 'status']);
    c.fieldIs(s.key, 'status', s.rawStatus ?? null, { resource: 'Session', id: sessionId });
    const claim: TaskClaim = { sessionId, at: held?.sessionId === sessionId ? held.at : now, expiresAt: now + leaseMs };
    this.moveStatus(c, pid, st, 'in_progress');
    c.hset(st.key, encodeFields({ claimedBy: claim, status: 'in_progress', updatedAt: now }), true).hsetIfNull(st.key, 'startedAt', String(now));
    // linked as POST /sessions/:id/tasks/:taskId links them (both sides, the timeline entry, the events)
    if (!s.taskIds.includes(st.id)) this.sessions.linkOps(c, pid, sessionId, s.startedAt, st.id, true);
    c.zaddScore(k.claims(pid), claim.expiresAt, st.id).ready(st.key, st.id, k.tasksReady(pid));
    // marked before the commit too: a crash right after it leaves the claim to the sweeper all the same
    await this.mark(pid, claim.expiresAt);
    const res = await c.eventRender('task:updated', 'task', st.key).render('task', st.key).exec(this.ctx.redis);
    await this.mark(pid, claim.expiresAt);
    return rendered(res.renders[0]!);
  }

  /** Puts project `pid` in the sweeper's index no later than `expiresAt` (claims-mark.lua). */
  private async mark(pid: string, expiresAt: number): Promise<void> {
    await this.ctx.redis.maestroClaimsMark(2, this.ctx.keys.claimProjects, this.ctx.keys.claimGenerations, pid, String(expiresAt));
  }

  /**
   * `fn` on task `taskId` as read, in the project the caller may write it in (`scope`: 404 otherwise),
   * retried with a fresh read on a version conflict; 404 when the task is gone.
   */
  private async withTask<T>(actor: Principal, taskId: string, sessionId: string | undefined, fn: (pid: string, st: TaskGraphState) => Promise<T>): Promise<T> {
    const pid = await this.scope(actor, taskId, sessionId);
    return withRetry(async () => {
      const st = await readTaskGraph(this.ctx, pid, taskId);
      if (!st) throw new NotFoundError('Task', taskId);
      return fn(pid, st);
    });
  }

  /**
   * withRetry of `fn` on task `taskId` of `pid`, whose state `first` the caller has read already (one
   * read for many tasks): the first try uses it, each retry reads the task again. `fn` gets undefined
   * for a task that is gone.
   */
  private retryFrom<T>(pid: string, taskId: string, first: TaskGraphState | undefined, fn: (st: TaskGraphState | undefined) => Promise<T>): Promise<T> {
    let tries = 0;
    return withRetry(async () => fn(tries++ === 0 ? first : await readTaskGraph(this.ctx, pid, taskId)));
  }

  /** `POST /tasks/:id/claim {sessionId, leaseMs?}` (contract 08): the claimed task; 409 as `attempt` says. */
  async claim(actor: Principal, taskId: string, input: { sessionId: string; leaseMs?: number }): Promise<Rendered> {
    const leaseMs = this.lease(input.leaseMs);
    return this.withTask(actor, taskId, input.sessionId, (pid, st) => this.attempt(pid, st, input.sessionId, leaseMs));
  }

  /** `POST /tasks/:id/claim/renew {sessionId, leaseMs?}`: a new expiry for the session's own claim; 409 when it does not hold it. */
  async renew(actor: Principal, taskId: string, input: { sessionId: string; leaseMs?: number }): Promise<Rendered> {
    const leaseMs = this.lease(input.leaseMs);
    return this.withTask(actor, taskId, input.sessionId, async (pid, st) => {
      if (st.claimedBy?.sessionId !== input.sessionId) throw conflict(`Task ${taskId} is not claimed by session ${input.sessionId}`, { sessionId: st.claimedBy?.sessionId ?? null });
      const now = this.ctx.clock();
      const claim: TaskClaim = { ...st.claimedBy, expiresAt: now + leaseMs };
      const c = this.ctx.commit(pid, now);
      guardFields(c, st, ['claimedBy']);
      c.hset(st.key, encodeFields({ claimedBy: claim, updatedAt: now }), true).zaddScore(this.ctx.keys.claims(pid), claim.expiresAt, taskId);
      await this.mark(pid, claim.expiresAt);
      const res = await c.eventRender('task:updated', 'task', st.key).render('task', st.key).exec(this.ctx.redis);
      return rendered(res.renders[0]!);
    });
  }

  /**
   * `DELETE /tasks/:id/claim[?sessionId=]`: the claim ends; the task goes back to `todo` unless it was
   * completed meanwhile (and so back to the ready list when nothing blocks it). With `sessionId`, only
   * that session's claim (409 otherwise); a session key releases only its own session's. No claim: the
   * task as it is.
   */
  async release(actor: Principal, taskId: string, sessionId?: string): Promise<Rendered> {
    return this.withTask(actor, taskId, sessionId, async (pid, st) => {
      if (!st.claimedBy) return this.render(pid, taskId);
      const holder = st.claimedBy.sessionId;
      if ((sessionId !== undefined && holder !== sessionId) || (actor.sessionId && actor.sessionId !== holder)) throw conflict(`Task ${taskId} is claimed by session ${holder}`, { sessionId: holder });
      const res = await this.releaseInto(pid, st).render('task', st.key).exec(this.ctx.redis);
      return rendered(res.renders[0]!);
    });
  }

  /** A commit releasing task `st`'s claim (guarded on it), with its `task:updated`. */
  private releaseInto(pid: string, st: TaskGraphState): Commit {
    const c = this.ctx.commit(pid);
    guardFields(c, st, ['claimedBy', 'status']);
    const status = st.status === 'in_progress' ? 'todo' : st.status;
    this.moveStatus(c, pid, st, status);
    c.hset(st.key, encodeFields({ claimedBy: null, status, updatedAt: c.now }), true).zrem(this.ctx.keys.claims(pid), st.id).ready(st.key, st.id, this.ctx.keys.tasksReady(pid));
    return c.eventRender('task:updated', 'task', st.key);
  }

  /**
   * `POST /tasks/claim-next {projectId, sessionId, leaseMs?}` (contract 08): claims a ready task of the
   * project — one of the first NEXT_SPREAD (4) of the ready order, chosen at random so concurrent callers
   * rarely contend for the same one (the order holds to within 4 places) — or undefined (204) when none
   * is ready. A task another caller won meanwhile is skipped for the next one. The session is read
   * once (404; 409 when it has ended, before any task is tried) and again only after a version conflict.
   */
  async claimNext(actor: Principal, input: { projectId: string; sessionId: string; leaseMs?: number }): Promise<Rendered | undefined> {
    const leaseMs = this.lease(input.leaseMs);
    const pid = input.projectId;
    authorizeIn(actor, 'task:write', pid, () => new NotFoundError('Project', pid));
    if (!allows(actor, 'session:write', { projectId: pid, sessionId: input.sessionId })) throw new NotFoundError('Session', input.sessionId);
    let session = await this.session(pid, input.sessionId);
    for (let round = 0; round < NEXT_ROUNDS; round++) {
      const members = await this.ctx.redis.zrange(this.ctx.keys.tasksReady(pid), '-', '+', 'BYLEX', 'LIMIT', 0, NEXT_WINDOW);
      if (members.length === 0) return undefined;
      const candidates = members.map(memberId);
      while (candidates.length) {
        const [id] = candidates.splice(Math.floor(Math.random() * Math.min(candidates.length, NEXT_SPREAD)), 1);
        const st = await readTaskGraph(this.ctx, pid, id!);
        if (!st) continue;
        try {
          return await this.attempt(pid, st, input.sessionId, leaseMs, session);
        } catch (err) {
          // the task or the session changed: read the session again (it may have ended: that 409 stops)
          if (err instanceof VersionConflict) session = await this.session(pid, input.sessionId);
          // held by another session, blocked or no longer todo (attempt's 409s): the next one
          else if (!isConflict(err)) throw err;
        }
      }
    }
    throw conflict('Too many concurrent claims; try again');
  }

  /**
   * Releases the claims session `sessionId` of `pid` holds on `taskIds` (its tasks: a claim links them),
   * when it ends or goes (contract 08: ending the session releases its claims). Best effort: a claim
   * missed here is released when its lease lapses.
   */
  async releaseSession(pid: string, sessionId: string, taskIds: string[]): Promise<void> {
    const states = await readTaskGraphs(this.ctx, pid, taskIds);
    for (const st of states) {
      if (st?.claimedBy?.sessionId !== sessionId) continue;
      await this.retryFrom(pid, st.id, st, async (cur) => {
        if (cur?.claimedBy?.sessionId === sessionId) await this.releaseInto(pid, cur).exec(this.ctx.redis);
      }).catch(() => undefined);
    }
  }

  /**
   * Releases claims whose lease lapsed (the workers' scheduled job): up to `projects` projects whose
   * earliest expiry is due, up to `batch` due claims each, one commit per claim (with its
   * `task:updated`); then each project's place in the index moves to its next expiry, unless a claim
   * was marked meanwhile (claims-reschedule.lua). Returns how many claims it released.
   */
  async sweep(now = this.ctx.clock(), projects = 50, batch = 100): Promise<number> {
    const k = this.ctx.keys;
    const due = await this.ctx.redis.zrangebyscore(k.claimProjects, '-inf', String(now), 'WITHSCORES', 'LIMIT', 0, projects);
    let released = 0;
    for (let i = 0; i < due.length; i += 2) {
      const pid = due[i]!;
      const seen = (await this.ctx.redis.hget(k.claimGenerations, pid)) ?? '';
      const expired = await this.ctx.redis.zrangebyscore(k.claims(pid), '-inf', String(now), 'LIMIT', 0, batch);
      // the due tasks in one pipeline; a task is read again only when its commit meets a conflict
      const states = await readTaskGraphs(this.ctx, pid, expired);
      for (const [j, taskId] of expired.entries()) {
        const done = await this.retryFrom(pid, taskId, states[j], async (st) => {
          if (!st?.claimedBy || st.claimedBy.expiresAt > now) {
            // renewed meanwhile, or gone: only the index entry is stale
            if (!st) await this.ctx.commit(pid).zrem(k.claims(pid), taskId).exec(this.ctx.redis);
            return false;
          }
          await this.releaseInto(pid, st).exec(this.ctx.redis);
          return true;
        }).catch(() => false);
        if (done) released++;
      }
      const next = await this.ctx.redis.zrange(k.claims(pid), '0', '0', 'WITHSCORES');
      await this.ctx.redis.maestroClaimsReschedule(2, k.claimProjects, k.claimGenerations, pid, seen, next[1] ?? '');
    }
    return released;
  }
}
