import { AppError, BusinessRuleError, ForbiddenError, NotFoundError, ValidationError } from '../errors.js';
import type { Principal } from '../principal.js';
import { indexMember } from '../keys.js';
import { newId, type Role } from '../schemas/entities.js';
import { withRetry } from '../commit.js';
import { defaultTemplate } from '../templates/default-templates.js';
import { encodeFields } from './entity-codec.js';
import { pageIndex, type Page, type PageRequest } from './pager.js';
import type { Rendered } from './project-store.js';
import type { StoreContext } from './store-context.js';

const versionOf = (json: string) => Number(/"version":(\d+)}$/.exec(json)?.[1] ?? 0);
const DEFAULT_NAMES: Record<Role, string> = { worker: 'Default Worker Template', orchestrator: 'Default Orchestrator Template' };

/**
 * Prompt templates (contract 01 "Template", 05 "Templates"). Global, not project-scoped: every
 * template key carries the `{templates}` hash tag, so a change to a template and its indexes (all,
 * and by role, in creation order) is one atomic step. Nothing is broadcast (D30).
 */
export class TemplateStore {
  constructor(readonly ctx: StoreContext) {}

  private roleIndex(role: string): string {
    return `${this.ctx.keys.prefix}{templates}:role:${role}`;
  }

  private assertWriter(actor: Principal): void {
    if (actor.readOnly) throw new ForbiddenError('Read-only credential');
  }

  /** Template `id`, or NotFoundError('Template', id). */
  async get(_actor: Principal, id: string): Promise<Rendered> {
    const r = await this.ctx.redis.maestroRender(1, this.ctx.keys.template(id), 'template');
    if (!r) throw new NotFoundError('Template', id);
    return { json: r[0], version: Number(r[1]) };
  }

  /** A page of templates in creation order. */
  list(_actor: Principal, req: PageRequest): Promise<Page> {
    const k = this.ctx.keys;
    return pageIndex(this.ctx, { index: k.templateIndex, entityPrefix: k.templatePrefix() }, 'template', req);
  }

  /** The first template of `role` in creation order; 404 "Template with id 'role:<role>' not found". */
  async getByRole(actor: Principal, role: Role): Promise<Rendered> {
    const page = await pageIndex(this.ctx, { index: this.roleIndex(role), entityPrefix: this.ctx.keys.templatePrefix() }, 'template', { limit: 1 });
    const json = page.items[0];
    if (!json) throw new NotFoundError('Template', `role:${role}`);
    return { json, version: versionOf(json) };
  }

  private async insert(actor: Principal, input: { name: string; role: Role; content: string; isDefault: boolean }, onlyIfRoleEmpty: boolean): Promise<Rendered> {
    const k = this.ctx.keys;
    const c = this.ctx.templateCommit();
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

  /** `POST /templates` (validated by the route): a custom template, `isDefault: false`. */
  async create(actor: Principal, input: { name: string; role: Role; content: string }): Promise<Rendered> {
    this.assertWriter(actor);
    return this.insert(actor, { ...input, isDefault: false }, false);
  }

  /**
   * `PUT /templates/:id`: 400 "At least one of name or content is required" when both are falsy; each
   * key applied if given (so `name: ''` is stored when content is given); role immutable; 404.
   */
  async update(actor: Principal, id: string, input: { name?: string; content?: string }, ifMatch?: number): Promise<Rendered> {
    this.assertWriter(actor);
    if (!input.name && !input.content) {
      throw new ValidationError('At least one of name or content is required', [{ path: 'body', message: 'At least one of name or content is required' }], 'route');
    }
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

  /** `POST /templates/:id/reset`: content ← the built-in default of its role; name, isDefault kept. */
  async reset(actor: Principal, id: string): Promise<Rendered> {
    this.assertWriter(actor);
    const key = this.ctx.keys.template(id);
    const role = await this.ctx.redis.hget(key, 'role');
    if (!role) throw new NotFoundError('Template', id);
    const c = this.ctx.templateCommit().exists(key, { resource: 'Template', id });
    const res = await c
      .hset(key, encodeFields({ content: defaultTemplate(JSON.parse(role) as Role), updatedAt: c.now }), true)
      .render('template', key)
      .exec(this.ctx.redis);
    return { json: res.renders[0]!, version: versionOf(res.renders[0]!) };
  }

  /**
   * `DELETE /templates/:id`: 404; a default template → 500 INTERNAL_ERROR "Cannot delete default
   * template. Use resetToDefault instead." (contract 02, D28).
   */
  async delete(actor: Principal, id: string, ifMatch?: number): Promise<void> {
    this.assertWriter(actor);
    const key = this.ctx.keys.template(id);
    const [role, isDefault, createdAt, version] = await this.ctx.redis.hmget(key, 'role', 'isDefault', 'createdAt', 'version');
    if (!role || !version) throw new NotFoundError('Template', id);
    if (isDefault === 'true') {
      throw new AppError(500, 'INTERNAL_ERROR', 'Cannot delete default template. Use resetToDefault instead.');
    }
    const member = indexMember(Number(createdAt), id);
    await withRetry(async () => {
      await this.ctx
        .templateCommit()
        .checkVersion(key, ifMatch ?? Number(version), { resource: 'Template', id })
        .del(key)
        .zrem(this.ctx.keys.templateIndex, member)
        .zrem(this.roleIndex(JSON.parse(role) as string), member)
        .exec(this.ctx.redis);
    }, ifMatch);
  }

  /**
   * Seeds `Default Worker Template` / `Default Orchestrator Template` (isDefault, built-in content) for
   * each role that has no template (contract 01). Safe when several replicas start at once: the
   * creation is conditional on the role's index being empty, in the same atomic step.
   */
  async seedDefaults(actor: Principal = { id: 'system', kind: 'local', admin: true }): Promise<void> {
    for (const role of ['worker', 'orchestrator'] as const) {
      try {
        await this.insert(actor, { name: DEFAULT_NAMES[role], role, content: defaultTemplate(role), isDefault: true }, true);
      } catch (err) {
        if (!(err instanceof BusinessRuleError)) throw err;
      }
    }
  }
}
