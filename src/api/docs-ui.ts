import { Router, type RequestHandler } from 'express';
import swaggerUi from 'swagger-ui-express';

/**
 * The CSP of the docs pages: Swagger UI's own script and style files from this replica, its inline
 * styles, `data:` images, and requests to this origin only ("Try it out").
 */
const DOCS_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * API docs a client can use (issue 16): Swagger UI at `/docs/` (`/docs` redirects there), its assets
 * served from swagger-ui-dist by this replica (no CDN), reading the OpenAPI document `doc` from
 * `/docs/openapi.json` (the same one as `/api/v1/openapi.json`, so the page also works on the
 * operations port, which serves nothing of `/api`). Open to everyone like the document: it holds no
 * data, and "Try it out" sends the credential the reader enters (Authorize: Bearer or X-API-Key).
 */
export function docsRoutes(doc: Record<string, unknown>): Router {
  const r = Router();
  const csp: RequestHandler = (_req, res, next) => {
    res.setHeader('Content-Security-Policy', DOCS_CSP);
    next();
  };
  r.get('/docs/openapi.json', (_req, res) => {
    res.json(doc);
  });
  const options = {
    customSiteTitle: 'Maestro API',
    swaggerOptions: { url: './openapi.json', validatorUrl: null, persistAuthorization: false, displayRequestDuration: true },
  };
  r.get('/docs', (req, res, next) => {
    if (req.path !== '/docs') return next();
    const q = req.originalUrl.indexOf('?');
    res.redirect(301, `/docs/${q < 0 ? '' : req.originalUrl.slice(q)}`);
  });
  r.use('/docs', csp, swaggerUi.serveFiles(undefined, options));
  r.get('/docs/', csp, swaggerUi.setup(undefined, options));
  return r;
}
