import type { ApiDeps } from '../api-deps.js';
import { body, ifMatch, parse, principal, sendEntity, sendJson, sendList } from '../http.js';
import type { RouteSpec } from '../route-table.js';

/** Projects (contract 02 "Projects"): list, create, get, update (PUT), delete. */
export function projectRoutes({ stores, schemas, config }: ApiDeps): RouteSpec[] {
  const tag = 'projects';
  return [
    {
      method: 'get', path: '/projects', tag, summary: 'List projects (creation order, paged)', query: schemas.projectListQuery, ok: [200, 'Project[]'],
      handler: async (req, res) => {
        const q = parse(schemas.projectListQuery, req.query, 'query');
        await sendList(req, res, q, config.LEGACY_LIST_MAX, (p) => stores.projects.list(principal(req), p));
      },
    },
    {
      method: 'post', path: '/projects', tag, summary: 'Create a project', body: schemas.projectCreate, ok: [201, 'Project'], errors: [400],
      handler: async (req, res) => {
        const input = parse(schemas.projectCreate, body(req), 'body');
        sendEntity(res, 201, await stores.projects.create(principal(req), input));
      },
    },
    {
      method: 'get', path: '/projects/:id', tag, summary: 'Get a project', ok: [200, 'Project'], errors: [404],
      handler: async (req, res) => {
        sendEntity(res, 200, await stores.projects.get(principal(req), String(req.params.id)));
      },
    },
    {
      method: 'put', path: '/projects/:id', tag, summary: 'Update a project (shallow merge of known fields)', body: schemas.projectUpdate, ok: [200, 'Project'], errors: [400, 404, 412],
      handler: async (req, res) => {
        const input = parse(schemas.projectUpdate, body(req), 'body');
        sendEntity(res, 200, await stores.projects.update(principal(req), String(req.params.id), input, ifMatch(req)));
      },
    },
    {
      method: 'delete', path: '/projects/:id', tag, summary: 'Delete a project without tasks or sessions', ok: [200, 'Deleted'], errors: [404, 412, 422],
      handler: async (req, res) => {
        await stores.projects.delete(principal(req), String(req.params.id), ifMatch(req));
        sendJson(res, 200, { success: true, id: req.params.id });
      },
    },
  ];
}
