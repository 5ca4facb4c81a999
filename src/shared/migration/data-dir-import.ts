import { readdir, readFile } from 'node:fs/promises';
import { CLIENT_ID_RE } from '../schemas/requests.js';
import { join } from 'node:path';
import { AppError } from '../errors.js';
import { indexMember } from '../keys.js';
import { encodeFields } from '../stores/entity-codec.js';
import type { Stores } from '../stores/index.js';

/**
 * `maestro migrate --from <DATA_DIR>` (issue 6): imports an original Maestro server's on-disk store
 * (contract 06 "On-disk layout of the original") into Redis:
 *
 *   projects/<projectId>.json, tasks/<projectId>/<taskId>.json (legacy: tasks/<taskId>.json),
 *   sessions/<sessionId>.json, queues/<sessionId>.json, templates/<templateId>.json
 *
 * with the original's load-time migrations (contract 06, D46): session `taskId` → `taskIds:[taskId]`;
 * missing `taskIds` → [], `name` → `Session <id>`, `env` → {}, `events` → [], `timeline` → [],
 * `strategy` → `simple`; task missing `sessionIds|skillIds|agentIds` → []. Ids, timestamps and links are
 * kept as they are on disk, so the API serves the data as the original did.
 *
 * Idempotent: each entity is written in one atomic step that requires its key to be absent, so a re-run
 * imports only what is missing and reports the rest as `already present`. Entities are written without
 * events (nothing is "created" from a client's point of view). Order: projects, tasks, sessions (with
 * their lists and queue), templates.
 */

/** One imported or skipped file. */
export interface MigrationEntry {
  kind: 'project' | 'task' | 'session' | 'queue' | 'template';
  id: string;
  file: string;
  /** Why it was skipped, or what was changed on the way (load-time migrations, dropped fields). */
  reason?: string;
}

/** What a migration did. */
export interface MigrationReport {
  from: string;
  imported: Record<MigrationEntry['kind'], number>;
  /** Entities not written, with the reason (corrupt file, missing project, already present…). */
  skipped: MigrationEntry[];
  /** Entities written after a load-time migration or with fields left out, with what was done. */
  notes: MigrationEntry[];
}

type Doc = Record<string, unknown>;
/** A JSON file of the store: its parsed object, or why it could not be read. */
type JsonFile = { file: string; doc?: Doc; error?: string };
const OWNER = 'migration';
const PROJECT_FIELDS = new Set(['id', 'name', 'workingDir', 'description', 'metadata', 'createdAt', 'updatedAt']);

/** Milliseconds from an id like `task_1700000000000_abc` (fallback for a missing timestamp), else 0. */
function idTime(id: string): number {
  const m = /_(\d{10,15})_/.exec(id);
  return m ? Number(m[1]) : 0;
}
const num = (v: unknown, dflt: number): number => (typeof v === 'number' && Number.isFinite(v) ? v : dflt);
const str = (v: unknown, dflt: string): string => (typeof v === 'string' ? v : dflt);
const strArray = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** JSON files of a directory, as [file, parsed | Error]; [] when the directory does not exist. */
async function readJsonDir(dir: string): Promise<JsonFile[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile() && d.name.endsWith('.json')).map((d) => d.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw err;
  }
  return Promise.all(
    names.map(async (name) => {
      const file = join(dir, name);
      try {
        const doc = JSON.parse(await readFile(file, 'utf8')) as unknown;
        if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return { file, error: 'not a JSON object' };
        return { file, doc: doc as Doc };
      } catch (err) {
        return { file, error: `corrupt JSON (${(err as Error).message})` };
      }
    }),
  );
}

async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch {
    return [];
  }
}

/**
 * Imports DATA_DIR `from` through `stores` (its prefix and connection). `onProgress(done, total)` counts
 * files. Never throws for a bad file (it is reported as skipped); throws Redis errors as they come (the
 * run can be repeated: it is idempotent).
 */
export async function importDataDir(stores: Stores, from: string, onProgress?: (done: number, total: number) => void): Promise<MigrationReport> {
  const { ctx } = stores;
  const k = ctx.keys;
  const redis = ctx.redis;
  const report: MigrationReport = {
    from,
    imported: { project: 0, task: 0, session: 0, queue: 0, template: 0 },
    skipped: [],
    notes: [],
  };
  const skip = (e: MigrationEntry) => report.skipped.push(e);

  const projects = await readJsonDir(join(from, 'projects'));
  const taskFiles = [...(await readJsonDir(join(from, 'tasks')))];
  for (const d of await subdirs(join(from, 'tasks'))) taskFiles.push(...(await readJsonDir(join(from, 'tasks', d))));
  const sessions = await readJsonDir(join(from, 'sessions'));
  const queues = await readJsonDir(join(from, 'queues'));
  const templates = await readJsonDir(join(from, 'templates'));
  const total = projects.length + taskFiles.length + sessions.length + queues.length + templates.length;
  let done = 0;
  const tick = () => onProgress?.(++done, total);

  /**
   * Runs one entity's atomic write: true when written (counted as imported, with `note` if given),
   * false when the entity was already there (reported as skipped).
   */
  const write = async (c: ReturnType<typeof ctx.commit>, e: MigrationEntry, note?: string): Promise<boolean> => {
    try {
      await c.exec(redis);
    } catch (err) {
      if (err instanceof AppError && err.status === 409) {
        skip({ ...e, reason: 'already present' });
        return false;
      }
      throw err;
    }
    report.imported[e.kind]++;
    if (note) report.notes.push({ ...e, reason: note });
    return true;
  };

  /**
   * The file's document and its id (`idField`), or undefined after reporting it skipped. An id that
   * could name another key (`:`, braces, spaces…: CLIENT_ID_RE, security issue 11 item 14) is skipped.
   */
  const identified = (kind: MigrationEntry['kind'], f: JsonFile, idField = 'id'): { doc: Doc; id: string } | undefined => {
    tick();
    const id = f.doc && typeof f.doc[idField] === 'string' ? (f.doc[idField] as string) : '';
    if (f.doc && id && CLIENT_ID_RE.test(id) && id.length <= 128) return { doc: f.doc, id };
    const reason = f.error ?? (id ? `${idField} '${id}' may contain only letters, digits and . _ - @ + (at most 128)` : `no ${idField}`);
    skip({ kind, id: id || '?', file: f.file, reason });
    return undefined;
  };

  /** Whether a project exists (memoised: tasks and sessions ask once per project, not per entity). */
  const projectIds = new Map<string, boolean>();
  const projectExists = async (pid: string): Promise<boolean> => {
    let known = projectIds.get(pid);
    if (known === undefined) projectIds.set(pid, (known = (await redis.exists(k.project(pid))) === 1));
    return known;
  };

  /**
   * The project a task or session belongs to, or undefined after reporting it skipped: the project
   * must exist, and the id must not already belong to another project (`lookup` is the id's lookup key).
   */
  const placed = async (e: MigrationEntry, pid: string, lookup: string): Promise<string | undefined> => {
    if (!pid || !(await projectExists(pid))) {
      skip({ ...e, reason: pid ? `project ${pid} not found` : 'no projectId' });
      return undefined;
    }
    const owner = await redis.get(lookup);
    if (owner && owner !== pid) {
      skip({ ...e, reason: `id already used by a ${e.kind} of project ${owner}` });
      return undefined;
    }
    return pid;
  };

  // ── projects ──
  for (const f of projects) {
    const found = identified('project', f);
    if (!found) continue;
    const { doc: p, id } = found;
    const createdAt = num(p.createdAt, idTime(id));
    const dropped = Object.keys(p).filter((x) => !PROJECT_FIELDS.has(x));
    const key = k.project(id);
    const c = ctx.commit(id, createdAt).absent(key, { resource: 'Project', id });
    c.hset(
      key,
      encodeFields({
        id,
        name: str(p.name, ''),
        workingDir: str(p.workingDir, ''),
        description: str(p.description, ''),
        metadata: p.metadata && typeof p.metadata === 'object' ? p.metadata : undefined,
        createdAt,
        updatedAt: num(p.updatedAt, createdAt),
        version: 1,
        ownerId: OWNER,
      }),
    );
    await redis.zadd(k.projectIndex, 0, indexMember(createdAt, id));
    if (await write(c, { kind: 'project', id, file: f.file }, dropped.length ? `fields not kept (the API keeps name, workingDir, description, metadata): ${dropped.join(', ')}` : undefined)) {
      projectIds.set(id, true);
    }
  }

  // ── tasks ──
  for (const f of taskFiles) {
    const found = identified('task', f);
    if (!found) continue;
    const { doc: t, id } = found;
    const entry: MigrationEntry = { kind: 'task', id, file: f.file };
    const pid = await placed(entry, str(t.projectId, ''), k.taskLookup(id));
    if (!pid) continue;
    const migrated = ['sessionIds', 'skillIds', 'agentIds'].filter((x) => !Array.isArray(t[x]));
    const createdAt = num(t.createdAt, idTime(id));
    const status = str(t.status, 'todo');
    const parentId = typeof t.parentId === 'string' && t.parentId ? t.parentId : null;
    const key = k.task(pid, id);
    const c = ctx.commit(pid, createdAt).absent(key, { resource: 'Task', id });
    c.hset(
      key,
      encodeFields({
        id,
        projectId: pid,
        parentId,
        title: str(t.title, ''),
        description: str(t.description, ''),
        status,
        sessionStatus: typeof t.sessionStatus === 'string' ? t.sessionStatus : undefined,
        priority: str(t.priority, 'medium'),
        createdAt,
        updatedAt: num(t.updatedAt, createdAt),
        startedAt: typeof t.startedAt === 'number' ? t.startedAt : null,
        completedAt: typeof t.completedAt === 'number' ? t.completedAt : null,
        initialPrompt: str(t.initialPrompt, ''),
        sessionIds: strArray(t.sessionIds),
        skillIds: strArray(t.skillIds),
        agentIds: strArray(t.agentIds),
        dependencies: strArray(t.dependencies),
        model: typeof t.model === 'string' ? t.model : undefined,
        metadata: t.metadata && typeof t.metadata === 'object' ? t.metadata : undefined,
        version: 1,
        ownerId: OWNER,
      }),
    );
    const member = indexMember(createdAt, id);
    c.zadd(k.tasksAll(pid), member)
      .zadd(k.tasksByStatus(pid, status), member)
      .zadd(k.tasksByParent(pid, parentId), member)
      .zadd(k.tasksByParentStatus(pid, parentId, status), member);
    await redis.set(k.taskLookup(id), pid, 'NX');
    const notes = [];
    if (migrated.length) notes.push(`missing ${migrated.join(', ')} set to []`);
    if ('timeline' in t) notes.push('legacy task timeline not kept (timelines live on sessions)');
    await write(c, entry, notes.length ? notes.join('; ') : undefined);
  }

  // ── sessions ──
  const sessionProject = new Map<string, string>();
  for (const f of sessions) {
    const found = identified('session', f);
    if (!found) continue;
    const { doc: s, id } = found;
    const entry: MigrationEntry = { kind: 'session', id, file: f.file };
    const pid = await placed(entry, str(s.projectId, ''), k.sessionLookup(id));
    if (!pid) continue;
    sessionProject.set(id, pid);
    const migrated: string[] = [];
    let taskIds: string[];
    if (Array.isArray(s.taskIds)) taskIds = strArray(s.taskIds);
    else if (typeof s.taskId === 'string') {
      taskIds = [s.taskId];
      migrated.push('taskId → taskIds');
    } else {
      taskIds = [];
      migrated.push('taskIds');
    }
    if (typeof s.name !== 'string') migrated.push('name');
    if (!s.env || typeof s.env !== 'object') migrated.push('env');
    if (!Array.isArray(s.events)) migrated.push('events');
    if (!Array.isArray(s.timeline)) migrated.push('timeline');
    if (typeof s.strategy !== 'string') migrated.push('strategy');
    const startedAt = num(s.startedAt, idTime(id));
    const status = str(s.status, 'idle');
    const key = k.session(pid, id);
    const c = ctx.commit(pid, startedAt).absent(key, { resource: 'Session', id });
    c.hset(
      key,
      encodeFields({
        id,
        projectId: pid,
        taskIds,
        name: typeof s.name === 'string' ? s.name : `Session ${id}`,
        agentId: typeof s.agentId === 'string' ? s.agentId : undefined,
        env: s.env && typeof s.env === 'object' ? s.env : {},
        strategy: str(s.strategy, 'simple'),
        status,
        startedAt,
        lastActivity: num(s.lastActivity, startedAt),
        completedAt: typeof s.completedAt === 'number' ? s.completedAt : null,
        hostname: str(s.hostname, ''),
        platform: str(s.platform, ''),
        metadata: s.metadata && typeof s.metadata === 'object' ? s.metadata : undefined,
        version: 1,
        ownerId: OWNER,
      }),
    );
    const events = Array.isArray(s.events) ? s.events : [];
    const timeline = Array.isArray(s.timeline) ? s.timeline : [];
    if (events.length) c.rpush(k.sessionEvents(pid, id), events.map((e) => JSON.stringify(e)));
    if (timeline.length) c.rpush(k.sessionTimeline(pid, id), timeline.map((e) => JSON.stringify(e)));
    const member = indexMember(startedAt, id);
    c.zadd(k.sessionsAll(pid), member).zadd(k.sessionsByStatus(pid, status), member);
    if (status !== 'completed') c.zadd(k.sessionsActive(pid), member);
    for (const t of taskIds) c.zadd(k.sessionsByTask(pid, t), member);
    await redis.set(k.sessionLookup(id), pid, 'NX');
    await write(c, entry, migrated.length ? `load-time migration: ${migrated.join(', ')}` : undefined);
  }

  // ── queues ──
  for (const f of queues) {
    const found = identified('queue', f, 'sessionId');
    if (!found) continue;
    const { id } = found;
    const pid = sessionProject.get(id) ?? (await redis.get(k.sessionLookup(id)));
    if (!pid || !(await redis.exists(k.session(pid, id)))) {
      skip({ kind: 'queue', id, file: f.file, reason: `session ${id} not found` });
      continue;
    }
    const key = k.queue(pid, id);
    const c = ctx.commit(pid).absent(key, { resource: 'Queue', id }).hset(key, { doc: JSON.stringify(f.doc), version: '1' });
    await write(c, { kind: 'queue', id, file: f.file });
  }

  // ── templates ──
  for (const f of templates) {
    const found = identified('template', f);
    if (!found) continue;
    const { doc: t, id } = found;
    const entry: MigrationEntry = { kind: 'template', id, file: f.file };
    if (t.role !== 'worker' && t.role !== 'orchestrator') {
      skip({ ...entry, reason: 'role must be worker or orchestrator' });
      continue;
    }
    const role = t.role;
    const roleIndex = k.templateRole(role);
    const createdAt = num(t.createdAt, idTime(id));
    const key = k.template(id);
    const c = ctx.templateCommit(createdAt).absent(key, { resource: 'Template', id });
    let note: string | undefined;
    if (t.isDefault === true) {
      // One default per role: the original's replaces a default seeded here and never edited.
      const seeded = await defaultOf(stores, roleIndex);
      if (seeded && seeded.id !== id) {
        if (seeded.untouched) {
          c.checkVersion(k.template(seeded.id), 1, { resource: 'Template', id: seeded.id });
          c.del(k.template(seeded.id)).zrem(k.templateIndex, seeded.member).zrem(roleIndex, seeded.member);
          note = `replaced the seeded default ${role} template ${seeded.id}`;
        } else {
          skip({ ...entry, reason: `a default ${role} template (${seeded.id}) already exists and was edited here` });
          continue;
        }
      }
    }
    const member = indexMember(createdAt, id);
    c.hset(
      key,
      encodeFields({
        id,
        name: str(t.name, ''),
        role,
        content: str(t.content, ''),
        isDefault: t.isDefault === true,
        createdAt,
        updatedAt: num(t.updatedAt, createdAt),
        version: 1,
        ownerId: OWNER,
      }),
    )
      .zadd(k.templateIndex, member)
      .zadd(roleIndex, member);
    await write(c, entry, note);
  }
  return report;
}

/** The default template of a role index, and whether it is an untouched seed (version 1, by `system`). */
async function defaultOf(stores: Stores, roleIndex: string): Promise<{ id: string; member: string; untouched: boolean } | undefined> {
  const { redis, keys } = stores.ctx;
  for (const member of await redis.zrange(roleIndex, '0', '-1')) {
    const id = member.slice(16);
    const [isDefault, version, ownerId] = await redis.hmget(keys.template(id), 'isDefault', 'version', 'ownerId');
    if (isDefault === 'true') return { id, member, untouched: version === '1' && ownerId === '"system"' };
  }
  return undefined;
}
