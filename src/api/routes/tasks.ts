import type { Request } from 'express';
import type { ApiDeps } from '../api-deps.js';
import { ValidationError } from '../../shared/errors.js';
import { TaskTimelineAddedSchema } from '../../shared/schemas/wire.js';
import { answeredAlready, body, ifMatch, parse, principal, sendEntity, sendJson, sendList } from '../http.js';
import type { RouteSpec } from '../route-table.js';

/**
 * Tasks (contract 02 "Tasks"): list with filters, create, get, PATCH, timeline, delete, children; and
 * contract 08's ready list, claims and dependency edits. `/tasks/ready` and `/tasks/claim-next` come
 * before `/tasks/:id`.
 */
export function taskRoutes({ stores, schemas, config }: ApiDeps): RouteSpec[] {
  const max = config.LEGACY_LIST_MAX;
  const tag = 'tasks';
  const id = (req: Request) => String(req.params.id);
  /** The session a claim is for: the body's, else a session key's own (400 when neither). */
  const claimSession = (req: Request, given?: string): string => {
    const sid = given ?? principal(req).sessionId;
    if (!sid) throw new ValidationError('sessionId is required', [{ path: 'body.sessionId', message: 'sessionId is required' }]);
    return sid;
  };
  return [
    {
      method: 'get', path: '/tasks', tag, summary: 'List tasks (filters projectId, status, parentId; paged)', query: schemas.taskListQuery, ok: [200, 'Task[]'],
      handler: async (req, res) => {
        const q = parse(schemas.taskListQuery, req.query, 'query');
        await sendList(req, res, q, max, (p) => stores.tasks.list(principal(req), { ...q, ...p }));
      },
    },
    // contract 08 "Ready work": before /tasks/:id
    {
      method: 'get', path: '/tasks/ready', tag,
      summary: 'Tasks of a project ready to work on: todo, not blocked, not claimed; by priority, then creation (paged; projectId required)',
      query: schemas.projectListQuery, ok: [200, 'Task[]'], errors: [400],
      handler: async (req, res) => {
        const q = parse(schemas.projectListQuery, req.query, 'query');
        const projectId = req.query.projectId;
        if (typeof projectId !== 'string' || !projectId) throw new ValidationError('projectId is required', [{ path: 'query.projectId', message: 'projectId is required' }]);
        await sendList(req, res, q, max, (p) => stores.tasks.ready(principal(req), projectId, p));
      },
    },
    // contract 08 "Claims": before /tasks/:id
    {
      method: 'post', path: '/tasks/claim-next', tag, summary: 'Claim the first ready task of a project ({projectId, sessionId}); 204 when none is ready',
      body: schemas.claimNextBody, ok: [200, 'Task'], errors: [400, 404],
      handler: async (req, res) => {
        const input = parse(schemas.claimNextBody, body(req), 'body');
        const claimed = await stores.claims.claimNext(principal(req), { ...input, sessionId: claimSession(req, input.sessionId) });
        if (!claimed) {
          if (!answeredAlready(res, 204, '')) res.status(204).end();
          return;
        }
        sendEntity(res, 200, claimed);
      },
    },
    {
      method: 'post', path: '/tasks', tag, summary: 'Create a task', body: schemas.taskCreate, ok: [201, 'Task'], errors: [400, 404],
      handler: async (req, res) => {
        const input = parse(schemas.taskCreate, body(req), 'body');
        sendEntity(res, 201, await stores.tasks.create(principal(req), input));
      },
    },
    {
      method: 'get', path: '/tasks/:id', tag, summary: 'Get a task', ok: [200, 'Task'], errors: [404],
      handler: async (req, res) => {
        sendEntity(res, 200, await stores.tasks.get(principal(req), id(req)));
      },
    },
    {
      method: 'patch', path: '/tasks/:id', tag, summary: 'Update a task', body: schemas.taskUpdate, ok: [200, 'Task'], errors: [400, 404, 412],
      handler: async (req, res) => {
        const input = parse(schemas.taskUpdate, body(req), 'body');
        sendEntity(res, 200, await stores.tasks.update(principal(req), id(req), input, ifMatch(req)));
      },
    },
    {
      method: 'post', path: '/tasks/:id/timeline', tag, summary: "Append to a session's timeline about this task", body: schemas.taskTimeline, ok: [200, TaskTimelineAddedSchema], errors: [400, 404],
      handler: async (req, res) => {
        const input = parse(schemas.taskTimeline, body(req), 'body');
        sendJson(res, 200, await stores.sessions.addTaskTimeline(principal(req), id(req), input));
      },
    },
    {
      method: 'delete', path: '/tasks/:id', tag, summary: 'Delete a task (no cascade)', ok: [200, 'Deleted'], errors: [404, 412],
      handler: async (req, res) => {
        await stores.tasks.delete(principal(req), id(req), ifMatch(req));
        sendJson(res, 200, { success: true, id: req.params.id });
      },
    },
    {
      method: 'post', path: '/tasks/:id/claim', tag, summary: 'Claim the task for a session ({sessionId, leaseMs?}); 409 when held or blocked', body: schemas.claimBody, ok: [200, 'Task'], errors: [400, 404, 409],
      handler: async (req, res) => {
        const input = parse(schemas.claimBody, body(req), 'body');
        sendEntity(res, 200, await stores.claims.claim(principal(req), id(req), { ...input, sessionId: claimSession(req, input.sessionId) }));
      },
    },
    {
      method: 'post', path: '/tasks/:id/claim/renew', tag, summary: "Renew the session's claim", body: schemas.claimBody, ok: [200, 'Task'], errors: [400, 404, 409],
      handler: async (req, res) => {
        const input = parse(schemas.claimBody, body(req), 'body');
        sendEntity(res, 200, await stores.claims.renew(principal(req), id(req), { ...input, sessionId: claimSession(req, input.sessionId) }));
      },
    },
    {
      method: 'delete', path: '/tasks/:id/claim', tag, summary: 'Release the claim (the task goes back to todo unless completed)', ok: [200, 'Task'], errors: [404, 409],
      handler: async (req, res) => {
        const sid = typeof req.query.sessionId === 'string' && req.query.sessionId ? req.query.sessionId : undefined;
        sendEntity(res, 200, await stores.claims.release(principal(req), id(req), sid));
      },
    },
    // contract 08 "Dependencies"
    {
      method: 'post', path: '/tasks/:id/dependencies', tag, summary: 'Make the task wait for another ({taskId}); a cycle is refused', body: schemas.dependencyAdd, ok: [200, 'Task'], errors: [400, 404],
      handler: async (req, res) => {
        const { taskId } = parse(schemas.dependencyAdd, body(req), 'body');
        sendEntity(res, 200, await stores.tasks.addDependency(principal(req), id(req), taskId));
      },
    },
    {
      method: 'delete', path: '/tasks/:id/dependencies/:taskId', tag, summary: 'The task no longer waits for taskId', ok: [200, 'Task'], errors: [404],
      handler: async (req, res) => {
        sendEntity(res, 200, await stores.tasks.removeDependency(principal(req), id(req), String(req.params.taskId)));
      },
    },
    {
      method: 'get', path: '/tasks/:id/children', tag, summary: 'Direct children of a task (paged)', query: schemas.projectListQuery, ok: [200, 'Task[]'], errors: [404],
      handler: async (req, res) => {
        const q = parse(schemas.projectListQuery, req.query, 'query');
        await sendList(req, res, q, max, (p) => stores.tasks.children(principal(req), id(req), p));
      },
    },
  ];
}
