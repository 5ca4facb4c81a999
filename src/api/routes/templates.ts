import { Router } from 'express';
import { ValidationError } from '../../shared/errors.js';
import type { Role } from '../../shared/schemas/entities.js';
import { defaultTemplate } from '../../shared/templates/default-templates.js';
import type { ApiDeps } from '../api-deps.js';
import { body, ifMatch, parse, principal, sendEntity, sendJson, sendList } from '../http.js';

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
export function templateRoutes({ stores, schemas, config }: ApiDeps): Router {
  const r = Router();
  const t = stores.templates;
  r.get('/templates', async (req, res) => {
    const q = parse(schemas.projectListQuery, req.query, 'query');
    await sendList(req, res, q, config.LEGACY_LIST_MAX, (p) => t.list(principal(req), p));
  });
  r.get('/templates/role/:role', async (req, res) => {
    sendEntity(res, 200, await t.getByRole(principal(req), role(req.params.role, 'params.role')));
  });
  r.get('/templates/default/:role', (req, res) => {
    const rl = role(req.params.role, 'params.role');
    sendJson(res, 200, { role: rl, content: defaultTemplate(rl) });
  });
  r.get('/templates/:id', async (req, res) => {
    sendEntity(res, 200, await t.get(principal(req), req.params.id));
  });
  r.post('/templates', async (req, res) => {
    const input = parse(schemas.templateCreate, body(req), 'body');
    const rl = role(input.role, 'body.role');
    sendEntity(res, 201, await t.create(principal(req), { name: input.name, role: rl, content: input.content }));
  });
  r.put('/templates/:id', async (req, res) => {
    const input = parse(schemas.templateUpdate, body(req), 'body');
    sendEntity(res, 200, await t.update(principal(req), req.params.id, input, ifMatch(req)));
  });
  r.post('/templates/:id/reset', async (req, res) => {
    sendEntity(res, 200, await t.reset(principal(req), req.params.id, ifMatch(req)));
  });
  r.delete('/templates/:id', async (req, res) => {
    await t.delete(principal(req), req.params.id, ifMatch(req));
    sendJson(res, 200, { success: true, id: req.params.id });
  });
  return r;
}
