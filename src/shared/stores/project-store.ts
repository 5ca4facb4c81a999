import { NotFoundError } from '../errors.js';
import { authorize, canRead } from '../access/policy.js';
import type { Principal } from '../principal.js';
import type { IdentityStore } from '../auth/identity-store.js';
import { indexMember, memberId } from '../keys.js';
import type { ProjectCreate, ProjectUpdate } from '../schemas/requests.js';
import { decodeCursor, encodeCursor, type Page, type PageRequest } from './pager.js';
import { encodeFields } from './entity-codec.js';
import { readDoc, versionOf, type Rendered } from './documents.js';
import type { StoreContext } from './store-context.js';
import { newId } from '../schemas/entities.js';
import { withRetry, type Commit } from '../commit.js';
import { currentOutcome, stableId } from '../idempotency/request-outcome.js';


/** How long a deleted project's event stream is kept for replay, in ms. */
const DELETED_STREAM_TTL_MS = 24 * 3600 * 1000;

/**
 * Projects on Redis (contract 01 "Project", 02 "Projects"). The project hash lives under its own hash
 * tag; the global creation-order index is written before the hash on create and removed after it on
 * delete, so a crash leaves at most an index entry without a project, which readers skip.
 */
export class ProjectStore {
  constructor(
    private readonly ctx: StoreContext,
    private readonly identity: IdentityStore,
  ) {}

  /** Renders project `id`, or throws NotFoundError('Project', id) if absent or not readable. */
  async get(actor: Principal, id: string): Promise<Rendered> {
    const r = canRead(actor, id) ? await readDoc(this.ctx, this.ctx.keys.project(id), 'project') : undefined;
    if (!r) throw new NotFoundError('Project', id);
    return r;
  }

  /** True when the project exists (no access check). */
  async exists(id: string): Promise<boolean> {
    return (await this.ctx.redis.exists(this.ctx.keys.project(id))) === 1;
  }

  /**
   * Creates a project: name trimmed, defaults per contract 01; emits `project:created`. Under an
   * `Idempotency-Key` its id and creation time are those of the key's first attempt (request-outcome.ts
   * `stableId`): a retry's commit goes to the same slot, where the first attempt's result is recorded,
   * and its index entry is the same (contract 00 "Concurrency and retries").
   */
  async create(actor: Principal, input: ProjectCreate): Promise<Rendered> {
    const stable = currentOutcome();
    const now = stable?.firstClaimMs ?? this.ctx.clock();
    const id = stableId('proj') ?? newId('proj', now);
    const { keys } = this.ctx;
    authorize(actor, 'project:create', {}, () => new NotFoundError('Project', id));
    await this.ctx.redis.zadd(keys.projectIndex, 0, indexMember(now, id));
    // The creator owns the project (written before the project, like every cross-slot index).
    if (actor.kind !== 'local') {
      await this.identity.setMember(id, actor.id, 'owner');
      actor.roles = { ...actor.roles, [id]: 'owner' };
      // the creator's open WebSockets re-read their roles before project:created reaches them
      await this.ctx.redis.publish(`${keys.prefix}auth`, actor.id);
    }
    const key = keys.project(id);
    const res = await this.ctx
      .commit(id, now)
      .absent(key, { resource: 'Project', id })
      .hset(
        key,
        encodeFields({
          id,
          name: input.name.trim(),
          workingDir: input.workingDir ?? '',
          description: input.description ?? '',
          metadata: input.metadata,
          createdAt: now,
          updatedAt: now,
          version: 1,
          ownerId: actor.id,
        }),
      )
      .eventRender('project:created', 'project', key)
      .render('project', key)
      .exec(this.ctx.redis);
    return { json: res.renders[0]!, version: 1 };
  }

  /**
   * Shallow-merges the known fields (name, workingDir, description, metadata), bumps `updatedAt` and
   * `version`; emits `project:updated`. `ifMatch`: expected version (412 on mismatch).
   */
  async update(actor: Principal, id: string, input: ProjectUpdate, ifMatch?: number): Promise<Rendered> {
    authorize(actor, 'project:update', { projectId: id }, () => new NotFoundError('Project', id));
    const key = this.ctx.keys.project(id);
    return withRetry(async () => {
      const c = this.ctx.commit(id);
      if (ifMatch !== undefined) c.checkVersion(key, ifMatch, { resource: 'Project', id });
      else c.exists(key, { resource: 'Project', id });
      const res = await c
        .hset(
          key,
          encodeFields({
            name: input.name,
            workingDir: input.workingDir,
            description: input.description,
            metadata: input.metadata,
            updatedAt: c.now,
          }),
          true,
        )
        .eventRender('project:updated', 'project', key)
        .render('project', key)
        .exec(this.ctx.redis);
      const json = res.renders[0]!;
      return { json, version: versionOf(json) };
    }, ifMatch);
  }

  /**
   * Deletes a project: 404 if absent; 422 "Cannot delete project with existing tasks" (checked first)
   * / "…sessions" (contract 02); emits `project:deleted {id}`. The event stream is kept 24 h for replay.
   */
  async delete(actor: Principal, id: string, ifMatch?: number): Promise<void> {
    authorize(actor, 'project:delete', { projectId: id }, () => new NotFoundError('Project', id));
    const { keys } = this.ctx;
    const key = keys.project(id);
    const createdAt = await this.ctx.redis.hget(key, 'createdAt');
    // Archived sessions (retention) are history, not "existing sessions": they go with the project,
    // in the same step as far as they were read before it, and any archived meanwhile right after.
    const archived = await this.ctx.redis.zrange(keys.sessionsArchived(id), '0', '-1');
    await withRetry(async () => {
      const c = this.ctx.commit(id);
      if (ifMatch !== undefined) c.checkVersion(key, ifMatch, { resource: 'Project', id });
      else c.exists(key, { resource: 'Project', id });
      this.removeArchived(c, id, archived);
      await c
        .empty(keys.tasksAll(id), 'Cannot delete project with existing tasks')
        .empty(keys.sessionsAll(id), 'Cannot delete project with existing sessions')
        .del(key)
        .event('project:deleted', JSON.stringify({ id }))
        .pexpire(keys.events(id), DELETED_STREAM_TTL_MS)
        .pexpire(keys.revision(id), DELETED_STREAM_TTL_MS)
        .pexpire(keys.registry(id), DELETED_STREAM_TTL_MS)
        .exec(this.ctx.redis);
    }, ifMatch);
    // With the project gone and no live session left, nothing can be archived any more: sweep what
    // was archived between the read above and the step.
    for (let late = await this.ctx.redis.zrange(keys.sessionsArchived(id), '0', '-1'); late.length; late = await this.ctx.redis.zrange(keys.sessionsArchived(id), '0', '-1')) {
      const c = this.ctx.commit(id);
      this.removeArchived(c, id, late);
      await c.exec(this.ctx.redis);
      archived.push(...late);
    }
    if (createdAt) await this.ctx.redis.zrem(keys.projectIndex, indexMember(Number(createdAt), id));
    for (const m of archived) {
      await this.ctx.redis.del(keys.sessionLookup(memberId(m)));
      await this.ctx.onSessionRemoved?.(memberId(m), undefined).catch(() => undefined);
    }
    await this.identity.removeProject(id);
  }

  /** Adds to `c` the removal of archived sessions (index members `m`): hashes, lists, queue, manifest. */
  private removeArchived(c: Commit, id: string, members: string[]): void {
    const { keys } = this.ctx;
    for (const m of members) {
      const s = memberId(m);
      c.zrem(keys.sessionsArchived(id), m);
      c.del(keys.session(id, s)).del(keys.sessionEvents(id, s)).del(keys.sessionTimeline(id, s)).del(keys.queue(id, s)).del(keys.manifest(id, s));
    }
  }

  /**
   * Ids of every project the actor may read, in creation order. O(P) in the number of projects: used
   * to fan a cross-project list out over per-project indexes.
   */
  async readableIds(actor: Principal): Promise<string[]> {
    if (actor.projectId) return canRead(actor, actor.projectId) ? [actor.projectId] : [];
    if (!actor.admin) return Object.keys(actor.roles ?? {}).filter((id) => canRead(actor, id));
    const members = await this.ctx.redis.zrange(this.ctx.keys.projectIndex, '0', '-1');
    return members.map(memberId).filter((id) => canRead(actor, id));
  }

  /** A non-admin's projects: only those it is a member of, in creation order (O(memberships)). */
  private async listOwn(actor: Principal, req: PageRequest, cursor: string): Promise<Page> {
    const rendered = await Promise.all((await this.readableIds(actor)).map((id) => readDoc(this.ctx, this.ctx.keys.project(id), 'project')));
    const rows = rendered
      .filter((r): r is Rendered => r !== undefined)
      .map((r) => {
        const p = JSON.parse(r.json) as { id: string; createdAt: number };
        return { member: indexMember(p.createdAt, p.id), json: r.json };
      })
      .sort((a, b) => (a.member < b.member ? -1 : 1))
      .filter((r) => !cursor || r.member > cursor);
    const page = rows.slice(0, req.limit);
    const last = page[page.length - 1];
    return { items: page.map((r) => r.json), total: rendered.filter(Boolean).length, nextCursor: rows.length > req.limit && last ? encodeCursor(last.member) : undefined };
  }

  /**
   * One page of projects in creation order (contract 00 "Lists"): limit+1 index members after the
   * cursor, the first `limit` rendered concurrently. Entries without a project (see class doc) and
   * projects the actor may not read are left out of the page.
   */
  async list(actor: Principal, req: PageRequest): Promise<Page> {
    const { redis, keys } = this.ctx;
    const cursor = decodeCursor(req.cursor);
    if (!actor.admin) return this.listOwn(actor, req, cursor);
    const members = await redis.zrange(keys.projectIndex, cursor ? `(${cursor}` : '-', '+', 'BYLEX', 'LIMIT', '0', String(req.limit + 1));
    const pageMembers = members.slice(0, req.limit);
    // Each project lives in its own slot: one render per project, all in flight at once.
    const [rendered, total] = await Promise.all([
      Promise.all(pageMembers.map((m) => readDoc(this.ctx, keys.project(memberId(m)), 'project'))),
      redis.zcard(keys.projectIndex),
    ]);
    const items: string[] = [];
    rendered.forEach((r, i) => {
      if (r && canRead(actor, memberId(pageMembers[i]!))) items.push(r.json);
    });
    const last = pageMembers[pageMembers.length - 1];
    return {
      items,
      total: actor.admin ? total : undefined,
      nextCursor: members.length > req.limit && last ? encodeCursor(last) : undefined,
    };
  }
}
