import { Router, type RequestHandler } from 'express';
import type { ApiDeps } from '../api-deps.js';

/**
 * `/metrics` (Prometheus text, when the replica has metrics), behind `guard` (ops-access.ts; contract 00 "Paths", security issue 11 item 18).
 */
export function opsRoutes(deps: ApiDeps, guard: RequestHandler): Router {
  const r = Router();
  const metrics = deps.metrics;
  if (metrics) {
    r.get('/metrics', guard, async (_req, res) => {
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
  }
  return r;
}
