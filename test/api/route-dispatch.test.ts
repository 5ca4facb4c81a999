import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { Router, type ErrorRequestHandler } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chain, dispatchByFirstSegment, onlyFor } from '../../src/api/route-dispatch.js';
import { listRoutes } from '../../src/api/route-list.js';

/**
 * route-dispatch.ts (issue 12): routers offered only the requests of their routes' first path segment
 * answer exactly as when mounted one after another, and `chain` runs middleware with Express 5's
 * semantics. A real Express app on a loopback port, called over HTTP.
 */
let server: Server;
let base: string;
const seen: string[] = [];

beforeAll(async () => {
  const tasks = Router();
  tasks.get('/tasks/:id', (req, res) => void res.json({ by: 'tasks', id: req.params.id }));
  tasks.get('/tasks/:id/skip', (_req, _res, next) => next('router'));
  tasks.get('/tasks/:id/fail', () => {
    throw new Error('boom');
  });
  tasks.get('/tasks/:id/reject', async () => {
    throw new Error('rejected');
  });
  const later = Router();
  later.get('/tasks/:id/skip', (_req, res) => void res.json({ by: 'later' }));
  later.get('/projects', (_req, res) => void res.json({ by: 'later-projects' }));
  // a router whose first segment is a parameter is offered every request, in its place
  const wildcard = Router();
  wildcard.get('/:kind/wild', (req, res) => void res.json({ by: 'wildcard', kind: req.params.kind }));
  const gate = chain([
    (req, _res, next) => {
      seen.push(`a ${req.path}`);
      next();
    },
    undefined,
    onlyFor('POST', ['/auth/login'], (_req, res) => void res.status(429).json({ limited: true })),
    async (req, _res, next) => {
      if (req.path === '/gate-reject') throw new Error('gate rejected');
      next(req.path === '/gate-route' ? 'route' : undefined);
    },
    (req, res, next) => (req.path === '/gate-route' ? void res.json({ by: 'after route' }) : next()),
  ]);
  const app = express();
  const api = Router();
  api.use(gate);
  api.use(dispatchByFirstSegment([tasks, wildcard, later]));
  app.use('/api', api);
  app.use((req, res) => void res.status(404).json({ notFound: req.path }));
  app.use(((err: Error, _req, res, _next) => void res.status(500).json({ error: err.message })) as ErrorRequestHandler);
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // the routes behind the dispatcher are listed as if mounted directly
  expect(listRoutes(app).map((r) => `${r.method} ${r.path}`)).toEqual([
    'get /api/tasks/{id}',
    'get /api/tasks/{id}/skip',
    'get /api/tasks/{id}/fail',
    'get /api/tasks/{id}/reject',
    'get /api/{kind}/wild',
    'get /api/tasks/{id}/skip',
    'get /api/projects',
  ]);
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const get = async (path: string, method = 'GET') => {
  const res = await fetch(base + path, { method });
  return { status: res.status, body: await res.json() };
};

describe('dispatchByFirstSegment', () => {
  it('hands a request to the router of its first segment, case-insensitively like Express', async () => {
    expect(await get('/api/tasks/7')).toEqual({ status: 200, body: { by: 'tasks', id: '7' } });
    expect(await get('/api/TASKS/7')).toEqual({ status: 200, body: { by: 'tasks', id: '7' } });
    expect(await get('/api/tasks/7/')).toEqual({ status: 200, body: { by: 'tasks', id: '7' } });
    expect(await get('/api/projects')).toEqual({ status: 200, body: { by: 'later-projects' } });
  });

  it('offers every request to a router it cannot index, in its place among the others', async () => {
    expect(await get('/api/tasks/wild')).toEqual({ status: 200, body: { by: 'tasks', id: 'wild' } });
    expect(await get('/api/anything/wild')).toEqual({ status: 200, body: { by: 'wildcard', kind: 'anything' } });
  });

  it("next('router') goes on to the next router; errors and rejections reach the error handler; unknown paths fall through", async () => {
    expect(await get('/api/tasks/7/skip')).toEqual({ status: 200, body: { by: 'later' } });
    expect(await get('/api/tasks/7/fail')).toEqual({ status: 500, body: { error: 'boom' } });
    expect(await get('/api/tasks/7/reject')).toEqual({ status: 500, body: { error: 'rejected' } });
    expect(await get('/api/nothing/here')).toEqual({ status: 404, body: { notFound: '/api/nothing/here' } });
    expect(await get('/api')).toEqual({ status: 404, body: { notFound: '/api' } });
  });
});

describe('chain and onlyFor', () => {
  it('runs every handler in order, skips undefined ones, and applies a path-specific step only to its method and paths', async () => {
    seen.length = 0;
    await get('/api/tasks/1');
    expect(seen).toEqual(['a /tasks/1']);
    expect(await get('/api/auth/login', 'POST')).toEqual({ status: 429, body: { limited: true } });
    expect(await get('/api/Auth/Login/', 'POST')).toEqual({ status: 429, body: { limited: true } });
    expect((await get('/api/auth/login')).status).toBe(404);
    expect((await get('/api/auth/login/x', 'POST')).status).toBe(404);
  });

  it("a rejected handler goes to the error handler; next('route') goes on to the next handler", async () => {
    expect(await get('/api/gate-reject')).toEqual({ status: 500, body: { error: 'gate rejected' } });
    expect(await get('/api/gate-route')).toEqual({ status: 200, body: { by: 'after route' } });
  });
});
