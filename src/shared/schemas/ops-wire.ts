import { z } from 'zod';

/**
 * Response shapes of the health and operations routes at the root (contract 02 "Health";
 * routes/health.ts, ws/ws-gateway.ts `status`), for the OpenAPI document.
 */

/** `GET /health`; the optional fields come with `?deep=1` (guarded like /metrics). */
export const HealthSchema = z.object({
  status: z.literal('ok'),
  timestamp: z.number().int().describe('epoch milliseconds'),
  uptime: z.number().describe('seconds since this process started'),
  nodeId: z.string(),
  redis: z.object({ ok: z.boolean(), rttMs: z.number().optional() }).optional().describe('deep: a PING round trip'),
  eventLoopDelayMs: z.object({ p50: z.number(), p99: z.number(), max: z.number() }).optional().describe('deep'),
  memory: z.object({ rssBytes: z.number().int(), heapUsedBytes: z.number().int(), heapTotalBytes: z.number().int() }).optional().describe('deep'),
  sessionDirFreeBytes: z.number().nullable().optional().describe('deep: free bytes of SESSION_DIR (null when unreadable)'),
});

/** `GET /ready` with 200 (503 is the error envelope). */
export const ReadySchema = z.object({ status: z.literal('ready'), redis: z.literal('ok') });

const replicaCount = z.object({ nodeId: z.string(), connectedClients: z.number().int() });

/** `GET /ws-status`: this replica's WebSocket clients, and the cluster's count when the registry answers. */
export const WsStatusSchema = z.union([
  z.object({
    connectedClients: z.number().int(),
    clients: z.array(z.object({ readyState: z.number().int(), readyStateText: z.string() })),
    nodeId: z.string(),
    cluster: z.object({ replicas: z.array(replicaCount), connectedClients: z.number().int() }).optional(),
  }),
  z.object({ error: z.literal('WebSocket server not initialized yet') }),
]);
