import { Router } from 'express';
import { ValidationError } from '../../shared/errors.js';
import type { ApiDeps } from '../api-deps.js';
import { body, ifMatch, parse, principal, sendEntity, sendJson, sendPage } from '../http.js';

/**
 * Sessions (contract 02 "Sessions"): list with filters, create, get, PATCH, delete, events,
 * timeline, task links. Spawn (`POST /sessions/spawn`) is registered before these by the spawn routes.
 */
export function sessionRoutes({ stores, schemas }: ApiDeps): Router {
  const r = Router();
  r.get('/sessions', async (req, res) => {
    const q = parse(schemas.sessionListQuery, req.query, 'query');
    sendPage(req, res, await stores.sessions.list(principal(req), q));
  });
  r.post('/sessions', async (req, res) => {
    const raw = body(req) as Record<string, unknown>;
    // Route-level check first (contract 02): taskIds missing ([] is fine); legacy `taskId` accepted.
    if (raw.taskIds === undefined && (raw.taskId === undefined || raw.taskId === null)) {
      throw new ValidationError('taskIds is required', [{ path: 'body.taskIds', message: 'taskIds is required' }], 'route');
    }
    const input = parse(schemas.sessionCreate, raw, 'body');
    sendEntity(res, 201, await stores.sessions.create(principal(req), input));
  });
  r.get('/sessions/:id', async (req, res) => {
    sendEntity(res, 200, await stores.sessions.get(principal(req), req.params.id));
  });
  r.patch('/sessions/:id', async (req, res) => {
    const input = parse(schemas.sessionUpdate, body(req), 'body');
    sendEntity(res, 200, await stores.sessions.update(principal(req), req.params.id, input, ifMatch(req)));
  });
  r.delete('/sessions/:id', async (req, res) => {
    await stores.sessions.delete(principal(req), req.params.id, ifMatch(req));
    sendJson(res, 200, { success: true, id: req.params.id });
  });
  r.post('/sessions/:id/events', async (req, res) => {
    const input = parse(schemas.sessionEvent, body(req), 'body');
    sendEntity(res, 200, await stores.sessions.addEvent(principal(req), req.params.id, input));
  });
  r.post('/sessions/:id/timeline', async (req, res) => {
    const input = parse(schemas.sessionTimeline, body(req), 'body');
    sendEntity(res, 200, await stores.sessions.addTimeline(principal(req), req.params.id, input));
  });
  r.post('/sessions/:id/tasks/:taskId', async (req, res) => {
    sendEntity(res, 200, await stores.sessions.link(principal(req), req.params.id, req.params.taskId, true));
  });
  r.delete('/sessions/:id/tasks/:taskId', async (req, res) => {
    sendEntity(res, 200, await stores.sessions.link(principal(req), req.params.id, req.params.taskId, false));
  });
  return r;
}
