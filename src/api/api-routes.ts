import type { RequestHandler } from 'express';
import type { ApiDeps } from './api-deps.js';
import type { LoopbackHop } from './mcp-loopback.js';
import type { OpenApiDocument } from './openapi.js';
import type { RouteSpec } from './route-table.js';
import { authRoutes } from './routes/auth.js';
import { docsRoutes } from './routes/docs.js';
import { healthRoutes } from './routes/health.js';
import { mcpRoutes } from './routes/mcp.js';
import { metaRoutes } from './routes/meta.js';
import { opsRoutes } from './routes/ops.js';
import { projectRoutes } from './routes/projects.js';
import { queueRoutes } from './routes/queues.js';
import { sessionRoutes } from './routes/sessions.js';
import { skillRoutes } from './routes/skills.js';
import { spawnRoutes } from './routes/spawn.js';
import { taskRoutes } from './routes/tasks.js';
import { templateRoutes } from './routes/templates.js';

/** What some routes' handlers need besides `ApiDeps`; none of it is read while the table is built. */
export interface RouteWiring {
  /** Guard of the operational routes (`/metrics`, `/health?deep=1`, `/ws-status`): ops-access.ts. */
  guard: RequestHandler;
  /** How the MCP transport's tools call this replica's API (mcp-loopback.ts). */
  hop: Pick<LoopbackHop, 'callerFor'>;
  /** The API's OpenAPI document (`/api/v1/openapi.json`, `/docs`), built on first request. */
  document: () => OpenApiDocument;
}

/**
 * Every route of the replica, as route-table.ts specs, in groups: `api` under `/api/v1` (and the `/api`
 * alias), one group per resource module in mounting order (each group becomes one Router for
 * route-dispatch.ts; spawn before sessions, so `/sessions/spawn` precedes `/sessions/:id`), and
 * `root`, the health and operations routes at the root. The OpenAPI document is made from the same
 * table (`allRoutes`), so what is mounted is what is documented.
 */
export interface ApiRouteTable {
  api: RouteSpec[][];
  root: RouteSpec[][];
}

/**
 * The route table of `deps` (contract 02 and 00): the auth routes only when `deps.identity` is set,
 * `/metrics` only when `deps.metrics` is. Builds handlers only; touches no Redis.
 */
export function apiRouteTable(deps: ApiDeps, wiring: RouteWiring): ApiRouteTable {
  return {
    api: [
      metaRoutes(wiring.document),
      ...(deps.identity ? [authRoutes(deps, deps.identity)] : []),
      projectRoutes(deps),
      taskRoutes(deps),
      spawnRoutes(deps),
      queueRoutes(deps),
      sessionRoutes(deps),
      skillRoutes(deps),
      templateRoutes(deps),
      mcpRoutes(wiring.hop),
    ],
    root: [healthRoutes(deps, wiring.guard), opsRoutes(deps, wiring.guard), docsRoutes(wiring.document)],
  };
}

/** The table as one list, root routes first: what the OpenAPI document is made from. */
export function allRoutes(table: ApiRouteTable): RouteSpec[] {
  return [...table.root.flat(), ...table.api.flat()];
}
