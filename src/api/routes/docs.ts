import { z } from 'zod';
import { docsPageHandler } from '../docs-ui.js';
import type { ApiReference } from '../openapi.js';
import type { RouteSpec } from '../route-table.js';
import { OpenApiDocumentSchema } from './meta.js';

/**
 * API docs a client can use (issue 16), open to everyone like the document they show (no data in
 * them; "Try it out" sends the credential the reader enters under Authorize: Bearer or X-API-Key):
 * - `GET /docs` → Swagger UI (docs-ui.ts; its files are served beside, by `docsAssets`);
 * - `GET /docs/openapi.json` → the document of `reference`, the same as `/api/v1/openapi.json`, so the
 *   page also works on the operations port (METRICS_PORT), which serves nothing of `/api`.
 * Root routes.
 */
export function docsRoutes(reference: () => ApiReference): RouteSpec[] {
  return [
    {
      method: 'get', path: '/docs', tag: 'meta', root: true, open: true, summary: 'This reference in Swagger UI (HTML; `/docs` redirects to `/docs/`)',
      ok: [200, z.string()], okType: 'text/html',
      handler: docsPageHandler(),
    },
    {
      method: 'get', path: '/docs/openapi.json', tag: 'meta', root: true, open: true, summary: 'The OpenAPI document, as at /api/v1/openapi.json (read by the /docs page)',
      ok: [200, OpenApiDocumentSchema],
      handler: (_req, res) => {
        res.json(reference().doc);
      },
    },
  ];
}
