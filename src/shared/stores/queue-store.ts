import { NotFoundError, ValidationError } from '../errors.js';
import { authorize } from '../access/policy.js';
import type { Principal } from '../principal.js';
import type { QueueItem, QueueState, QueueStats } from '../schemas/entities.js';
import { withRetry, type Commit } from '../commit.js';
import type { SessionStore } from './session-store.js';
import type { TaskStore } from './task-store.js';
import type { StoreContext } from './store-context.js';

/** A queue as read: its state, its version (for the compare-and-set) and where it lives. */
interface LoadedQueue {
  projectId: string;
  key: string;
  queue: QueueState;
  version: number;
}

/** Counts of items per status (contract 01 "QueueStats"). */
export function queueStats(items: QueueItem[]): QueueStats {
  const s: QueueStats = { total: items.length, queued: 0, processing: 0, completed: 0, failed: 0, skipped: 0 };
  for (const i of items) s[i.status]++;
  return s;
}

const nextQueued = (q: QueueState) => q.items.find((i) => i.status === 'queued') ?? null;
const current = (q: QueueState) => {
  const item = q.currentIndex >= 0 ? q.items[q.currentIndex] : undefined;
  return item && item.status === 'processing' ? item : null;
};

/**
 * Per-session queues (contract 05 "Queue", 02 "Queue"). A queue is a hash `{doc: QueueState JSON,
 * version}` under its project's hash tag. Every mutation reads the queue, computes the new state, and
 * commits it only if the version is unchanged (retried otherwise), together with the task side effect
 * and an additive `queue:updated` event: two replicas can never both start an item.
 */
export class QueueStore {
  constructor(
    readonly ctx: StoreContext,
    readonly sessions: SessionStore,
    readonly tasks: TaskStore,
  ) {}

  /** QueueState JSON text for a new queue over `taskIds` (all `queued`, currentIndex -1; contract 05). */
  static initialDoc(sessionId: string, taskIds: string[], now: number): string {
    const state: QueueState = {
      sessionId,
      strategy: 'queue',
      items: taskIds.map((taskId) => ({ taskId, status: 'queued', addedAt: now })),
      currentIndex: -1,
      createdAt: now,
      updatedAt: now,
    };
    return JSON.stringify(state);
  }

  /**
   * Guards of every queue route, in order (contract 02 "Queue"): session exists (404) → its strategy
   * is `queue` (400) → [`beforeQueue`, e.g. push's taskId check] → the queue exists (404).
   */
  private async load(actor: Principal, sessionId: string, write: boolean, beforeQueue?: () => void): Promise<LoadedQueue> {
    const { projectId, strategy } = await this.sessions.strategyOf(actor, sessionId);
    authorize(actor, write ? 'queue:write' : 'queue:read', { projectId }, () => new NotFoundError('Session', sessionId));
    if (strategy !== 'queue') throw new ValidationError(`Session ${sessionId} does not use queue strategy`);
    beforeQueue?.();
    const key = this.ctx.keys.queue(projectId, sessionId);
    const [doc, version] = await this.ctx.redis.hmget(key, 'doc', 'version');
    if (!doc) throw new NotFoundError('Queue', sessionId);
    return { projectId, key, queue: JSON.parse(doc) as QueueState, version: Number(version ?? 0) };
  }

  /**
   * Commits `next` if the queue still has version `loaded.version` (VersionConflict → retried by the
   * caller's withRetry), plus `also` (task side effects), and appends `queue:updated`.
   */
  private async save(loaded: LoadedQueue, next: QueueState, also?: (c: Commit) => void): Promise<void> {
    const c = this.ctx.commit(loaded.projectId);
    next.updatedAt = c.now;
    c.checkVersion(loaded.key, loaded.version, { resource: 'Queue', id: next.sessionId });
    c.hset(loaded.key, { doc: JSON.stringify(next) }, true);
    also?.(c);
    c.event('queue:updated', JSON.stringify({ sessionId: next.sessionId, queue: next }));
    await c.exec(this.ctx.redis);
  }

  /** Sets a task's `sessionStatus` silently (no task:updated; contract 05, D34), bumping updatedAt. */
  private taskStatus(c: Commit, projectId: string, taskId: string, sessionStatus: string): void {
    c.hset(this.ctx.keys.task(projectId, taskId), { sessionStatus: JSON.stringify(sessionStatus), updatedAt: String(c.now) }, true, true);
  }

  /** `GET …/queue` → `{ queue, stats }`. */
  async get(actor: Principal, sessionId: string): Promise<{ queue: QueueState; stats: QueueStats }> {
    const { queue } = await this.load(actor, sessionId, false);
    return { queue, stats: queueStats(queue.items) };
  }

  /** `GET …/queue/items` → `{ items, stats }`. */
  async items(actor: Principal, sessionId: string): Promise<{ items: QueueItem[]; stats: QueueStats }> {
    const { queue } = await this.load(actor, sessionId, false);
    return { items: queue.items, stats: queueStats(queue.items) };
  }

  /** `GET …/queue/top`: the next queued item, or the empty answer the CLI polls for. */
  async top(actor: Principal, sessionId: string) {
    const { queue } = await this.load(actor, sessionId, false);
    const item = nextQueued(queue);
    return item ? { hasMore: true, item } : { hasMore: false, item: null, message: 'Queue is empty - all tasks processed' };
  }

  /**
   * `POST …/queue/start`: no queued item → 200 empty (checked first, even while one is processing);
   * an item processing → 400 "Already processing task <id>. Complete or fail it first."; else the next
   * item → processing, its task's sessionStatus → working.
   */
  async start(actor: Principal, sessionId: string) {
    return withRetry(async () => {
      const loaded = await this.load(actor, sessionId, true);
      const q = loaded.queue;
      const next = nextQueued(q);
      if (!next) return { success: true, item: null, empty: true, message: 'Queue is empty \u2014 no items to process' };
      const cur = current(q);
      if (cur) throw new ValidationError(`Already processing task ${cur.taskId}. Complete or fail it first.`);
      const now = this.ctx.clock();
      next.status = 'processing';
      next.startedAt = now;
      q.currentIndex = q.items.indexOf(next);
      await this.save(loaded, q, (c) => this.taskStatus(c, loaded.projectId, next.taskId, 'working'));
      return { success: true, item: next, message: `Started processing task ${next.taskId}` };
    });
  }

  private async finish(actor: Principal, sessionId: string, outcome: 'completed' | 'failed', reason?: string) {
    return withRetry(async () => {
      const loaded = await this.load(actor, sessionId, true);
      const q = loaded.queue;
      const cur = current(q);
      if (!cur) throw new ValidationError('No item currently being processed. Run "start" first.');
      cur.status = outcome;
      cur.completedAt = this.ctx.clock();
      if (outcome === 'failed' && reason !== undefined) cur.failReason = reason;
      q.currentIndex = -1;
      await this.save(loaded, q, (c) => this.taskStatus(c, loaded.projectId, cur.taskId, outcome));
      const nextItem = nextQueued(q);
      const verb = outcome === 'completed' ? 'Completed' : 'Failed';
      return {
        success: true,
        [outcome === 'completed' ? 'completedItem' : 'failedItem']: cur,
        nextItem,
        hasMore: nextItem !== null,
        message: nextItem ? `${verb} ${cur.taskId}. Next: ${nextItem.taskId}` : `${verb} ${cur.taskId}. Queue is empty.`,
      };
    });
  }

  /** `POST …/queue/complete`: current → completed; task sessionStatus → completed. */
  complete(actor: Principal, sessionId: string) {
    return this.finish(actor, sessionId, 'completed');
  }

  /** `POST …/queue/fail {reason?}`: current → failed (+ failReason); task sessionStatus → failed. */
  fail(actor: Principal, sessionId: string, reason?: string) {
    return this.finish(actor, sessionId, 'failed', reason);
  }

  /**
   * `POST …/queue/skip`: the current item if any, else the next queued one → skipped (no task side
   * effect); none → 400 "No items left in queue to skip".
   */
  async skip(actor: Principal, sessionId: string) {
    return withRetry(async () => {
      const loaded = await this.load(actor, sessionId, true);
      const q = loaded.queue;
      const cur = current(q);
      const target = cur ?? nextQueued(q);
      if (!target) throw new ValidationError('No items left in queue to skip');
      target.status = 'skipped';
      target.completedAt = this.ctx.clock();
      if (cur) q.currentIndex = -1;
      await this.save(loaded, q);
      const nextItem = nextQueued(q);
      return {
        success: true,
        skippedItem: target,
        nextItem,
        hasMore: nextItem !== null,
        message: nextItem ? `Skipped ${target.taskId}. Next: ${nextItem.taskId}` : `Skipped ${target.taskId}. Queue is empty.`,
      };
    });
  }

  /**
   * `POST …/queue/push {taskId}`: "taskId is required" (after the strategy check, before the queue
   * lookup) → 404 task (in the session's project) → "Task <id> already in queue" (any status) →
   * appended as queued. Session.taskIds / Task.sessionIds are not touched (contract 05, D35).
   */
  async push(actor: Principal, sessionId: string, body: { taskId?: unknown }) {
    const taskId = typeof body.taskId === 'string' && body.taskId.trim() ? body.taskId : undefined;
    return withRetry(async () => {
      const loaded = await this.load(actor, sessionId, true, () => {
        if (!taskId) throw new ValidationError('taskId is required', [{ path: 'body.taskId', message: 'taskId is required' }]);
      });
      const exists = await this.ctx.redis.exists(this.ctx.keys.task(loaded.projectId, taskId!));
      if (!exists) throw new NotFoundError('Task', taskId!);
      const q = loaded.queue;
      if (q.items.some((i) => i.taskId === taskId)) throw new ValidationError(`Task ${taskId} already in queue`);
      const item: QueueItem = { taskId: taskId!, status: 'queued', addedAt: this.ctx.clock() };
      q.items.push(item);
      await this.save(loaded, q);
      return { success: true, item };
    });
  }
}
