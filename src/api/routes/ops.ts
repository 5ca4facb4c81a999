import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { ApiDeps } from '../api-deps.js';
import type { RouteSpec } from '../route-table.js';

/**
 * `/metrics` (Prometheus text, when the replica has metrics), behind `guard` (ops-access.ts; contract
 * 00 "Paths", security issue 11 item 18). A root route.
 */
export function opsRoutes(deps: ApiDeps, guard: RequestHandler): RouteSpec[] {
  const metrics = deps.metrics;
  const out: RouteSpec[] = [];
  if (metrics) {
    out.push({
      method: 'get', path: '/metrics', tag: 'health', root: true, summary: 'Prometheus metrics of this replica (text format; metrics token or an admin credential)',
      ok: [200, z.string()], okType: 'text/plain', errors: [401, 403], use: [guard],
      handler: async (_req, res) => {
        res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
      },
    });
  }
  return out;
}
