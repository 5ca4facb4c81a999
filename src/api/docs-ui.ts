import { Router, type RequestHandler } from 'express';
import swaggerUi from 'swagger-ui-express';

/**
 * The CSP of the docs pages: Swagger UI's own script and style files from this replica, its inline
 * styles, `data:` images, and requests to this origin only ("Try it out").
 */
const DOCS_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Swagger UI's settings: the document from `./openapi.json` (so the page works on either port), no online validator. */
const OPTIONS = {
  customSiteTitle: 'Maestro API',
  swaggerOptions: { url: './openapi.json', validatorUrl: null, persistAuthorization: false, displayRequestDuration: true },
};

/** Sets the docs pages' CSP. */
const docsCsp: RequestHandler = (_req, res, next) => {
  res.setHeader('Content-Security-Policy', DOCS_CSP);
  next();
};

/**
 * `GET /docs` (issue 16): the Swagger UI page at `/docs/`; `/docs` without the slash redirects there
 * (301, query kept), since the page loads its assets relative to it.
 */
export function docsPageHandler(): RequestHandler {
  const page = swaggerUi.setup(undefined, OPTIONS);
  return (req, res, next) => {
    if (req.path === '/docs') {
      const q = req.originalUrl.indexOf('?');
      return res.redirect(301, `/docs/${q < 0 ? '' : req.originalUrl.slice(q)}`);
    }
    res.setHeader('Content-Security-Policy', DOCS_CSP);
    return page(req, res, next);
  };
}

/**
 * Swagger UI's files under `/docs/` (issue 16): swagger-ui-dist's script, style and image files and
 * the page's `swagger-ui-init.js`, served by this replica (no CDN). Static files, not API operations:
 * mounted beside the route table's `/docs` routes (routes/docs.ts).
 */
export function docsAssets(): Router {
  const r = Router();
  r.use('/docs', docsCsp, swaggerUi.serveFiles(undefined, OPTIONS));
  return r;
}
