import { Router } from 'express';
import type { ApiDeps } from '../api-deps.js';
import { body, parse, principal, sendJson } from '../http.js';

/**
 * Queue routes (contract 02 "Queue", semantics in 05). Nothing here is broadcast in the original; an
 * additive `queue:updated` event is appended by every mutation.
 */
export function queueRoutes({ stores, schemas }: ApiDeps): Router {
  const r = Router();
  const q = stores.queues;
  r.get('/sessions/:id/queue', async (req, res) => sendJson(res, 200, await q.get(principal(req), req.params.id)));
  r.get('/sessions/:id/queue/top', async (req, res) => sendJson(res, 200, await q.top(principal(req), req.params.id)));
  r.get('/sessions/:id/queue/items', async (req, res) => sendJson(res, 200, await q.items(principal(req), req.params.id)));
  r.post('/sessions/:id/queue/start', async (req, res) => sendJson(res, 200, await q.start(principal(req), req.params.id)));
  r.post('/sessions/:id/queue/complete', async (req, res) => sendJson(res, 200, await q.complete(principal(req), req.params.id)));
  r.post('/sessions/:id/queue/fail', async (req, res) => {
    const input = parse(schemas.queueFail, body(req), 'body');
    sendJson(res, 200, await q.fail(principal(req), req.params.id, input.reason));
  });
  r.post('/sessions/:id/queue/skip', async (req, res) => sendJson(res, 200, await q.skip(principal(req), req.params.id)));
  r.post('/sessions/:id/queue/push', async (req, res) => {
    // The taskId check sits between the strategy check and the queue lookup (contract 02), so the
    // store validates it; only its type and size are checked here.
    const raw = body(req) as { taskId?: unknown };
    if (raw.taskId !== undefined && raw.taskId !== null && raw.taskId !== '') parse(schemas.queuePush, raw, 'body');
    sendJson(res, 200, await q.push(principal(req), req.params.id, raw));
  });
  return r;
}
