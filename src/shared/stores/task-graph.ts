import { ValidationError } from '../errors.js';
import type { Commit, KeyRole } from '../commit.js';
import { readyMember, type Keys } from '../keys.js';
import type { StoreContext } from './store-context.js';

/**
 * The dependency graph of a project's tasks (contract 08 "Dependencies"), kept on the task hashes:
 * `dependencies` (ids this task waits for), `dependents` (ids waiting for it) and `blockedBy` (its
 * dependencies that are not `completed`), all JSON arrays changed only in commits, so each rendering
 * carries them and a change of one is in the same atomic step as what caused it. A task's place in
 * the ready index follows from `status`, `blockedBy` and `claimedBy` (commit.lua `ready`).
 */

/** Caps of the graph (config TASK_MAX_DEPENDENCIES, TASK_MAX_DEPENDENTS, TASK_DEPENDENCY_SEARCH_MAX). */
export interface GraphLimits {
  maxDependencies: number;
  maxDependents: number;
  /** Tasks the cycle check of a commit may visit. */
  searchMax: number;
}

/** The defaults of GraphLimits. */
export const DEFAULT_GRAPH_LIMITS: GraphLimits = { maxDependencies: 100, maxDependents: 200, searchMax: 1000 };

/** A task's claim (contract 08 "Claims"): the session working on it, since `at`, until `expiresAt` (ms). */
export interface TaskClaim {
  sessionId: string;
  at: number;
  expiresAt: number;
}

const FIELDS = ['status', 'priority', 'createdAt', 'parentId', 'version', 'dependencies', 'dependents', 'blockedBy', 'claimedBy'] as const;
type Field = (typeof FIELDS)[number];

/** What a task's graph changes are computed from: decoded values, and the raw texts to guard them with. */
export interface TaskGraphState {
  id: string;
  key: string;
  status: string;
  priority: string;
  createdAt: number;
  parentId: string | null;
  version: number;
  dependencies: string[];
  dependents: string[];
  blockedBy: string[];
  claimedBy: TaskClaim | null;
  /** Stored JSON texts as read (null: absent, e.g. a task written before these fields existed). */
  raw: Record<Field, string | null>;
}

/** Reads a task's graph fields (one HMGET), or undefined when there is no such task. */
export async function readTaskGraph(ctx: StoreContext, pid: string, id: string): Promise<TaskGraphState | undefined> {
  const key = ctx.keys.task(pid, id);
  const values = await ctx.redis.hmget(key, ...FIELDS);
  return graphState(id, key, values);
}

/** Reads several tasks' graph fields in one pipeline (same slot); missing tasks are undefined. */
export async function readTaskGraphs(ctx: StoreContext, pid: string, ids: string[]): Promise<(TaskGraphState | undefined)[]> {
  if (ids.length === 0) return [];
  const p = ctx.redis.pipeline();
  for (const id of ids) p.hmget(ctx.keys.task(pid, id), ...FIELDS);
  const res = (await p.exec()) ?? [];
  return ids.map((id, i) => {
    const [err, values] = res[i] ?? [];
    if (err) throw err;
    return graphState(id, ctx.keys.task(pid, id), values as (string | null)[]);
  });
}

function graphState(id: string, key: string, values: (string | null)[]): TaskGraphState | undefined {
  const raw = Object.fromEntries(FIELDS.map((f, i) => [f, values[i] ?? null])) as Record<Field, string | null>;
  if (raw.version === null) return undefined;
  const arr = (v: string | null) => (v ? ((JSON.parse(v) as string[] | null) ?? []) : []);
  return {
    id,
    key,
    status: raw.status ? (JSON.parse(raw.status) as string) : 'todo',
    priority: raw.priority ? (JSON.parse(raw.priority) as string) : 'medium',
    createdAt: Number(raw.createdAt ?? 0),
    parentId: raw.parentId ? (JSON.parse(raw.parentId) as string | null) : null,
    version: Number(raw.version),
    dependencies: arr(raw.dependencies),
    dependents: arr(raw.dependents),
    blockedBy: arr(raw.blockedBy),
    claimedBy: raw.claimedBy ? (JSON.parse(raw.claimedBy) as TaskClaim | null) : null,
    raw,
  };
}

/** Guards the commit on the given fields of `st` being still as read (VersionConflict → the caller retries). */
export function guardFields(c: Commit, st: TaskGraphState, fields: Field[], role: KeyRole = { resource: 'Task', id: st.id }): void {
  for (const f of fields) c.fieldIs(st.key, f, st.raw[f], role);
}

/**
 * Checks the dependencies `added` to task `id` (contract 08: 400 VALIDATION_ERROR for an unknown id,
 * one of another project — it is not found in this one — the task itself, or a task that already has
 * `maxDependents` dependents) and guards each on its `dependents` as read. Returns their states.
 */
export async function checkNewDependencies(ctx: StoreContext, c: Commit, pid: string, id: string, added: string[], limits: GraphLimits): Promise<TaskGraphState[]> {
  const bad = (message: string) => new ValidationError(message, [{ path: 'body.dependencies', message }]);
  if (added.includes(id)) throw bad('a task cannot depend on itself');
  const states = await readTaskGraphs(ctx, pid, added);
  return states.map((st, i) => {
    if (!st) throw bad(`dependencies: no task ${added[i]} in this project`);
    if (st.dependents.length >= limits.maxDependents) throw bad(`dependencies: task ${st.id} already has ${limits.maxDependents} dependents (TASK_MAX_DEPENDENTS)`);
    guardFields(c, st, ['dependents']);
    return st;
  });
}

/** Bumps a task's version and `updatedAt` (its rendering changed) and emits its `task:updated`. */
function touch(c: Commit, key: string): void {
  c.hset(key, { updatedAt: String(c.now) }, true, true).eventRender('task:updated', 'task', key);
}

/**
 * Ops for task `id` gaining dependency `dep` (its own `dependencies` array is written by the caller):
 * `dep` lists it among its dependents (its `task:updated`), and it is blocked by `dep` unless `dep` is
 * completed — decided in the commit (commit.lua `blockIf`).
 */
export function addDependencyOps(c: Commit, keys: Keys, pid: string, id: string, dep: string): void {
  const depKey = keys.task(pid, dep);
  c.arrayAdd(depKey, 'dependents', id);
  touch(c, depKey);
  c.blockIf(keys.task(pid, id), depKey, dep);
}

/** Ops for task `id` losing dependency `dep`: out of its `dependencies` and `blockedBy`, out of `dep`'s dependents. */
export function removeDependencyOps(c: Commit, keys: Keys, pid: string, id: string, dep: string, ownArray = true): void {
  const key = keys.task(pid, id);
  if (ownArray) c.arrayRemove(key, 'dependencies', dep);
  c.arrayRemove(key, 'blockedBy', dep);
  const depKey = keys.task(pid, dep);
  c.arrayRemove(depKey, 'dependents', id);
  touch(c, depKey);
}

/** Where a task sits in the status and parent indexes: its status and parent (null = top level). */
export interface TaskPlace {
  status: string;
  parentId: string | null;
}

/**
 * Adds to `c` the moves of task index member `member` (`indexMember(createdAt, id)`) of project `pid`
 * from place `from` to place `to` in the by-status, by-parent and by-parent-and-status indexes; no
 * write for an index whose key does not change. Used by a PATCH (TaskStore.update) and by claims.
 */
export function moveTaskIndexes(c: Commit, keys: Keys, pid: string, member: string, from: TaskPlace, to: TaskPlace): void {
  const statusMoves = to.status !== from.status;
  const parentMoves = to.parentId !== from.parentId;
  if (statusMoves) c.zrem(keys.tasksByStatus(pid, from.status), member).zadd(keys.tasksByStatus(pid, to.status), member);
  if (parentMoves) c.zrem(keys.tasksByParent(pid, from.parentId), member).zadd(keys.tasksByParent(pid, to.parentId), member);
  if (statusMoves || parentMoves) {
    c.zrem(keys.tasksByParentStatus(pid, from.parentId, from.status), member).zadd(keys.tasksByParentStatus(pid, to.parentId, to.status), member);
  }
}

/**
 * Ops after task `id` becomes completed (`completed` true) or stops being completed: each of its
 * `dependents` loses (or regains) it in `blockedBy`, moves in or out of the ready index, and emits its
 * `task:updated` in this same step — so a watcher sees a task become ready without polling (contract 08).
 */
export function completionOps(c: Commit, keys: Keys, pid: string, id: string, dependents: string[], completed: boolean): void {
  for (const d of dependents) {
    const key = keys.task(pid, d);
    if (completed) c.arrayRemove(key, 'blockedBy', id);
    else c.arrayAdd(key, 'blockedBy', id);
    touch(c, key);
    c.ready(key, d, keys.tasksReady(pid));
  }
}

/**
 * Ops taking task `st` out of the graph before it is deleted (contract 08: "Deleting a task removes it
 * from its dependents' dependencies"): its dependencies lose it as a dependent, its dependents lose it
 * from `dependencies` and `blockedBy` (each with its `task:updated`; one may become ready), and it
 * leaves the ready index and the claims. The caller deletes the hash in the same commit.
 */
export function detachOps(c: Commit, keys: Keys, pid: string, st: TaskGraphState): void {
  for (const d of st.dependencies) {
    const key = keys.task(pid, d);
    c.arrayRemove(key, 'dependents', st.id);
    touch(c, key);
  }
  for (const d of st.dependents) {
    const key = keys.task(pid, d);
    c.arrayRemove(key, 'dependencies', st.id).arrayRemove(key, 'blockedBy', st.id);
    touch(c, key);
    c.ready(key, d, keys.tasksReady(pid));
  }
  c.zrem(keys.tasksReady(pid), readyMember(st.priority, st.createdAt, st.id)).zrem(keys.claims(pid), st.id);
}

/** The ids in `next` not in `prev`, and in `prev` not in `next`. */
export function diff(prev: string[], next: string[]): { added: string[]; removed: string[] } {
  return { added: next.filter((x) => !prev.includes(x)), removed: prev.filter((x) => !next.includes(x)) };
}

/** The dependencies of a request, deduplicated, at most `max` (400 otherwise). */
export function dependencyList(ids: string[], max: number): string[] {
  const out = [...new Set(ids)];
  if (out.length > max) throw new ValidationError(`dependencies: at most ${max} (TASK_MAX_DEPENDENCIES)`, [{ path: 'body.dependencies', message: `at most ${max}` }]);
  return out;
}
