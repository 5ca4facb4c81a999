import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { bodyOf, defineTool, projectOf, READ_ONLY, seg, sessionOf, WRITES, type ToolContext } from './tool-kit.js';
import { McpProjectSchema, McpSessionSchema, projectInput, QueueCompleteSchema, QueueListSchema, QueueSkipSchema, QueueStartSchema, sessionInput } from './tool-schemas.js';

/**
 * The session's own tools (contract 08, "MCP": "the session's queue (start / complete / skip / list),
 * session info, and project info"): the queue routes of contract 02/05 on the session in context, and
 * the session and project as `/api/v1` renders them. A session that does not use the queue strategy
 * is the API's 400 "Session … does not use queue strategy", as a tool error.
 */

/** Names of the tools this file registers. */
export const SESSION_TOOLS = ['queue_list', 'queue_start', 'queue_complete', 'queue_skip', 'session_info', 'project_info'] as const;

/** Registers the queue, session and project tools on `server`. */
export function registerSessionTools(server: McpServer, ctx: ToolContext): void {
  const queue = (sessionId: string | undefined, op: string) => `/v1/sessions/${seg(sessionOf(ctx, sessionId))}/queue${op}`;
  const input = z.object({ sessionId: sessionInput });

  defineTool(
    server,
    { name: 'queue_list', title: "List the session's queue", description: "Every item of the session's task queue with its status, and the counts (GET …/queue/items).", input, output: QueueListSchema, annotations: READ_ONLY },
    async (a) => bodyOf(await ctx.api.request('GET', queue(a.sessionId, '/items'))) as z.input<typeof QueueListSchema>,
  );
  defineTool(
    server,
    {
      name: 'queue_start',
      title: 'Start the next queued task',
      description: 'Starts processing the next queued item (POST …/queue/start): {item}, or {item: null, empty: true} when the queue is empty. One item at a time: complete or skip it first.',
      input,
      output: QueueStartSchema,
      annotations: WRITES,
    },
    async (a) => bodyOf(await ctx.api.request('POST', queue(a.sessionId, '/start'), {})) as z.input<typeof QueueStartSchema>,
  );
  defineTool(
    server,
    { name: 'queue_complete', title: 'Complete the current queued task', description: 'Completes the item being processed (POST …/queue/complete): {completedItem, nextItem, hasMore}.', input, output: QueueCompleteSchema, annotations: WRITES },
    async (a) => bodyOf(await ctx.api.request('POST', queue(a.sessionId, '/complete'), {})) as z.input<typeof QueueCompleteSchema>,
  );
  defineTool(
    server,
    { name: 'queue_skip', title: 'Skip a queued task', description: 'Skips the current item, or the next queued one (POST …/queue/skip): {skippedItem, nextItem, hasMore}.', input, output: QueueSkipSchema, annotations: WRITES },
    async (a) => bodyOf(await ctx.api.request('POST', queue(a.sessionId, '/skip'), {})) as z.input<typeof QueueSkipSchema>,
  );

  defineTool(
    server,
    {
      name: 'session_info',
      title: 'Session info',
      description: 'The session (GET /api/v1/sessions/:id): status, strategy, its tasks, its last 100 timeline entries and events, and their counts.',
      input,
      output: McpSessionSchema,
      annotations: READ_ONLY,
    },
    async (a) => bodyOf(await ctx.api.request('GET', `/v1/sessions/${seg(sessionOf(ctx, a.sessionId))}`)) as z.input<typeof McpSessionSchema>,
  );
  defineTool(
    server,
    { name: 'project_info', title: 'Project info', description: 'The project (GET /api/v1/projects/:id): name, working directory, description.', input: z.object({ projectId: projectInput }), output: McpProjectSchema, annotations: READ_ONLY },
    async (a) => bodyOf(await ctx.api.request('GET', `/v1/projects/${seg(projectOf(ctx, a.projectId))}`)) as z.input<typeof McpProjectSchema>,
  );
}
