import { NotFoundError, ValidationError } from '../errors.js';
import { authorizeIn, canRead } from '../access/policy.js';
import type { Principal } from '../principal.js';
import { indexMember, readyMember } from '../keys.js';
import { TASK_STATUSES, newId, type Task } from '../schemas/entities.js';
import type { TaskCreate, TaskListQuery, TaskUpdate } from '../schemas/requests.js';
import { nothingWritten, withRetry, type Commit } from '../commit.js';
import {
  addDependencyOps,
  checkNewDependencies,
  completionOps,
  detachOps,
  DEFAULT_GRAPH_LIMITS,
  dependencyList,
  diff,
  guardFields,
  moveTaskIndexes,
  readTaskGraph,
  removeDependencyOps,
  type GraphLimits,
  type TaskGraphState,
} from './task-graph.js';

/** One dependency added or removed (`POST`/`DELETE /tasks/:id/dependencies`), computed on the task as read in the commit's retry. */
interface DependencyEdit {
  add?: string;
  remove?: string;
}
import { encodeFields } from './entity-codec.js';
import { readDoc, versionOf, type Rendered } from './documents.js';
import { pageIndex, pageMerged, type IndexSource, type Page, type PageRequest } from './pager.js';
import type { ProjectStore } from './project-store.js';
import type { StoreContext } from './store-context.js';


/**
 * Tasks on Redis (contract 01 "Task", 02 "Tasks"). Each task is a hash under its project's hash tag,
 * indexed in creation order by project, status, parent and parent+status, so every filter of
 * `GET /tasks` pages from an index. A parent must be a task of the same project (cluster-safe links).
 */
export class TaskStore {
  constructor(
    private readonly ctx: StoreContext,
    private readonly projects: ProjectStore,
    private readonly graph: GraphLimits = DEFAULT_GRAPH_LIMITS,
  ) {}

  /** Project id of task `taskId`, or undefined when there is no such task (cached: it never changes). */
  async projectOf(taskId: string): Promise<string | undefined> {
    const cached = this.ctx.taskProject.get(taskId);
    if (cached) return cached;
    const pid = await this.ctx.redis.get(this.ctx.keys.taskLookup(taskId));
    if (pid) this.ctx.taskProject.set(taskId, pid);
    return pid ?? undefined;
  }

  /** Renders task `id`; NotFoundError('Task', id) when absent or not readable. */
  async get(actor: Principal, id: string): Promise<Rendered & { projectId: string }> {
    const pid = await this.projectOf(id);
    const r = pid && canRead(actor, pid) ? await readDoc(this.ctx, this.ctx.keys.task(pid, id), 'task') : undefined;
    if (!r || !pid) throw new NotFoundError('Task', id);
    return { ...r, projectId: pid };
  }

  private indexKeys(pid: string, status: string, parentId: string | null): string[] {
    const k = this.ctx.keys;
    return [k.tasksAll(pid), k.tasksByStatus(pid, status), k.tasksByParent(pid, parentId), k.tasksByParentStatus(pid, parentId, status)];
  }

  /**
   * Creates a task (contract 02 order: projectId → title → 404 project → 404 parent task); emits
   * `task:created`. The parent must exist in the same project.
   */
  async create(actor: Principal, input: TaskCreate): Promise<Rendered> {
    const pid = input.projectId;
    authorizeIn(actor, 'task:write', pid, () => new NotFoundError('Project', pid));
    const now = this.ctx.clock();
    const id = newId('task', now);
    const parentId = input.parentId ? input.parentId : null;
    const dependencies = dependencyList(input.dependencies ?? [], this.graph.maxDependencies);
    const { keys } = this.ctx;
    const c = this.ctx.commit(pid, now).exists(keys.project(pid), { resource: 'Project', id: pid });
    // checked (and guarded) before anything is written: a bad request changes nothing
    await checkNewDependencies(this.ctx, c, pid, id, dependencies, this.graph);
    await this.ctx.redis.set(keys.taskLookup(id), pid);
    const key = keys.task(pid, id);
    const task: Omit<Task, 'version'> & { version: number; ownerId: string } = {
      id,
      projectId: pid,
      parentId,
      title: input.title.trim(),
      description: input.description ?? '',
      status: 'todo',
      priority: input.priority ?? 'medium',
      createdAt: now,
      updatedAt: now,
      startedAt: null,
      completedAt: null,
      initialPrompt: input.initialPrompt ?? '',
      sessionIds: [],
      skillIds: input.skillIds ?? [],
      agentIds: [],
      dependencies,
      blockedBy: [],
      dependents: [],
      claimedBy: null,
      model: input.model,
      metadata: input.metadata,
      version: 1,
      ownerId: actor.id,
    };
    if (parentId) c.exists(keys.task(pid, parentId), { resource: 'Parent task', id: parentId });
    c.absent(key, { resource: 'Task', id }).hset(key, encodeFields(task));
    const member = indexMember(now, id);
    for (const idx of this.indexKeys(pid, 'todo', parentId)) c.zadd(idx, member);
    // its dependencies list it as a dependent; it is blocked by those not completed (contract 08)
    for (const d of dependencies) addDependencyOps(c, keys, pid, id, d);
    c.ready(key, id, keys.tasksReady(pid));
    try {
      const res = await c.eventRender('task:created', 'task', key).render('task', key).exec(this.ctx.redis);
      // a retry of a create that was made (Idempotency-Key): the first attempt's task, not this id
      if (res.replayed) await this.ctx.redis.del(keys.taskLookup(id)).catch(() => undefined);
      else this.ctx.taskProject.set(id, pid);
      return { json: res.renders[0]!, version: 1 };
    } catch (err) {
      // after a Redis error the task may exist: its lookup stays (issue 13, item 2)
      if (nothingWritten(err)) await this.ctx.redis.del(keys.taskLookup(id)).catch(() => undefined);
      throw err;
    }
  }

  /**
   * PATCH (contract 02): blank title → 400 (schema, first); `updateSource: 'session'` applies only
   * `sessionStatus`; `status` sets `startedAt`/`completedAt` the first time; always bumps `updatedAt`
   * and emits `task:updated`. `ifMatch` → 412 on version mismatch.
   */
  async update(actor: Principal, id: string, input: TaskUpdate, ifMatch?: number, edit?: DependencyEdit): Promise<Rendered> {
    const pid = await this.projectOf(id);
    authorizeIn(actor, 'task:write', pid, () => new NotFoundError('Task', id));
    const { keys } = this.ctx;
    const key = keys.task(pid, id);
    const fromSession = input.updateSource === 'session';
    return withRetry(async () => {
      const st = await readTaskGraph(this.ctx, pid, id);
      if (!st) throw new NotFoundError('Task', id);
      const cur = { status: st.status, parentId: st.parentId, createdAt: st.createdAt };
      const c = this.ctx.commit(pid);
      const role = { resource: 'Task', id };
      if (ifMatch !== undefined) c.checkVersion(key, ifMatch, role);
      else c.exists(key, role);
      const fields: Record<string, unknown> = { updatedAt: c.now };
      if (!fromSession) await this.graphChanges(c, pid, st, input, fields, edit);
      if (fromSession) {
        fields.sessionStatus = input.sessionStatus;
      } else {
        Object.assign(fields, {
          title: input.title,
          description: input.description,
          status: input.status,
          sessionStatus: input.sessionStatus,
          priority: input.priority,
          sessionIds: input.sessionIds,
          skillIds: input.skillIds,
          agentIds: input.agentIds,
          model: input.model,
          initialPrompt: input.initialPrompt,
          metadata: input.metadata,
        });
        const oldStatus = cur.status as string;
        const newStatus = input.status;
        const oldParent = (cur.parentId as string | null) ?? null;
        const newParent = input.parentId === undefined ? oldParent : input.parentId || null;
        // Any status or parent write is guarded by the value it was computed from, so the indexes
        // never disagree with the hash under concurrent writers (retried by withRetry).
        if (newStatus) c.fieldIs(key, 'status', JSON.stringify(oldStatus), role);
        if (input.parentId !== undefined) {
          c.fieldIs(key, 'parentId', JSON.stringify(oldParent), role);
          if (newParent !== oldParent) await this.assertNoCycle(c, pid, id, newParent);
          fields.parentId = newParent;
        }
        const finalStatus = newStatus ?? oldStatus;
        const member = indexMember(cur.createdAt as number, id);
        moveTaskIndexes(c, this.ctx.keys, pid, member, { status: oldStatus, parentId: oldParent }, { status: finalStatus, parentId: newParent });
        if (newStatus === 'in_progress') c.hsetIfNull(key, 'startedAt', String(c.now));
        if (newStatus === 'completed') c.hsetIfNull(key, 'completedAt', String(c.now));
      }
      const res = await c
        .hset(key, encodeFields(fields), true)
        .eventRender('task:updated', 'task', key)
        .render('task', key)
        .exec(this.ctx.redis);
      const json = res.renders[0]!;
      return { json, version: versionOf(json) };
    }, ifMatch);
  }

  /**
   * The dependency-graph side of a PATCH (contract 08): `dependencies` replaced (new ones checked, a
   * cycle refused in the commit), a change into or out of `completed` unblocking or blocking the
   * dependents, completion releasing a claim, and the task's place in the ready index after a status,
   * priority or dependency change. Every field it reads is guarded in the commit.
   */
  private async graphChanges(c: Commit, projectId: string, st: TaskGraphState, input: TaskUpdate, fields: Record<string, unknown>, edit?: DependencyEdit): Promise<void> {
    const { keys } = this.ctx;
    let touched = false;
    const wanted = edit?.add ? [...st.dependencies, edit.add] : edit?.remove ? st.dependencies.filter((d) => d !== edit.remove) : input.dependencies;
    if (wanted !== undefined) {
      const next = dependencyList(wanted, this.graph.maxDependencies);
      const { added, removed } = diff(st.dependencies, next);
      guardFields(c, st, ['dependencies']);
      await checkNewDependencies(this.ctx, c, projectId, st.id, added, this.graph);
      if (added.length) c.acyclic(st.key, st.id, added, keys.taskPrefix(projectId), this.graph.searchMax, { resource: 'Task', id: st.id });
      for (const r of removed) removeDependencyOps(c, keys, projectId, st.id, r, false);
      for (const a of added) addDependencyOps(c, keys, projectId, st.id, a);
      fields.dependencies = next;
      touched = true;
    }
    const newStatus = input.status;
    if (newStatus && newStatus !== st.status && (newStatus === 'completed' || st.status === 'completed')) {
      guardFields(c, st, ['dependents', 'status']);
      completionOps(c, keys, projectId, st.id, st.dependents, newStatus === 'completed');
    }
    if (newStatus === 'completed' && st.claimedBy) {
      guardFields(c, st, ['claimedBy']);
      fields.claimedBy = null;
      c.zrem(keys.claims(projectId), st.id);
    }
    if (newStatus || input.priority || touched) {
      const priorityChanged = input.priority !== undefined && input.priority !== st.priority;
      if (priorityChanged) guardFields(c, st, ['priority']);
      c.ready(st.key, st.id, keys.tasksReady(projectId), priorityChanged ? readyMember(st.priority, st.createdAt, st.id) : undefined);
    }
  }

  /** `POST /tasks/:id/dependencies {taskId}` (contract 08): task `id` waits for `dep` too; the task as it is now. */
  addDependency(actor: Principal, id: string, dep: string): Promise<Rendered> {
    return this.update(actor, id, {}, undefined, { add: dep });
  }

  /** `DELETE /tasks/:id/dependencies/:taskId` (contract 08): task `id` no longer waits for `dep`. */
  removeDependency(actor: Principal, id: string, dep: string): Promise<Rendered> {
    return this.update(actor, id, {}, undefined, { remove: dep });
  }

  /**
   * `GET /tasks/ready?projectId=` (contract 08 "Ready work"): the project's tasks that are `todo`, not
   * blocked by dependencies and not claimed, high → medium → low priority, then creation order; one
   * page of the ready index, O(log n + page). An unreadable project has none.
   */
  async ready(actor: Principal, projectId: string, req: PageRequest): Promise<Page> {
    if (!canRead(actor, projectId)) return { items: [], total: 0 };
    return pageIndex(this.ctx, { index: this.ctx.keys.tasksReady(projectId), entityPrefix: this.ctx.keys.taskPrefix(projectId) }, 'task', req);
  }

  /**
   * Moving task `id` under `parent` must not make it its own ancestor (contract 00 "Input": 400
   * VALIDATION_ERROR). Walks up from `parent` (same project; 404 "Parent task …" if it is missing),
   * guarding each ancestor's parentId in the commit so a concurrent move cannot close a cycle.
   */
  private async assertNoCycle(c: ReturnType<StoreContext['commit']>, pid: string, id: string, parent: string | null): Promise<void> {
    const cycle = () =>
      new ValidationError('parentId would make the task its own ancestor', [{ path: 'body.parentId', message: 'cycle in the task hierarchy' }]);
    let at = parent;
    for (let depth = 0; at !== null; depth++) {
      if (at === id || depth > 10_000) throw cycle();
      const raw = await this.ctx.redis.hget(this.ctx.keys.task(pid, at), 'parentId');
      if (raw === null) {
        if (at === parent) throw new NotFoundError('Parent task', parent);
        return; // a dangling parentId further up (deleted task): the chain ends there
      }
      c.fieldIs(this.ctx.keys.task(pid, at), 'parentId', raw, { resource: 'Parent task', id: at });
      at = JSON.parse(raw) as string | null;
    }
  }

  /** Deletes a task (no cascade, contract 02 D7); emits `task:deleted {id}`. */
  async delete(actor: Principal, id: string, ifMatch?: number): Promise<void> {
    const pid = await this.projectOf(id);
    authorizeIn(actor, 'task:write', pid, () => new NotFoundError('Task', id));
    const { keys } = this.ctx;
    const key = keys.task(pid, id);
    await withRetry(async () => {
      const st = await readTaskGraph(this.ctx, pid, id);
      if (!st) throw new NotFoundError('Task', id);
      const c = this.ctx.commit(pid).checkVersion(key, ifMatch ?? st.version, { resource: 'Task', id });
      const member = indexMember(st.createdAt, id);
      for (const idx of this.indexKeys(pid, st.status, st.parentId)) c.zrem(idx, member);
      detachOps(c, keys, pid, st);
      await c.del(key).event('task:deleted', JSON.stringify({ id })).exec(this.ctx.redis);
    }, ifMatch);
    await this.ctx.redis.del(keys.taskLookup(id));
    this.ctx.taskProject.delete(id);
  }

  /** Direct children of task `id` in creation order (404 if `id` is missing; contract 02). */
  async children(actor: Principal, id: string, req: PageRequest): Promise<Page> {
    const { projectId } = await this.get(actor, id);
    return pageIndex(
      this.ctx,
      { index: this.ctx.keys.tasksByParent(projectId, id), entityPrefix: this.ctx.keys.taskPrefix(projectId) },
      'task',
      req,
    );
  }

  /**
   * `GET /tasks` (contract 02): exact-match AND filters `projectId`, `status`, `parentId`
   * (`parentId=null` ⇒ roots); repeated params or an unknown status match nothing. Without
   * `projectId` the pages of every readable project are merged in creation order.
   */
  async list(actor: Principal, q: TaskListQuery): Promise<Page> {
    const req = { limit: q.limit, cursor: q.cursor };
    if (Array.isArray(q.projectId) || Array.isArray(q.status) || Array.isArray(q.parentId)) return { items: [], total: 0 };
    if (q.status !== undefined && !(TASK_STATUSES as readonly string[]).includes(q.status)) return { items: [], total: 0 };
    let projectIds: string[];
    if (q.projectId !== undefined) {
      projectIds = canRead(actor, q.projectId) ? [q.projectId] : [];
    } else {
      projectIds = await this.projects.readableIds(actor);
    }
    const parent = q.parentId === undefined ? undefined : q.parentId === 'null' ? null : q.parentId;
    const status = q.status;
    const { keys } = this.ctx;
    const sources: IndexSource[] = projectIds.map((pid) => {
      let index: string;
      if (parent !== undefined && status !== undefined) index = keys.tasksByParentStatus(pid, parent, status);
      else if (parent !== undefined) index = keys.tasksByParent(pid, parent);
      else if (status !== undefined) index = keys.tasksByStatus(pid, status);
      else index = keys.tasksAll(pid);
      return { index, entityPrefix: keys.taskPrefix(pid) };
    });
    return pageMerged(this.ctx, sources, 'task', req);
  }
}
