import { Router, type RequestHandler } from 'express';
import type { z } from 'zod';
import type { ComponentName } from './openapi-components.js';

/** The HTTP methods the API's routes use (lower case, as Express's router methods and OpenAPI name them). */
export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * A success response's shape: the name of a shared component (openapi-components.ts), `'<Name>[]'` for
 * a list of them, or an inline zod schema; `z.string()` for a non-JSON answer (see `RouteSpec.okType`).
 */
export type ResponseShape = ComponentName | `${ComponentName}[]` | z.ZodType;

/**
 * One route of the API, declared once: what Express mounts (`method`, `path`, `use`, `handler`) and
 * what the OpenAPI document says of it (everything else). Every route module returns a list of these
 * (src/api/routes/*.ts); app.ts mounts the lists with `mountRoutes` and openapi.ts documents the same
 * lists, so a route cannot be served undocumented (contract 00 "Paths").
 */
export interface RouteSpec {
  method: HttpMethod;
  /** Express form, relative to `/api/v1` (or to the root when `root`): `/tasks/:id`. */
  path: string;
  /** OpenAPI tag (the resource: `tasks`, `sessions`, `health`…). */
  tag: string;
  /** One line for the reference. */
  summary: string;
  /** Request body schema (documented in input form; the handler still parses it itself). */
  body?: z.ZodType;
  /** Query schema: each top-level property becomes an optional query parameter. */
  query?: z.ZodType;
  /** Success status and its response schema. */
  ok: [number, ResponseShape];
  /** Other success answers (spawn's 202), each with its shape. */
  otherOk?: [number, ResponseShape][];
  /** Media type of the success response; `application/json` unless said (`/metrics`, `/docs`). */
  okType?: string;
  /** Statuses besides the success one that the contract defines (401/403/429/503 are added under `/api`). */
  errors?: number[];
  /** Outside `/api/v1`: the health and operations routes at the root. */
  root?: boolean;
  /**
   * Needs no credential (OpenAPI `security: []`): the routes middleware/authenticate.ts lets through
   * without one, and the open health probes. Everything else needs a bearer token or an API key.
   */
  open?: boolean;
  /** Route-level middleware run before `handler`, in order (e.g. the operations guard). */
  use?: RequestHandler[];
  /** The handler; a rejected promise goes to the error handler (Express 5). */
  handler: RequestHandler;
}

const fromTable = new WeakMap<object, RouteSpec>();

/**
 * A Router with one route layer per spec, in the list's order (order decides between overlapping paths:
 * `/tasks/ready` before `/tasks/:id`, spawn before `/sessions/:id`). Each route's handlers are
 * `[...use, handler]`. The result has only route layers with literal paths, as route-dispatch.ts's
 * `dispatchByFirstSegment` indexes them.
 */
export function mountRoutes(specs: readonly RouteSpec[], router: Router = Router()): Router {
  for (const spec of specs) {
    const route = router.route(spec.path);
    route[spec.method](...(spec.use ?? []), spec.handler);
    fromTable.set(route, spec);
  }
  return router;
}

/** The spec an Express route object was mounted from by `mountRoutes`; undefined for any other route. */
export function specOf(route: object): RouteSpec | undefined {
  return fromTable.get(route);
}

/** `/tasks/:id` → `/tasks/{id}` (the OpenAPI form of an Express path). */
export function openApiPath(path: string): string {
  return path.replace(/:(\w+)/g, '{$1}');
}
