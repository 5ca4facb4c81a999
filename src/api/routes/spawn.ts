import { z } from 'zod';
import { ForbiddenError, UnavailableError } from '../../shared/errors.js';
import { SpawnAcceptedSchema, SpawnResultSchema } from '../../shared/schemas/spawn-wire.js';
import type { ApiDeps } from '../api-deps.js';
import { body, principal, sendJson, sendJsonText } from '../http.js';
import type { RouteSpec } from '../route-table.js';

/**
 * The spawn request as documented (contract 04). The spawn service validates the body itself, in the
 * contract's order and with its codes; this schema is for the reference only.
 */
const spawnBody = z.object({
  projectId: z.string(),
  taskIds: z.array(z.string()),
  role: z.enum(['worker', 'orchestrator']).optional(),
  strategy: z.enum(['simple', 'queue', 'tree']).optional(),
  spawnSource: z.enum(['ui', 'session']).optional(),
  sessionId: z.string().optional(),
  sessionName: z.string().optional(),
  skills: z.array(z.string()).optional(),
  context: z.record(z.string(), z.unknown()).optional(),
});

/**
 * `POST /sessions/spawn` (contract 04; mounted before every `/sessions/:id` route) and
 * `GET /sessions/:id/manifest`, `POST /sessions/:id/api-key` (contract 00 "Spawn"). `Prefer:
 * respond-async` → 202 at once.
 */
export function spawnRoutes(deps: ApiDeps): RouteSpec[] {
  const tag = 'spawn';
  const service = () => {
    if (!deps.spawn) throw new UnavailableError('Spawning is not available on this replica');
    return deps.spawn;
  };
  return [
    {
      method: 'post', path: '/sessions/spawn', tag, summary: 'Spawn an agent session: session + manifest (Prefer: respond-async → 202)',
      body: spawnBody, ok: [201, SpawnResultSchema], otherOk: [[202, SpawnAcceptedSchema]], errors: [400, 404, 500],
      handler: async (req, res) => {
        const async = /\brespond-async\b/i.test(req.get('prefer') ?? '');
        const raw = body(req);
        const answer = await service().spawn(principal(req), typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {}, async);
        if (answer.status === 202) res.setHeader('Preference-Applied', 'respond-async');
        sendJson(res, answer.status, answer.body, answer.replayable);
      },
    },
    // A session's own key (contract 00 "Spawn"), what `maestro worker init` asks for in the agent's
    // terminal with the machine's credential. Shown once; a replay of the request gets it without `key`.
    {
      method: 'post', path: '/sessions/:id/api-key', tag,
      summary: "Mint the session's own key (shown once; scoped to the session, at most editor; revoked when it ends). Writers of the project, not session keys",
      ok: [201, 'NewApiKey'], errors: [403, 404, 409, 429],
      handler: async (req, res) => {
        const p = principal(req);
        const id = String(req.params.id);
        if (p.kind === 'local') throw new ForbiddenError('Authentication is disabled on this server: sessions need no key');
        const { projectId } = await deps.stores.sessions.doc(p, id);
        const key = (await service().mintSessionKey(p, projectId, id))!;
        const { key: _secret, ...replayable } = key;
        sendJson(res, 201, key, replayable);
      },
    },
    {
      method: 'get', path: '/sessions/:id/manifest', tag, summary: 'The stored manifest of a spawned session', ok: [200, 'Manifest'], errors: [404],
      handler: async (req, res) => {
        sendJsonText(res, 200, await service().manifest(principal(req), String(req.params.id)));
      },
    },
  ];
}
