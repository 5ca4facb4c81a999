import type { Request } from 'express';
import type { z } from 'zod';
import { QueueItemsSchema, QueuePushSchema, QueueStartSchema, QueueTopSchema, QueueViewSchema } from '../../shared/schemas/queue-wire.js';
import type { ApiDeps } from '../api-deps.js';
import { body, parse, principal, sendJson } from '../http.js';
import type { ResponseShape, RouteSpec } from '../route-table.js';

/**
 * Queue routes (contract 02 "Queue", semantics in 05), under `/sessions/:id/queue`. Nothing here is
 * broadcast in the original; an additive `queue:updated` event is appended by every mutation.
 */
export function queueRoutes({ stores, schemas }: ApiDeps): RouteSpec[] {
  const q = stores.queues;
  const id = (req: Request) => String(req.params.id);
  const route = (method: 'get' | 'post', sub: string, summary: string, ok: ResponseShape, handler: RouteSpec['handler'], reqBody?: z.ZodType): RouteSpec => ({
    method, path: `/sessions/:id/queue${sub}`, tag: 'queue', summary, body: reqBody, ok: [200, ok], errors: [400, 404], handler,
  });
  return [
    route('get', '', 'Queue state and stats', QueueViewSchema, async (req, res) => sendJson(res, 200, await q.get(principal(req), id(req)))),
    route('get', '/top', 'Peek the next queued item', QueueTopSchema, async (req, res) => sendJson(res, 200, await q.top(principal(req), id(req)))),
    route('get', '/items', 'Queue items and stats', QueueItemsSchema, async (req, res) => sendJson(res, 200, await q.items(principal(req), id(req)))),
    route('post', '/start', 'Start the next queued item', QueueStartSchema, async (req, res) => sendJson(res, 200, await q.start(principal(req), id(req)))),
    route('post', '/complete', 'Complete the current item', 'QueueFinish', async (req, res) => sendJson(res, 200, await q.complete(principal(req), id(req)))),
    route(
      'post', '/fail', 'Fail the current item', 'QueueFinish',
      async (req, res) => {
        const input = parse(schemas.queueFail, body(req), 'body');
        sendJson(res, 200, await q.fail(principal(req), id(req), input.reason));
      },
      schemas.queueFail,
    ),
    route('post', '/skip', 'Skip the current or next item', 'QueueFinish', async (req, res) => sendJson(res, 200, await q.skip(principal(req), id(req)))),
    route(
      'post', '/push', 'Append a task to the queue', QueuePushSchema,
      async (req, res) => {
        // The taskId check sits between the strategy check and the queue lookup (contract 02), so the
        // store validates it; only its type and size are checked here.
        const raw = body(req) as { taskId?: unknown };
        if (raw.taskId !== undefined && raw.taskId !== null && raw.taskId !== '') parse(schemas.queuePush, raw, 'body');
        sendJson(res, 200, await q.push(principal(req), id(req), raw));
      },
      schemas.queuePush,
    ),
  ];
}
