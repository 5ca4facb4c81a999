import { Router } from 'express';
import { ValidationError } from '../../shared/errors.js';
import type { ApiDeps } from '../api-deps.js';
import { body, ifMatch, parse, principal, sendEntity, sendJson, sendList, sessionViewOf } from '../http.js';

/**
 * Sessions (contract 02 "Sessions"): list with filters, create, get, PATCH, delete, events,
 * timeline (append, and paged reads), task links. `/api/v1` answers a session as its document with
 * the last 100 entries of each list and their counts, `/api` as the whole session (contract 00 "Events"). Spawn (`POST /sessions/spawn`) is registered before these by the spawn routes.
 */
export function sessionRoutes({ stores, schemas, config }: ApiDeps): Router {
  const r = Router();
  const max = config.LEGACY_LIST_MAX;
  r.get('/sessions', async (req, res) => {
    const q = parse(schemas.sessionListQuery, req.query, 'query');
    const view = sessionViewOf(req);
    await sendList(req, res, q, max, (p) => stores.sessions.list(principal(req), { ...q, ...p }, view));
  });
  r.post('/sessions', async (req, res) => {
    const raw = body(req) as Record<string, unknown>;
    // Route-level check first (contract 02): taskIds missing ([] is fine); legacy `taskId` accepted.
    if (raw.taskIds === undefined && (raw.taskId === undefined || raw.taskId === null)) {
      throw new ValidationError('taskIds is required', [{ path: 'body.taskIds', message: 'taskIds is required' }], 'route');
    }
    const input = parse(schemas.sessionCreate, raw, 'body');
    sendEntity(res, 201, await stores.sessions.create(principal(req), input, sessionViewOf(req)));
  });
  r.get('/sessions/:id', async (req, res) => {
    sendEntity(res, 200, await stores.sessions.get(principal(req), req.params.id, sessionViewOf(req)));
  });
  // A session's long lists, paged like any list (contract 00 "Events"; whole on /api without ?limit=).
  for (const list of ['timeline', 'events'] as const) {
    r.get(`/sessions/:id/${list}`, async (req, res) => {
      const q = parse(schemas.projectListQuery, req.query, 'query');
      await sendList(req, res, q, max, (p) => stores.sessions.entries(principal(req), req.params.id, list, p));
    });
  }
  r.patch('/sessions/:id', async (req, res) => {
    const input = parse(schemas.sessionUpdate, body(req), 'body');
    sendEntity(res, 200, await stores.sessions.update(principal(req), req.params.id, input, ifMatch(req), sessionViewOf(req)));
  });
  r.delete('/sessions/:id', async (req, res) => {
    await stores.sessions.delete(principal(req), req.params.id, ifMatch(req));
    sendJson(res, 200, { success: true, id: req.params.id });
  });
  r.post('/sessions/:id/events', async (req, res) => {
    const input = parse(schemas.sessionEvent, body(req), 'body');
    sendEntity(res, 200, await stores.sessions.addEvent(principal(req), req.params.id, input, sessionViewOf(req)));
  });
  r.post('/sessions/:id/timeline', async (req, res) => {
    const input = parse(schemas.sessionTimeline, body(req), 'body');
    sendEntity(res, 200, await stores.sessions.addTimeline(principal(req), req.params.id, input, sessionViewOf(req)));
  });
  r.post('/sessions/:id/tasks/:taskId', async (req, res) => {
    sendEntity(res, 200, await stores.sessions.link(principal(req), req.params.id, req.params.taskId, true, sessionViewOf(req)));
  });
  r.delete('/sessions/:id/tasks/:taskId', async (req, res) => {
    sendEntity(res, 200, await stores.sessions.link(principal(req), req.params.id, req.params.taskId, false, sessionViewOf(req)));
  });
  return r;
}
