import { z } from 'zod';
import { AppError, ValidationError } from '../../shared/errors.js';
import { summarize } from '../../shared/skills/skill-loader.js';
import { SkillSummarySchema } from '../../shared/schemas/wire.js';
import type { ApiDeps } from '../api-deps.js';
import { principal, sendJson } from '../http.js';
import { authorize } from '../../shared/access/policy.js';
import type { RouteSpec } from '../route-table.js';

const ROLE_MESSAGE = 'Role must be "worker" or "orchestrator"';
const notFound = (id: string) => new AppError(404, 'NOT_FOUND', `Skill not found: ${id}`, { envelope: 'route' });

/** Skills, read-only from SKILLS_DIR (contract 02 "Skills", semantics in 05); `role/` before `/:id`. */
export function skillRoutes({ skills }: ApiDeps): RouteSpec[] {
  const tag = 'skills';
  return [
    {
      method: 'get', path: '/skills', tag, summary: 'List skills from SKILLS_DIR', ok: [200, 'SkillSummary[]'],
      handler: async (_req, res) => sendJson(res, 200, await skills.listSummaries()),
    },
    {
      method: 'get', path: '/skills/role/:role', tag, summary: 'Skills for a role (ids = manifest names)', ok: [200, 'SkillSummary[]'], errors: [400],
      handler: async (req, res) => {
        const role = req.params.role;
        if (role !== 'worker' && role !== 'orchestrator') {
          throw new ValidationError(ROLE_MESSAGE, [{ path: 'params.role', message: ROLE_MESSAGE }], 'route');
        }
        sendJson(res, 200, await skills.loadForRole(role));
      },
    },
    {
      method: 'get', path: '/skills/:id', tag, summary: 'A skill with its instructions', ok: [200, 'SkillDetail'], errors: [404],
      handler: async (req, res) => {
        const id = String(req.params.id);
        const s = await skills.load(id);
        if (!s) throw notFound(id);
        sendJson(res, 200, { ...summarize(s), instructions: s.instructions });
      },
    },
    // A reload invalidates every replica's cache: admins only (security issue 11, item 20).
    {
      method: 'post', path: '/skills/:id/reload', tag, summary: 'Reload a skill on every replica (admins)', ok: [200, SkillSummarySchema.extend({ reloaded: z.literal(true) })], errors: [404],
      handler: async (req, res) => {
        const id = String(req.params.id);
        authorize(principal(req), 'skill:reload', {}, () => notFound(id));
        const s = await skills.reload(id);
        if (!s) throw notFound(id);
        sendJson(res, 200, { ...summarize(s), reloaded: true });
      },
    },
  ];
}
