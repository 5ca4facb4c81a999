import type { RequestHandler, Router } from 'express';

interface LayerLike {
  route?: { path: unknown };
}

/** Characters that make a path segment a pattern rather than a literal (params, wildcards, groups). */
const PATTERN = /[:*?+(){}[\]\\]/;

/**
 * The literal first path segments (lower case) of every route of `router`, or undefined when one of
 * them cannot be told in advance (a parameter or pattern as first segment, a non-string path, or a
 * router-level middleware): such a router is offered every request.
 */
function firstSegments(router: Router): Set<string> | undefined {
  const out = new Set<string>();
  for (const layer of (router as unknown as { stack: LayerLike[] }).stack) {
    if (!layer.route) return undefined;
    for (const p of [layer.route.path].flat()) {
      if (typeof p !== 'string') return undefined;
      const segment = p.replace(/^\//, '').split('/')[0]!;
      if (!segment || PATTERN.test(segment)) return undefined;
      out.add(segment.toLowerCase());
    }
  }
  return out;
}

/** A handler from `dispatchByFirstSegment`: its routers, in order, for route listing (route-list.ts). */
export type SegmentDispatcher = RequestHandler & { readonly routers: readonly Router[] };

/**
 * One layer in place of `routers` mounted one after the other: a request is handed, in their order,
 * only to the routers that have a route whose first path segment is the request's (`/tasks/…` → the
 * routers with `/tasks…` routes), and to those whose routes it cannot index (see `firstSegments`).
 * The same routes answer as when every router is mounted, since a route whose first segment is
 * literal cannot match a path with another first segment (matching is case-insensitive, Express's
 * default); but a request no longer walks every router's every route, and no longer takes an event-loop
 * turn (`setImmediate`) for each router it passes through without a match (issue 12: ~40 layers for
 * a task route). A router's error goes to `next(err)`; `next('router')` inside one moves to the next.
 */
export function dispatchByFirstSegment(routers: Router[]): SegmentDispatcher {
  const indexed = routers.map((router) => ({ router, segments: firstSegments(router) }));
  const fallback = indexed.filter((r) => !r.segments).map((r) => r.router);
  const bySegment = new Map<string, Router[]>();
  for (const { segments } of indexed) {
    for (const segment of segments ?? []) {
      if (!bySegment.has(segment)) bySegment.set(segment, indexed.filter((r) => !r.segments || r.segments.has(segment)).map((r) => r.router));
    }
  }
  const dispatch: RequestHandler = (req, res, next) => {
    const path = req.path;
    const end = path.indexOf('/', 1);
    const segment = (end < 0 ? path.slice(1) : path.slice(1, end)).toLowerCase();
    const list = bySegment.get(segment) ?? fallback;
    let i = 0;
    const step = (err?: unknown): void => {
      if (err) return next(err);
      const router = list[i++];
      if (!router) return next();
      router(req, res, step);
    };
    step();
  };
  return Object.assign(dispatch, { routers: Object.freeze([...routers]) });
}

/**
 * `list` (undefined entries left out) run one after the other as one middleware layer, with Express 5's semantics for each
 * (a thrown error or a rejected promise goes to `next(err)`; `next('route')` goes on to the next
 * handler, `next('router')` leaves the enclosing router), without the router's per-layer path matching
 * and bookkeeping: for the middleware every `/api` request passes through (issue 12).
 */
export function chain(list: (RequestHandler | undefined)[]): RequestHandler {
  const handlers = list.filter((h): h is RequestHandler => h !== undefined);
  return (req, res, next) => {
    let i = 0;
    const step = (err?: unknown): void => {
      if (err === 'router') return next('router');
      if (err && err !== 'route') return next(err);
      const handler = handlers[i++];
      if (!handler) return next();
      try {
        const ret = handler(req, res, step) as unknown;
        if (ret instanceof Promise) ret.then(undefined, (e: unknown) => step(e || new Error('Rejected promise')));
      } catch (e) {
        step(e);
      }
    };
    step();
  };
}

/**
 * `handler` for requests with `method` to one of `paths` (literal paths, no parameters), matched as
 * Express matches such a route by default: case-insensitive, with or without a trailing slash; every
 * other request passes on. For a route-specific step inside `chain`.
 */
export function onlyFor(method: string, paths: string[], handler: RequestHandler): RequestHandler {
  const wanted = new Set(paths.map((p) => p.toLowerCase()));
  return (req, res, next) => {
    if (req.method !== method) return next();
    const path = req.path.toLowerCase();
    if (wanted.has(path) || (path.endsWith('/') && wanted.has(path.slice(0, -1)))) return handler(req, res, next);
    next();
  };
}
