import { PACKAGE_VERSION } from '../shared/package-version.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { CLAIM_TOOLS, registerClaimTools } from './claim-tools.js';
import { REPORT_TOOLS, registerReportTools } from './report-tools.js';
import { registerSessionTools, SESSION_TOOLS } from './session-tools.js';
import { registerTaskTools, TASK_TOOLS } from './task-tools.js';
import type { ToolContext } from './tool-kit.js';

/**
 * Maestro's MCP server (contract 08, "MCP"), the same for both transports: `maestro mcp` over stdio
 * (src/cli/commands/mcp-commands.ts) and the Streamable HTTP transport of every API replica at
 * `/api/v1/mcp` (src/api/routes/mcp.ts). Tools only, each a thin call of the HTTP API through
 * `ctx.api`; no resources, prompts or server-initiated messages, so a server needs no state beyond
 * its context and one can be made per HTTP request.
 */

/** Every tool, by name, in the order they are listed. */
export const MCP_TOOL_NAMES: readonly string[] = [...TASK_TOOLS, ...CLAIM_TOOLS, ...REPORT_TOOLS, ...SESSION_TOOLS];


/** What the server tells a client about itself on `initialize` (an agent's model reads it). */
function instructions(ctx: ToolContext): string {
  const parts = [
    'Maestro coordinates AI coding agents: projects hold tasks; you are (or act for) a session working on them.',
    'Typical loop: ready_tasks or claim_next_task → claim_task → work, report_progress → report_complete with taskIds (completes the task, releases the claim). renew_claim before a long claim expires; report_blocked when stuck.',
    'Errors are tool errors "<CODE>: <message>" with the API\'s code (NOT_FOUND, CONFLICT, VALIDATION_ERROR, …).',
  ];
  if (ctx.defaults.sessionId) parts.push(`Session in context: ${ctx.defaults.sessionId} (the default sessionId).`);
  if (ctx.defaults.projectId) parts.push(`Project in context: ${ctx.defaults.projectId} (the default projectId).`);
  return parts.join('\n');
}

/** A new MCP server with every Maestro tool over `ctx` (connect it to one transport). */
export function createMaestroMcpServer(ctx: ToolContext): McpServer {
  const server = new McpServer({ name: 'maestro', version: PACKAGE_VERSION }, { capabilities: { tools: {} }, instructions: instructions(ctx) });
  registerTaskTools(server, ctx);
  registerClaimTools(server, ctx);
  registerReportTools(server, ctx);
  registerSessionTools(server, ctx);
  return server;
}
