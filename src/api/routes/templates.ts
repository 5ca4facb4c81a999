import { ValidationError } from '../../shared/errors.js';
import type { Role } from '../../shared/schemas/entities.js';
import { DefaultTemplateSchema } from '../../shared/schemas/wire.js';
import { defaultTemplate } from '../../shared/templates/default-templates.js';
import type { ApiDeps } from '../api-deps.js';
import { body, ifMatch, parse, principal, sendEntity, sendJson, sendList } from '../http.js';
import type { RouteSpec } from '../route-table.js';

const ROLE_MESSAGE = 'Invalid role. Must be "worker" or "orchestrator"';

/**
 * Route-level role check (contract 02 "Templates"): anything but `worker`/`orchestrator` is 400
 * VALIDATION_ERROR 'Invalid role. Must be "worker" or "orchestrator"' without `statusCode`.
 */
function role(value: unknown, where: string): Role {
  if (value !== 'worker' && value !== 'orchestrator') {
    throw new ValidationError(ROLE_MESSAGE, [{ path: where, message: ROLE_MESSAGE }], 'route');
  }
  return value;
}

/**
 * Templates (contract 02 "Templates", semantics in 05), mounted under `/api/v1` and `/api`:
 * - `GET /templates` → `Template[]` in creation order (paged: `limit`, `cursor`; contract 00 "Lists");
 * - `GET /templates/role/:role` → first template of the role (400 role; 404 `role:<role>`);
 * - `GET /templates/default/:role` → `{ role, content }`, the built-in text (400 role; no Redis);
 * - `GET /templates/:id` → `Template` (404);
 * - `POST /templates` `{name, role, content}` → 201 `Template` (400 'name, role, and content are
 *   required', checked before the role; 400 role);
 * - `PUT /templates/:id` `{name?, content?}` → `Template` (400 'At least one of name or content is
 *   required'; 404; 412 with a stale `If-Match`);
 * - `POST /templates/:id/reset` → `Template` with the built-in content of its role (404; 412);
 * - `DELETE /templates/:id` → `{ success: true, id }` (404; 500 for a default template; 412).
 * The `role/` and `default/` routes come before `/:id`. Nothing is broadcast (D30).
 */
export function templateRoutes({ stores, schemas, config }: ApiDeps): RouteSpec[] {
  const t = stores.templates;
  const tag = 'templates';
  return [
    {
      method: 'get', path: '/templates', tag, summary: 'List templates (creation order, paged)', query: schemas.projectListQuery, ok: [200, 'Template[]'],
      handler: async (req, res) => {
        const q = parse(schemas.projectListQuery, req.query, 'query');
        await sendList(req, res, q, config.LEGACY_LIST_MAX, (p) => t.list(principal(req), p));
      },
    },
    {
      method: 'post', path: '/templates', tag, summary: 'Create a template', body: schemas.templateCreate, ok: [201, 'Template'], errors: [400],
      handler: async (req, res) => {
        const input = parse(schemas.templateCreate, body(req), 'body');
        const rl = role(input.role, 'body.role');
        sendEntity(res, 201, await t.create(principal(req), { name: input.name, role: rl, content: input.content }));
      },
    },
    {
      method: 'get', path: '/templates/role/:role', tag, summary: 'First template of a role', ok: [200, 'Template'], errors: [400, 404],
      handler: async (req, res) => {
        sendEntity(res, 200, await t.getByRole(principal(req), role(req.params.role, 'params.role')));
      },
    },
    {
      method: 'get', path: '/templates/default/:role', tag, summary: 'Built-in default content of a role', ok: [200, DefaultTemplateSchema], errors: [400],
      handler: (req, res) => {
        const rl = role(req.params.role, 'params.role');
        sendJson(res, 200, { role: rl, content: defaultTemplate(rl) });
      },
    },
    {
      method: 'get', path: '/templates/:id', tag, summary: 'Get a template', ok: [200, 'Template'], errors: [404],
      handler: async (req, res) => {
        sendEntity(res, 200, await t.get(principal(req), String(req.params.id)));
      },
    },
    {
      method: 'put', path: '/templates/:id', tag, summary: 'Update name/content', body: schemas.templateUpdate, ok: [200, 'Template'], errors: [400, 404, 412],
      handler: async (req, res) => {
        const input = parse(schemas.templateUpdate, body(req), 'body');
        sendEntity(res, 200, await t.update(principal(req), String(req.params.id), input, ifMatch(req)));
      },
    },
    {
      method: 'post', path: '/templates/:id/reset', tag, summary: 'Reset content to the built-in default', ok: [200, 'Template'], errors: [404, 412],
      handler: async (req, res) => {
        sendEntity(res, 200, await t.reset(principal(req), String(req.params.id), ifMatch(req)));
      },
    },
    {
      method: 'delete', path: '/templates/:id', tag, summary: 'Delete a custom template', ok: [200, 'Deleted'], errors: [404, 412, 500],
      handler: async (req, res) => {
        await t.delete(principal(req), String(req.params.id), ifMatch(req));
        sendJson(res, 200, { success: true, id: req.params.id });
      },
    },
  ];
}
