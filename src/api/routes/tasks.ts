import { Router, type Request } from 'express';
import type { ApiDeps } from '../api-deps.js';
import { ValidationError } from '../../shared/errors.js';
import { answeredAlready, body, ifMatch, parse, principal, sendEntity, sendJson, sendList } from '../http.js';

/**
 * Tasks (contract 02 "Tasks"): list with filters, create, get, PATCH, timeline, delete, children; and
 * contract 08's ready list and dependency edits.
 */
export function taskRoutes({ stores, schemas, config }: ApiDeps): Router {
  const r = Router();
  const max = config.LEGACY_LIST_MAX;
  r.get('/tasks', async (req, res) => {
    const q = parse(schemas.taskListQuery, req.query, 'query');
    await sendList(req, res, q, max, (p) => stores.tasks.list(principal(req), { ...q, ...p }));
  });
  // contract 08 "Ready work": before /tasks/:id
  r.get('/tasks/ready', async (req, res) => {
    const q = parse(schemas.projectListQuery, req.query, 'query');
    const projectId = req.query.projectId;
    if (typeof projectId !== 'string' || !projectId) throw new ValidationError('projectId is required', [{ path: 'query.projectId', message: 'projectId is required' }]);
    await sendList(req, res, q, max, (p) => stores.tasks.ready(principal(req), projectId, p));
  });
  /** The session a claim is for: the body's, else a session key's own (400 when neither). */
  const claimSession = (req: Request, given?: string): string => {
    const sid = given ?? principal(req).sessionId;
    if (!sid) throw new ValidationError('sessionId is required', [{ path: 'body.sessionId', message: 'sessionId is required' }]);
    return sid;
  };
  // contract 08 "Claims": before /tasks/:id
  r.post('/tasks/claim-next', async (req, res) => {
    const input = parse(schemas.claimNextBody, body(req), 'body');
    const claimed = await stores.claims.claimNext(principal(req), { ...input, sessionId: claimSession(req, input.sessionId) });
    if (!claimed) {
      if (!answeredAlready(res, 204, '')) res.status(204).end();
      return;
    }
    sendEntity(res, 200, claimed);
  });
  r.post('/tasks', async (req, res) => {
    const input = parse(schemas.taskCreate, body(req), 'body');
    sendEntity(res, 201, await stores.tasks.create(principal(req), input));
  });
  r.get('/tasks/:id', async (req, res) => {
    sendEntity(res, 200, await stores.tasks.get(principal(req), req.params.id));
  });
  r.patch('/tasks/:id', async (req, res) => {
    const input = parse(schemas.taskUpdate, body(req), 'body');
    sendEntity(res, 200, await stores.tasks.update(principal(req), req.params.id, input, ifMatch(req)));
  });
  r.post('/tasks/:id/timeline', async (req, res) => {
    const input = parse(schemas.taskTimeline, body(req), 'body');
    sendJson(res, 200, await stores.sessions.addTaskTimeline(principal(req), req.params.id, input));
  });
  r.delete('/tasks/:id', async (req, res) => {
    await stores.tasks.delete(principal(req), req.params.id, ifMatch(req));
    sendJson(res, 200, { success: true, id: req.params.id });
  });
  r.post('/tasks/:id/claim', async (req, res) => {
    const input = parse(schemas.claimBody, body(req), 'body');
    sendEntity(res, 200, await stores.claims.claim(principal(req), req.params.id, { ...input, sessionId: claimSession(req, input.sessionId) }));
  });
  r.post('/tasks/:id/claim/renew', async (req, res) => {
    const input = parse(schemas.claimBody, body(req), 'body');
    sendEntity(res, 200, await stores.claims.renew(principal(req), req.params.id, { ...input, sessionId: claimSession(req, input.sessionId) }));
  });
  r.delete('/tasks/:id/claim', async (req, res) => {
    const sid = typeof req.query.sessionId === 'string' && req.query.sessionId ? req.query.sessionId : undefined;
    sendEntity(res, 200, await stores.claims.release(principal(req), req.params.id, sid));
  });
  // contract 08 "Dependencies"
  r.post('/tasks/:id/dependencies', async (req, res) => {
    const { taskId } = parse(schemas.dependencyAdd, body(req), 'body');
    sendEntity(res, 200, await stores.tasks.addDependency(principal(req), req.params.id, taskId));
  });
  r.delete('/tasks/:id/dependencies/:taskId', async (req, res) => {
    sendEntity(res, 200, await stores.tasks.removeDependency(principal(req), req.params.id, req.params.taskId));
  });
  r.get('/tasks/:id/children', async (req, res) => {
    const q = parse(schemas.projectListQuery, req.query, 'query');
    await sendList(req, res, q, max, (p) => stores.tasks.children(principal(req), req.params.id, p));
  });
  return r;
}
