import type { Express } from 'express';
import { specOf } from './route-table.js';

interface LayerLike {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: LayerLike[]; routers?: readonly { stack: LayerLike[] }[] };
  rawPath?: string | string[];
}

/** A route the app serves, as `listRoutes` finds it. */
export interface ListedRoute {
  method: string;
  /** OpenAPI form, with the mount prefix: `/api/v1/projects/{id}`. */
  path: string;
  /** Mounted from a route-table.ts spec by `mountRoutes` (so documented); false for any other route. */
  fromTable: boolean;
}

/**
 * Every route the Express app serves as `{ method, path, fromTable }` with paths in OpenAPI form
 * (`/api/v1/projects/{id}`), found by walking the router stacks (Express 5 layers keep `rawPath`),
 * including the routers behind a `dispatchByFirstSegment` layer (route-dispatch.ts). For tests that
 * cross-check the app against its OpenAPI document and access matrix.
 */
export function listRoutes(app: Express): ListedRoute[] {
  const out: ListedRoute[] = [];
  const walk = (stack: LayerLike[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        const fromTable = specOf(layer.route) !== undefined;
        for (const p of [layer.route.path].flat()) {
          const path = (prefix + p).replace(/:(\w+)/g, '{$1}');
          for (const [m, on] of Object.entries(layer.route.methods)) if (on && m !== '_all') out.push({ method: m, path, fromTable });
        }
      } else if (layer.handle?.stack || layer.handle?.routers) {
        const raw = Array.isArray(layer.rawPath) ? layer.rawPath[0] : layer.rawPath;
        const at = prefix + (raw && raw !== '/' ? raw : '');
        if (layer.handle.stack) walk(layer.handle.stack, at);
        for (const r of layer.handle.routers ?? []) walk(r.stack, at);
      }
    }
  };
  const router = (app as unknown as { router: { stack: LayerLike[] } }).router;
  walk(router.stack, '');
  return out;
}
