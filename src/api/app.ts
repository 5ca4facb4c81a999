import './express-augment.js';
import express, { Router, type Express } from 'express';
import { allRoutes, apiRouteTable, type RouteWiring } from './api-routes.js';
import type { ApiDeps } from './api-deps.js';
import { errorHandler, notFoundHandler } from './middleware/error-handler.js';
import { idempotency } from './middleware/idempotency.js';
import { jsonBody } from './middleware/json-body.js';
import { createRateLimiters } from './middleware/rate-limits.js';
import { authenticate } from './middleware/authenticate.js';
import { requestBasics } from './middleware/request-basics.js';
import { chain, dispatchByFirstSegment, onlyFor } from './route-dispatch.js';
import { openApiDocument, type OpenApiDocument } from './openapi.js';
import { mountRoutes, type RouteSpec } from './route-table.js';
import { opsAccess, openOps } from './middleware/ops-access.js';
import { LoopbackHop } from './mcp-loopback.js';
import { docsAssets } from './docs-ui.js';
import { adminPageAccess } from './middleware/admin-access.js';
import { queueDashboard } from './queue-dashboard.js';

/**
 * The route table of `deps` with `guard` and `hop`, and the OpenAPI document made from that same table
 * (built on first request: building the table reads nothing).
 */
function routeTable(deps: ApiDeps, guard: RouteWiring['guard'], hop: RouteWiring['hop']) {
  let doc: OpenApiDocument | undefined;
  const table = apiRouteTable(deps, { guard, hop, document: () => (doc ??= openApiDocument(allRoutes(table), deps.config.SERVER_URL)) });
  return table;
}

/** The literal paths of the `open` specs (authenticate.ts lets them through without a credential). */
function openPaths(specs: readonly RouteSpec[]): Set<string> {
  const open = specs.filter((spec) => spec.open);
  for (const spec of open) if (/[:*]/.test(spec.path)) throw new Error(`An open route needs a literal path: ${spec.path}`);
  return new Set(open.map((spec) => spec.path));
}

/**
 * Builds the Express app (no `listen`): middleware, every route of contract 02 under `/api/v1` and
 * the `/api` alias (contract 00 "Paths"), health routes at the root, JSON 404 and the error handler.
 * The routes are api-routes.ts's table, mounted with route-table.ts `mountRoutes`; `/api/v1/openapi.json`
 * documents the same table. `/api/v1/mcp` (the MCP Streamable HTTP transport, contract 08) is one of
 * them, behind the same chain.
 */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', deps.config.TRUST_PROXY);
  const untimed = (path: string) => /\/sessions\/spawn$/.test(path);
  // Request id, the request's log line, metrics, timeout, security and CORS headers: one layer.
  app.use(
    requestBasics({
      logger: deps.logger,
      metrics: deps.metrics,
      timeoutMs: deps.config.REQUEST_TIMEOUT_MS,
      untimed,
      cors: deps.config.CORS_ENABLED ? { origins: deps.config.CORS_ORIGINS, credentials: deps.config.CORS_CREDENTIALS } : undefined,
    }),
  );
  const guard = opsAccess(deps.config, deps.auth);

  // The MCP transport's tools call this replica's own API as their caller (mcp-loopback.ts); the
  // limiters count such a call under the caller's address, not the replica's.
  const hop = new LoopbackHop((deps.config.REQUEST_TIMEOUT_MS || 30_000) + 5_000, Math.max(1, Math.min(32, Math.floor(deps.config.MAX_CONNECTIONS_PER_IP / 4))));
  const table = routeTable(deps, guard, hop);
  const limits = createRateLimiters(deps.rateLimitRedis ?? deps.redis, deps.config, (req) => hop.clientIp(req));
  const api = Router();
  // What every /api request passes through, in this order, as one layer (route-dispatch.ts `chain`):
  // the JSON body (no route outside /api reads one), per-IP limit, the login/register limit, the
  // credential, per-principal limit, the spawn limit, Idempotency-Key.
  api.use(
    chain([
      (_req, res, next) => (res.locals.passedApiV1 ? next('router') : next()),
      jsonBody(deps.config.BODY_LIMIT_BYTES, deps.config.MAX_JSON_DEPTH),
      limits.perIp,
      limits.auth && onlyFor('POST', ['/auth/login', '/auth/register'], limits.auth),
      authenticate(deps.auth, openPaths(table.api.flat())),
      limits.perPrincipal,
      limits.spawn && onlyFor('POST', ['/sessions/spawn'], limits.spawn),
      idempotency(deps.redis, deps.stores.ctx.keys, {
        ttlSeconds: deps.config.IDEMPOTENCY_TTL_SECONDS,
        // a claim is held for the request's time limit plus the lease (a spawn's is its wait)
        leaseMs: (req) => (untimed(req.path) ? deps.config.SPAWN_WAIT_MS : deps.config.REQUEST_TIMEOUT_MS || 30_000) + deps.config.IDEMPOTENCY_LEASE_MS,
      }),
    ]),
  );
  // The resource routers, one per group of the table in its order (spawn before `/sessions/:id`),
  // each offered only the requests of its first path segment (route-dispatch.ts).
  api.use(dispatchByFirstSegment(table.api.map((group) => mountRoutes(group))));
  app.use('/api/v1', api);
  // A request under /api/v1 that no route answered has been through the chain once already: the /api
  // alias (the original's paths) lets it pass to the 404 (it would count twice against the limits, and
  // an Idempotency-Key would be claimed twice with two URLs: 409 instead of 404).
  app.use('/api/v1', (_req, res, next) => {
    res.locals.passedApiV1 = true;
    next();
  });
  app.use('/api', api);
  // After /api (no path of theirs is under it), so that API requests do not walk their routes.
  for (const group of table.root) app.use(mountRoutes(group));
  // Swagger UI's static files (beside the table's /docs routes) and the queue dashboard, whose
  // pages and JSON are bull-board's own (admins only: admin-access.ts; issue 16).
  app.use(docsAssets());
  if (deps.dashboardQueues?.length) {
    const admin = adminPageAccess(deps.config, deps.auth, {
      action: 'queues:manage',
      realm: 'Maestro queues',
      identity: deps.identity?.identity,
      loginLimiter: limits.auth,
    });
    app.use(queueDashboard(deps.dashboardQueues, chain([limits.perIp, admin])));
  }

  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger, () => deps.metrics?.redisErrors.inc()));
  return app;
}

/** The operations app mounts no `/api` route, so no MCP tool ever calls through it. */
const NO_API_HOP: RouteWiring['hop'] = {
  callerFor: () => {
    throw new Error('The operations app serves no /api route');
  },
};

/**
 * The operations app of an API replica's METRICS_PORT (contract 00; security issue 11, item 18): the
 * same `/metrics`, `/health` (deep too), `/ready`, `/ws-status` and `/docs` as on the API port, without
 * the metrics token, for a port only the cluster's network (Prometheus) reaches. Nothing of `/api`.
 */
export function createOpsApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // The same table as the API app's (so the same /docs), of which only the root routes are mounted.
  const table = routeTable(deps, openOps, NO_API_HOP);
  for (const group of table.root) app.use(mountRoutes(group));
  app.use(docsAssets());
  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}
