import { Router } from 'express';
import { AppError, ValidationError } from '../../shared/errors.js';
import { summarize } from '../../shared/skills/skill-loader.js';
import type { ApiDeps } from '../api-deps.js';
import { principal, sendJson } from '../http.js';
import { authorize } from '../../shared/access/policy.js';

const ROLE_MESSAGE = 'Role must be "worker" or "orchestrator"';
const notFound = (id: string) => new AppError(404, 'NOT_FOUND', `Skill not found: ${id}`, { envelope: 'route' });

/** Skills, read-only from SKILLS_DIR (contract 02 "Skills", semantics in 05). */
export function skillRoutes({ skills }: ApiDeps): Router {
  const r = Router();
  r.get('/skills', async (_req, res) => sendJson(res, 200, await skills.listSummaries()));
  r.get('/skills/role/:role', async (req, res) => {
    const role = req.params.role;
    if (role !== 'worker' && role !== 'orchestrator') {
      throw new ValidationError(ROLE_MESSAGE, [{ path: 'params.role', message: ROLE_MESSAGE }], 'route');
    }
    sendJson(res, 200, await skills.loadForRole(role));
  });
  r.get('/skills/:id', async (req, res) => {
    const s = await skills.load(req.params.id);
    if (!s) throw notFound(req.params.id);
    sendJson(res, 200, { ...summarize(s), instructions: s.instructions });
  });
  // A reload invalidates every replica's cache: admins only (security issue 11, item 20).
  r.post('/skills/:id/reload', async (req, res) => {
    authorize(principal(req), 'skill:reload', {}, () => notFound(req.params.id));
    const s = await skills.reload(req.params.id);
    if (!s) throw notFound(req.params.id);
    sendJson(res, 200, { ...summarize(s), reloaded: true });
  });
  return r;
}
