import { Router } from 'express';
import { ForbiddenError, UnavailableError } from '../../shared/errors.js';
import type { ApiDeps } from '../api-deps.js';
import { body, principal, sendJson, sendJsonText } from '../http.js';

/**
 * `POST /sessions/spawn` (contract 04; registered before every `/sessions/:id` route) and
 * `GET /sessions/:id/manifest`, `POST /sessions/:id/api-key` (contract 00 "Spawn"). `Prefer:
 * respond-async` → 202 at once.
 */
export function spawnRoutes(deps: ApiDeps): Router {
  const r = Router();
  const service = () => {
    if (!deps.spawn) throw new UnavailableError('Spawning is not available on this replica');
    return deps.spawn;
  };
  r.post('/sessions/spawn', async (req, res) => {
    const async = /\brespond-async\b/i.test(req.get('prefer') ?? '');
    const raw = body(req);
    const answer = await service().spawn(principal(req), typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {}, async);
    if (answer.status === 202) res.setHeader('Preference-Applied', 'respond-async');
    sendJson(res, answer.status, answer.body, answer.replayable);
  });
  // A session's own key (contract 00 "Spawn"), what `maestro worker init` asks for in the agent's
  // terminal with the machine's credential. Shown once; a replay of the request gets it without `key`.
  r.post('/sessions/:id/api-key', async (req, res) => {
    const p = principal(req);
    if (p.kind === 'local') throw new ForbiddenError('Authentication is disabled on this server: sessions need no key');
    const { projectId } = await deps.stores.sessions.doc(p, req.params.id);
    const key = (await service().mintSessionKey(p, projectId, req.params.id))!;
    const { key: _secret, ...replayable } = key;
    sendJson(res, 201, key, replayable);
  });
  r.get('/sessions/:id/manifest', async (req, res) => {
    sendJsonText(res, 200, await service().manifest(principal(req), req.params.id));
  });
  return r;
}
