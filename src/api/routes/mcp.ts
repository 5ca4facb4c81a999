import type { Request, Response } from 'express';
import { z } from 'zod';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMaestroMcpServer } from '../../mcp/mcp-server.js';
import { body, principal } from '../http.js';
import type { LoopbackHop } from '../mcp-loopback.js';
import type { RouteSpec } from '../route-table.js';

const jsonRpcId = z.union([z.string(), z.number()]);

/** A JSON-RPC 2.0 request (or notification, without `id`) to the MCP endpoint. */
const JsonRpcRequestSchema = z.object({
  jsonrpc: z.literal('2.0'),
  id: jsonRpcId.optional(),
  method: z.string().describe('initialize, notifications/initialized, tools/list, tools/call, ping'),
  params: z.record(z.string(), z.unknown()).optional(),
});

/** The JSON-RPC error object. */
const JsonRpcErrorSchema = z.object({ code: z.number().int(), message: z.string(), data: z.unknown().optional() });

/**
 * A JSON-RPC 2.0 answer (contract 08 "MCP"): `result` (whose shape is the MCP method's: the server's
 * capabilities for `initialize`, `{tools}` for `tools/list`, `{content, isError?}` for `tools/call`)
 * or `error`. A batch is answered with an array of these.
 */
export const JsonRpcResponseSchema = z.object({
  jsonrpc: z.literal('2.0'),
  id: jsonRpcId.nullable(),
  result: z.record(z.string(), z.unknown()).optional().describe("the method's result (MCP schema of the method)"),
  error: JsonRpcErrorSchema.optional(),
});

const NotAllowedSchema = z.object({ jsonrpc: z.literal('2.0'), error: JsonRpcErrorSchema, id: z.null() });

/**
 * `POST /api/v1/mcp` (and `/api/mcp`): Maestro's MCP server over the Streamable HTTP transport
 * (contract 08, "MCP"), mounted among the resource routes, so behind the whole `/api` chain: JSON
 * body, per-IP limit, credential (401 `UNAUTHORIZED` without one under MAESTRO_AUTH=required), per-
 * principal limit. The transport is **stateless** (the SDK's stateless mode: no `Mcp-Session-Id`, a
 * new server and transport per request, closed with it), so any replica answers any request and a
 * load balancer needs no sticky sessions; nothing of a client lives in a replica between requests.
 * Answers are plain JSON (`enableJsonResponse`), not an SSE stream: the tools send no notifications.
 *
 * The tools act as the caller (mcp-loopback.ts: this replica's own HTTP API, with the request's
 * credential); the session and project a session key is scoped to are their default `sessionId` and
 * `projectId`. `GET` and `DELETE` (a server-initiated stream, ending a session) → 405 with a JSON-RPC
 * error, as the SDK's stateless example answers. Its tools are listed by `tools/list` (with their
 * JSON Schemas), not in the OpenAPI document.
 */
export function mcpRoutes(hop: Pick<LoopbackHop, 'callerFor'>): RouteSpec[] {
  const tag = 'mcp';
  const notAllowed = (_req: Request, res: Response) => {
    res.status(405).setHeader('Allow', 'POST');
    res.json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this MCP endpoint is stateless (POST only)' }, id: null });
  };
  return [
    {
      method: 'post', path: '/mcp', tag,
      summary: "MCP over Streamable HTTP (stateless, JSON answers): Maestro's tools (tasks, dependencies, ready work, claims, reports, the session's queue), acting with the caller's credential; a session key's session and project are the defaults",
      body: JsonRpcRequestSchema, ok: [200, JsonRpcResponseSchema], errors: [400, 406, 415],
      handler: async (req, res) => {
        const p = principal(req);
        const server = createMaestroMcpServer({ api: hop.callerFor(req), defaults: { sessionId: p.sessionId, projectId: p.projectId } });
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
        res.once('close', () => {
          void transport.close();
          void server.close();
        });
        await server.connect(transport);
        await transport.handleRequest(req, res, body(req));
      },
    },
    { method: 'get', path: '/mcp', tag, summary: 'Not allowed: the MCP endpoint is stateless (no server-initiated stream)', ok: [405, NotAllowedSchema], handler: notAllowed },
    { method: 'delete', path: '/mcp', tag, summary: 'Not allowed: the MCP endpoint is stateless (no session to end)', ok: [405, NotAllowedSchema], handler: notAllowed },
  ];
}
