import { Router } from 'express';
import type { ApiDeps } from '../api-deps.js';
import { body, ifMatch, parse, principal, sendEntity, sendJson, sendList } from '../http.js';

/** Projects (contract 02 "Projects"): list, create, get, update (PUT), delete. */
export function projectRoutes({ stores, schemas, config }: ApiDeps): Router {
  const r = Router();
  r.get('/projects', async (req, res) => {
    const q = parse(schemas.projectListQuery, req.query, 'query');
    await sendList(req, res, q, config.LEGACY_LIST_MAX, (p) => stores.projects.list(principal(req), p));
  });
  r.post('/projects', async (req, res) => {
    const input = parse(schemas.projectCreate, body(req), 'body');
    sendEntity(res, 201, await stores.projects.create(principal(req), input));
  });
  r.get('/projects/:id', async (req, res) => {
    sendEntity(res, 200, await stores.projects.get(principal(req), req.params.id));
  });
  r.put('/projects/:id', async (req, res) => {
    const input = parse(schemas.projectUpdate, body(req), 'body');
    sendEntity(res, 200, await stores.projects.update(principal(req), req.params.id, input, ifMatch(req)));
  });
  r.delete('/projects/:id', async (req, res) => {
    await stores.projects.delete(principal(req), req.params.id, ifMatch(req));
    sendJson(res, 200, { success: true, id: req.params.id });
  });
  return r;
}
