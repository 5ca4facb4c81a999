import { Router, type RequestHandler } from 'express';
import type { ApiDeps } from '../api-deps.js';
import { apiReference } from '../openapi.js';

/**
 * `/metrics` (Prometheus text, when the replica has metrics) and `/docs` (the API reference page),
 * each behind `guard` (ops-access.ts; contract 00 "Paths", security issue 11 item 18).
 */
export function opsRoutes(deps: ApiDeps, guard: RequestHandler): Router {
  const r = Router();
  const metrics = deps.metrics;
  if (metrics) {
    r.get('/metrics', guard, async (_req, res) => {
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
  }
  const docsHtml = apiReference(deps.schemas, deps.config.SERVER_URL).html;
  r.get('/docs', guard, (_req, res) => {
    res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'");
    res.type('html').send(docsHtml);
  });
  return r;
}
