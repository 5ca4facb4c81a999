import { statfs } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { RequestHandler } from 'express';
import { HealthSchema, ReadySchema, WsStatusSchema } from '../../shared/schemas/ops-wire.js';
import type { ApiDeps } from '../api-deps.js';
import type { RouteSpec } from '../route-table.js';

const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();

/**
 * `/health` (liveness: the original `{status, timestamp, uptime}` plus `nodeId`; `?deep=1` adds Redis
 * round-trip ms, event-loop delay, heap and free disk of SESSION_DIR), `/ready` (Redis takes a write
 * and every readiness check answers → 200, else 503), `/ws-status` (contract 02 "Health"). `guard` stands before
 * `?deep=1` and `/ws-status` (see ops-access.ts: the metrics token or an admin on the API port).
 * Root routes; `/health` and `/ready` are open (probes).
 */
export function healthRoutes(deps: ApiDeps, guard: RequestHandler): RouteSpec[] {
  const tag = 'health';
  const deep = (req: { query: Record<string, unknown> }) => req.query.deep === '1' || req.query.deep === 'true';
  // A write, not a PING: a Redis that answers but refuses writes (out of memory, a read-only replica,
  // loading) is not ready either (issue 13, item 3).
  const probe = `${deps.config.MAESTRO_REDIS_PREFIX}ready:${deps.config.NODE_ID}`;
  return [
    {
      method: 'get', path: '/health', tag, root: true, open: true,
      summary: 'Liveness (`?deep=1`, with the metrics token or an admin credential: Redis RTT, event loop, memory, disk)',
      ok: [200, HealthSchema], errors: [401, 403],
      use: [(req, res, next) => (deep(req) ? guard(req, res, next) : next())],
      handler: async (req, res) => {
        const out: Record<string, unknown> = {
          status: 'ok',
          timestamp: Date.now(),
          uptime: process.uptime(),
          nodeId: deps.config.NODE_ID,
        };
        if (deep(req)) {
          const t0 = performance.now();
          try {
            await deps.redis.ping();
            out.redis = { ok: true, rttMs: Number((performance.now() - t0).toFixed(3)) };
          } catch {
            out.redis = { ok: false };
          }
          out.eventLoopDelayMs = { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
          const mem = process.memoryUsage();
          out.memory = { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, heapTotalBytes: mem.heapTotal };
          try {
            const s = await statfs(deps.config.SESSION_DIR);
            out.sessionDirFreeBytes = s.bavail * s.bsize;
          } catch {
            out.sessionDirFreeBytes = null;
          }
        }
        res.json(out);
      },
    },
    {
      method: 'get', path: '/ready', tag, root: true, open: true, summary: 'Readiness: Redis takes a write and the queue answers', ok: [200, ReadySchema], errors: [503],
      handler: async (_req, res) => {
        if (deps.draining?.since !== undefined) {
          // stopping (SIGTERM): out of the load balancer's rotation before the listener closes (issue 16)
          res.setHeader('Retry-After', '1');
          res.status(503).json({ error: true, code: 'UNAVAILABLE', message: 'Not ready: shutting down' });
          return;
        }
        try {
          await deps.redis.set(probe, String(Date.now()), 'PX', 10_000);
          for (const check of deps.readyChecks ?? []) await check();
          res.json({ status: 'ready', redis: 'ok' });
        } catch (err) {
          const refusal = /^(OOM|READONLY|LOADING|MISCONF|NOREPLICAS|BUSY)\b/.exec((err as Error)?.message ?? '')?.[1];
          res.setHeader('Retry-After', '1');
          res.status(503).json({ error: true, code: 'UNAVAILABLE', message: refusal ? `Not ready: Redis refuses writes (${refusal})` : 'Not ready: Redis or queue unreachable' });
        }
      },
    },
    {
      method: 'get', path: '/ws-status', tag, root: true, summary: "This replica's WebSocket clients (metrics token or an admin credential)", ok: [200, WsStatusSchema], errors: [401, 403],
      use: [guard],
      handler: async (_req, res) => {
        if (!deps.wsStatus) {
          res.json({ error: 'WebSocket server not initialized yet' });
          return;
        }
        res.json(await deps.wsStatus());
      },
    },
  ];
}
