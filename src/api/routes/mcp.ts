import { Router, type Request, type Response } from 'express';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMaestroMcpServer } from '../../mcp/mcp-server.js';
import { body, principal } from '../http.js';
import type { LoopbackHop } from '../mcp-loopback.js';

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
 * error, as the SDK's stateless example answers.
 */
export function mcpRoutes(hop: LoopbackHop): Router {
  const r = Router();
  r.post('/mcp', async (req, res) => {
    const p = principal(req);
    const server = createMaestroMcpServer({ api: hop.callerFor(req), defaults: { sessionId: p.sessionId, projectId: p.projectId } });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.once('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body(req));
  });
  const notAllowed = (_req: Request, res: Response) => {
    res.status(405).setHeader('Allow', 'POST');
    res.json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this MCP endpoint is stateless (POST only)' }, id: null });
  };
  r.get('/mcp', notAllowed);
  r.delete('/mcp', notAllowed);
  return r;
}
