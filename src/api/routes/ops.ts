import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { ApiDeps } from '../api-deps.js';
import type { ApiReference } from '../openapi.js';
import type { RouteSpec } from '../route-table.js';

/**
 * `/metrics` (Prometheus text, when the replica has metrics) and `/docs` (the API reference page of
 * `reference`, read on first request), each behind `guard` (ops-access.ts; contract 00 "Paths",
 * security issue 11 item 18). Root routes.
 */
export function opsRoutes(deps: ApiDeps, guard: RequestHandler, reference: () => ApiReference): RouteSpec[] {
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
  out.push({
    method: 'get', path: '/docs', tag: 'meta', root: true, summary: 'This reference as an HTML page (metrics token or an admin credential)',
    ok: [200, z.string()], okType: 'text/html', errors: [401, 403], use: [guard],
    handler: (_req, res) => {
      res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'");
      res.type('html').send(reference().html);
    },
  });
  return out;
}
