import { AppError, BusinessRuleError, NotFoundError, ValidationError } from '../errors.js';
import { authorize } from '../access/policy.js';
import type { Principal } from '../principal.js';
import { indexMember } from '../keys.js';
import { newId, type Role } from '../schemas/entities.js';
import { withRetry } from '../commit.js';
import { defaultTemplate } from '../templates/default-templates.js';
import { encodeFields } from './entity-codec.js';
import { readDoc, versionOf, type Rendered } from './documents.js';
import { pageIndex, type Page, type PageRequest } from './pager.js';
import type { StoreContext } from './store-context.js';

/** The principal that seeds the defaults (recorded as their `ownerId`). */
const SEEDER: Principal = Object.freeze({ id: 'system', kind: 'local', admin: true });
const DEFAULT_NAMES: Record<Role, string> = { worker: 'Default Worker Template', orchestrator: 'Default Orchestrator Template' };

/**
 * Prompt templates (contract 01 "Template", 05 "Templates"). Global, not project-scoped: every
 * template key carries the `{templates}` hash tag, so a change to a template and its indexes (all,
 * and by role, in creation order) is one atomic step. Nothing is broadcast (D30).
 */
export class TemplateStore {
  constructor(readonly ctx: StoreContext) {}

  private roleIndex(role: string): string {
    return this.ctx.keys.templateRole(role);
  }

  /**
   * Who may change an existing template (policy `template:change`: admins; the creator of a custom one;
   * never a scoped, session or read-only credential). 404 when it does not exist.
   */
  private async assertMayChange(actor: Principal, id: string): Promise<void> {
    const [isDefault, ownerId] = await this.ctx.redis.hmget(this.ctx.keys.template(id), 'isDefault', 'ownerId');
    if (isDefault === null) throw new NotFoundError('Template', id);
    const owner = ownerId ? (JSON.parse(ownerId) as string) : undefined;
    authorize(actor, 'template:change', { isDefault: isDefault === 'true', ownerId: owner }, () => new NotFoundError('Template', id));
  }

  /**
   * `GET /templates/:id`: the Template (`{id, name, role, content, isDefault, createdAt, updatedAt,
   * version}`) as JSON text with its version, or NotFoundError "Template with id '<id>' not found".
   * Any principal may read (templates are global).
   */
  async get(_actor: Principal, id: string): Promise<Rendered> {
    const r = await readDoc(this.ctx, this.ctx.keys.template(id), 'template');
    if (!r) throw new NotFoundError('Template', id);
    return r;
  }

  /** `GET /templates`: one page of templates in creation order (contract 00 "Lists"); any principal. */
  list(_actor: Principal, req: PageRequest): Promise<Page> {
    const k = this.ctx.keys;
    return pageIndex(this.ctx, { index: k.templateIndex, entityPrefix: k.templatePrefix() }, 'template', req);
  }

  /**
   * `GET /templates/role/:role` (contract 05 `getTemplateByRole`): the first template of `role` in
   * creation order (normally the seeded default); 404 "Template with id 'role:<role>' not found".
   */
  async getByRole(_actor: Principal, role: Role): Promise<Rendered> {
    const page = await pageIndex(this.ctx, { index: this.roleIndex(role), entityPrefix: this.ctx.keys.templatePrefix() }, 'template', { limit: 1 });
    const json = page.items[0];
    if (!json) throw new NotFoundError('Template', `role:${role}`);
    return { json, version: versionOf(json) };
  }

  /**
   * Writes a new template hash and adds it to the global and role indexes, in one atomic step.
   * `onlyIfRoleEmpty`: the step fails with BusinessRuleError unless the role has no template yet
   * (seeding). `now`: creation time (defaults to the clock).
   */
  private async insert(
    actor: Principal,
    input: { name: string; role: Role; content: string; isDefault: boolean },
    onlyIfRoleEmpty: boolean,
    now?: number,
  ): Promise<Rendered> {
    const k = this.ctx.keys;
    const c = this.ctx.templateCommit(now);
    const id = newId('tmpl', c.now);
    const key = k.template(id);
    if (onlyIfRoleEmpty) c.empty(this.roleIndex(input.role), 'already seeded');
    const member = indexMember(c.now, id);
    const res = await c
      .absent(key, { resource: 'Template', id })
      .hset(key, encodeFields({ id, ...input, createdAt: c.now, updatedAt: c.now, version: 1, ownerId: actor.id }))
      .zadd(k.templateIndex, member)
      .zadd(this.roleIndex(input.role), member)
      .render('template', key)
      .exec(this.ctx.redis);
    return { json: res.renders[0]!, version: 1 };
  }

  /**
   * `POST /templates` (input validated by the route: all truthy, known role): a custom Template with
   * `isDefault: false`, `version: 1`. 403 for a read-only credential.
   */
  async create(actor: Principal, input: { name: string; role: Role; content: string }): Promise<Rendered> {
    authorize(actor, 'template:create', {}, () => new NotFoundError('Template', 'new'));
    return this.insert(actor, { ...input, isDefault: false }, false);
  }

  /**
   * `PUT /templates/:id` (contract 02): 400 "At least one of name or content is required" (route-level
   * envelope) when both are falsy, checked before existence; each key applied if `!== undefined` (so
   * `name: ''` is stored when content is given); role immutable; `updatedAt`, `version` +1.
   * 404 NOT_FOUND; `ifMatch` stale → 412 PRECONDITION_FAILED.
   */
  async update(actor: Principal, id: string, input: { name?: string; content?: string }, ifMatch?: number): Promise<Rendered> {
    if (!input.name && !input.content) {
      throw new ValidationError('At least one of name or content is required', [{ path: 'body', message: 'At least one of name or content is required' }], 'route');
    }
    await this.assertMayChange(actor, id);
    const key = this.ctx.keys.template(id);
    return withRetry(async () => {
      const c = this.ctx.templateCommit();
      if (ifMatch !== undefined) c.checkVersion(key, ifMatch, { resource: 'Template', id });
      else c.exists(key, { resource: 'Template', id });
      const res = await c
        .hset(key, encodeFields({ name: input.name, content: input.content, updatedAt: c.now }), true)
        .render('template', key)
        .exec(this.ctx.redis);
      return { json: res.renders[0]!, version: versionOf(res.renders[0]!) };
    }, ifMatch);
  }

  /**
   * `POST /templates/:id/reset` (contract 05): content ← the built-in default of the template's role;
   * name and isDefault kept (applies to custom templates too); `version` +1. 404 NOT_FOUND if absent;
   * `ifMatch` given and stale → 412 PRECONDITION_FAILED.
   */
  async reset(actor: Principal, id: string, ifMatch?: number): Promise<Rendered> {
    await this.assertMayChange(actor, id);
    const key = this.ctx.keys.template(id);
    const role = await this.ctx.redis.hget(key, 'role');
    if (!role) throw new NotFoundError('Template', id);
    const content = defaultTemplate(JSON.parse(role) as Role);
    return withRetry(async () => {
      const c = this.ctx.templateCommit();
      if (ifMatch !== undefined) c.checkVersion(key, ifMatch, { resource: 'Template', id });
      else c.exists(key, { resource: 'Template', id });
      const res = await c
        .hset(key, encodeFields({ content, updatedAt: c.now }), true)
        .render('template', key)
        .exec(this.ctx.redis);
      return { json: res.renders[0]!, version: versionOf(res.renders[0]!) };
    }, ifMatch);
  }

  /**
   * `DELETE /templates/:id` (contract 02/05): removes the hash and both index entries in one step.
   * 404 NOT_FOUND if absent; a default template → 500 INTERNAL_ERROR "Cannot delete default template.
   * Use resetToDefault instead." (D28; shape C envelope, no `statusCode`); `ifMatch` stale → 412.
   */
  async delete(actor: Principal, id: string, ifMatch?: number): Promise<void> {
    const key = this.ctx.keys.template(id);
    // role, isDefault and createdAt never change, so reading them before the atomic step is safe
    const [role, isDefault, createdAt] = await this.ctx.redis.hmget(key, 'role', 'isDefault', 'createdAt');
    if (!role || !createdAt) throw new NotFoundError('Template', id);
    await this.assertMayChange(actor, id);
    if (isDefault === 'true') {
      throw new AppError(500, 'INTERNAL_ERROR', 'Cannot delete default template. Use resetToDefault instead.', { envelope: 'route' });
    }
    const member = indexMember(Number(createdAt), id);
    await withRetry(async () => {
      const c = this.ctx.templateCommit();
      if (ifMatch !== undefined) c.checkVersion(key, ifMatch, { resource: 'Template', id });
      else c.exists(key, { resource: 'Template', id });
      await c
        .del(key)
        .zrem(this.ctx.keys.templateIndex, member)
        .zrem(this.roleIndex(JSON.parse(role) as string), member)
        .exec(this.ctx.redis);
    }, ifMatch);
  }

  /**
   * Seeds `Default Worker Template` / `Default Orchestrator Template` (`isDefault: true`, built-in
   * content) for each role that has no template (contract 01 "Template"); called by the API server
   * whenever Redis becomes ready. Safe when several replicas start at once: each creation is
   * conditional on the role's index being empty, checked in the same atomic step, so exactly one
   * default per role is created; a role already seeded is skipped. Worker is created strictly before
   * orchestrator (distinct `createdAt`), so the list order is stable.
   */
  async seedDefaults(actor: Principal = SEEDER): Promise<void> {
    let last = 0;
    for (const role of ['worker', 'orchestrator'] as const) {
      const now = Math.max(this.ctx.clock(), last + 1);
      last = now;
      try {
        await this.insert(actor, { name: DEFAULT_NAMES[role], role, content: defaultTemplate(role), isDefault: true }, true, now);
      } catch (err) {
        if (!(err instanceof BusinessRuleError)) throw err; // the role already has a template
      }
    }
  }
}
