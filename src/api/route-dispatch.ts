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
