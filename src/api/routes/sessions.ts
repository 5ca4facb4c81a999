import type { Request } from 'express';
import { ValidationError } from '../../shared/errors.js';
import type { ApiDeps } from '../api-deps.js';
import { body, ifMatch, parse, principal, sendEntity, sendJson, sendList, sessionViewOf } from '../http.js';
import type { RouteSpec } from '../route-table.js';

/**
 * Sessions (contract 02 "Sessions"): list with filters, create, get, PATCH, delete, events,
 * timeline (append, and paged reads), task links. `/api/v1` answers a session as its document with
 * the last 100 entries of each list and their counts, `/api` as the whole session (contract 00 "Events").
 * Spawn (`POST /sessions/spawn`) is mounted before these by the spawn routes.
 */
export function sessionRoutes({ stores, schemas, config }: ApiDeps): RouteSpec[] {
  const max = config.LEGACY_LIST_MAX;
  const tag = 'sessions';
  const id = (req: Request) => String(req.params.id);
  // A session's long lists, paged like any list (contract 00 "Events"; whole on /api without ?limit=).
  const listRoute = (list: 'timeline' | 'events', what: string): RouteSpec => ({
    method: 'get', path: `/sessions/:id/${list}`, tag, summary: `A page of the session's ${what}, in append order (limit, cursor; whole on /api without limit)`,
    query: schemas.projectListQuery, ok: [200, list === 'events' ? 'SessionEvent[]' : 'TimelineEntry[]'], errors: [400, 404],
    handler: async (req, res) => {
      const q = parse(schemas.projectListQuery, req.query, 'query');
      await sendList(req, res, q, max, (p) => stores.sessions.entries(principal(req), id(req), list, p));
    },
  });
  return [
    {
      method: 'get', path: '/sessions', tag, summary: 'List sessions (filters projectId, taskId, status, active, archived; paged): on /api/v1 without events and timeline (their counts instead); on /api whole', query: schemas.sessionListQuery, ok: [200, 'SessionHead[]'],
      handler: async (req, res) => {
        const q = parse(schemas.sessionListQuery, req.query, 'query');
        const view = sessionViewOf(req);
        await sendList(req, res, q, max, (p) => stores.sessions.list(principal(req), { ...q, ...p }, view));
      },
    },
    {
      method: 'post', path: '/sessions', tag, summary: 'Create (or register) a session', body: schemas.sessionCreate, ok: [201, 'Session'], errors: [400, 404],
      handler: async (req, res) => {
        const raw = body(req) as Record<string, unknown>;
        // Route-level check first (contract 02): taskIds missing ([] is fine); legacy `taskId` accepted.
        if (raw.taskIds === undefined && (raw.taskId === undefined || raw.taskId === null)) {
          throw new ValidationError('taskIds is required', [{ path: 'body.taskIds', message: 'taskIds is required' }], 'route');
        }
        const input = parse(schemas.sessionCreate, raw, 'body');
        sendEntity(res, 201, await stores.sessions.create(principal(req), input, sessionViewOf(req)));
      },
    },
    {
      method: 'get', path: '/sessions/:id', tag, summary: 'Get a session: on /api/v1 with the last 100 events and timeline entries and eventCount/timelineCount; on /api whole', ok: [200, 'Session'], errors: [404],
      handler: async (req, res) => {
        sendEntity(res, 200, await stores.sessions.get(principal(req), id(req), sessionViewOf(req)));
      },
    },
    listRoute('timeline', 'timeline'),
    listRoute('events', 'events'),
    {
      method: 'patch', path: '/sessions/:id', tag, summary: 'Update a session', body: schemas.sessionUpdate, ok: [200, 'Session'], errors: [400, 404, 412],
      handler: async (req, res) => {
        const input = parse(schemas.sessionUpdate, body(req), 'body');
        sendEntity(res, 200, await stores.sessions.update(principal(req), id(req), input, ifMatch(req), sessionViewOf(req)));
      },
    },
    {
      method: 'delete', path: '/sessions/:id', tag, summary: 'Delete a session (strips it from its tasks)', ok: [200, 'Deleted'], errors: [404, 412],
      handler: async (req, res) => {
        await stores.sessions.delete(principal(req), id(req), ifMatch(req));
        sendJson(res, 200, { success: true, id: req.params.id });
      },
    },
    {
      method: 'post', path: '/sessions/:id/events', tag, summary: 'Append a session event', body: schemas.sessionEvent, ok: [200, 'Session'], errors: [400, 404],
      handler: async (req, res) => {
        const input = parse(schemas.sessionEvent, body(req), 'body');
        sendEntity(res, 200, await stores.sessions.addEvent(principal(req), id(req), input, sessionViewOf(req)));
      },
    },
    {
      method: 'post', path: '/sessions/:id/timeline', tag, summary: 'Append a timeline entry', body: schemas.sessionTimeline, ok: [200, 'Session'], errors: [400, 404],
      handler: async (req, res) => {
        const input = parse(schemas.sessionTimeline, body(req), 'body');
        sendEntity(res, 200, await stores.sessions.addTimeline(principal(req), id(req), input, sessionViewOf(req)));
      },
    },
    {
      method: 'post', path: '/sessions/:id/tasks/:taskId', tag, summary: 'Link a task to a session (both sides)', ok: [200, 'Session'], errors: [404],
      handler: async (req, res) => {
        sendEntity(res, 200, await stores.sessions.link(principal(req), id(req), String(req.params.taskId), true, sessionViewOf(req)));
      },
    },
    {
      method: 'delete', path: '/sessions/:id/tasks/:taskId', tag, summary: 'Unlink a task from a session (both sides)', ok: [200, 'Session'], errors: [404],
      handler: async (req, res) => {
        sendEntity(res, 200, await stores.sessions.link(principal(req), id(req), String(req.params.taskId), false, sessionViewOf(req)));
      },
    },
  ];
}
