import { z } from 'zod';
import { docsPageHandler } from '../docs-ui.js';
import type { OpenApiDocument } from '../openapi.js';
import type { RouteSpec } from '../route-table.js';
import { OpenApiDocumentSchema } from './meta.js';

/**
 * API docs a client can use (issue 16), open to everyone like the document they show (no data in
 * them; "Try it out" sends the credential the reader enters under Authorize: Bearer or X-API-Key):
 * - `GET /docs` → Swagger UI (docs-ui.ts; its files are served beside, by `docsAssets`);
 * - `GET /docs/openapi.json` → the document of `document()` (`pageDocument`), read by the page from
 *   `./openapi.json`, so the page also loads on the operations port (METRICS_PORT), which serves
 *   nothing of `/api`.
 * Root routes.
 */
export function docsRoutes(document: () => OpenApiDocument): RouteSpec[] {
  let pageDoc: OpenApiDocument | undefined;
  return [
    {
      method: 'get', path: '/docs', tag: 'meta', root: true, open: true, summary: 'This reference in Swagger UI (HTML; `/docs` redirects to `/docs/`)',
      ok: [200, z.string()], okType: 'text/html',
      handler: docsPageHandler(),
    },
    {
      method: 'get', path: '/docs/openapi.json', tag: 'meta', root: true, open: true,
      summary: "The OpenAPI document of /api/v1/openapi.json, read by the /docs page, whose first server is the page's own origin",
      ok: [200, OpenApiDocumentSchema],
      handler: (_req, res) => {
        res.json((pageDoc ??= pageDocument(document())));
      },
    },
  ];
}

/**
 * The document as the docs page shows it: `/api/v1/openapi.json`'s with the page's own origin (`/`) as
 * its first server, so "Try it out" calls the replica the reader opened (SERVER_URL, the public
 * address, may be another host, which the page's CSP and CORS would refuse); SERVER_URL stays listed.
 */
export function pageDocument(doc: OpenApiDocument): OpenApiDocument {
  return { ...doc, servers: [{ url: '/', description: 'this page’s origin' }, ...doc.servers.filter((s) => s.url !== '/')] };
}
