import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { bodyOf, defineTool, projectOf, query, seg, sessionOf, WRITES, type ToolContext } from './tool-kit.js';
import { ClaimNextSchema, idInput, leaseInput, McpTaskSchema, projectInput, sessionInput } from './tool-schemas.js';
import { taskAfter } from './task-tools.js';

/**
 * The claim tools (contract 08, "Claims"): claim / renew / release a task for a session, and claim the
 * first ready task of a project. The session is the one in context unless given. A task held by
 * another live claim, or blocked by its dependencies, is the API's 409 `CONFLICT`, which comes back
 * as a tool error with that code and message.
 */

/** Names of the tools this file registers. */
export const CLAIM_TOOLS = ['claim_task', 'renew_claim', 'release_claim', 'claim_next_task'] as const;

/** Registers the claim tools on `server`. */
export function registerClaimTools(server: McpServer, ctx: ToolContext): void {
  defineTool(
    server,
    {
      name: 'claim_task',
      title: 'Claim a task',
      description: "Marks a task as worked on by a session (POST /api/v1/tasks/:id/claim): status in_progress, claimedBy {sessionId, at, expiresAt}, the session linked to it. Held by another session, or blocked by dependencies → CONFLICT. Renew before expiresAt (renew_claim); completing the task releases it.",
      input: z.object({ taskId: idInput('task id'), sessionId: sessionInput, leaseMs: leaseInput }),
      output: McpTaskSchema,
      annotations: WRITES,
    },
    async (a) => bodyOf(await ctx.api.request('POST', `/v1/tasks/${seg(a.taskId)}/claim`, { sessionId: sessionOf(ctx, a.sessionId), ...(a.leaseMs ? { leaseMs: a.leaseMs } : {}) })) as z.input<typeof McpTaskSchema>,
  );

  defineTool(
    server,
    {
      name: 'renew_claim',
      title: 'Renew a claim',
      description: "Extends the session's claim on a task by a new lease (POST /api/v1/tasks/:id/claim/renew).",
      input: z.object({ taskId: idInput('task id'), sessionId: sessionInput, leaseMs: leaseInput }),
      output: McpTaskSchema,
      annotations: { ...WRITES, idempotentHint: true },
    },
    async (a) => bodyOf(await ctx.api.request('POST', `/v1/tasks/${seg(a.taskId)}/claim/renew`, { sessionId: sessionOf(ctx, a.sessionId), ...(a.leaseMs ? { leaseMs: a.leaseMs } : {}) })) as z.input<typeof McpTaskSchema>,
  );

  defineTool(
    server,
    {
      name: 'release_claim',
      title: 'Release a claim',
      description: "Gives a claimed task back (DELETE /api/v1/tasks/:id/claim[?sessionId=]): status back to todo unless completed. The session in context is sent as the holder when there is one.",
      input: z.object({ taskId: idInput('task id'), sessionId: sessionInput }),
      output: McpTaskSchema,
      annotations: { ...WRITES, idempotentHint: true },
    },
    async (a) => {
      const sessionId = a.sessionId || ctx.defaults.sessionId;
      return (await taskAfter(ctx, await ctx.api.request('DELETE', `/v1/tasks/${seg(a.taskId)}/claim${query({ sessionId })}`), a.taskId)) as z.input<typeof McpTaskSchema>;
    },
  );

  defineTool(
    server,
    {
      name: 'claim_next_task',
      title: 'Claim the next ready task',
      description: 'Claims the first ready task of a project for a session, atomically (POST /api/v1/tasks/claim-next): {claimed: true, task} or {claimed: false, task: null} when nothing is ready.',
      input: z.object({ projectId: projectInput, sessionId: sessionInput, leaseMs: leaseInput }),
      output: ClaimNextSchema,
      annotations: WRITES,
    },
    async (a) => {
      const reply = await ctx.api.request('POST', '/v1/tasks/claim-next', {
        projectId: projectOf(ctx, a.projectId),
        sessionId: sessionOf(ctx, a.sessionId),
        ...(a.leaseMs ? { leaseMs: a.leaseMs } : {}),
      });
      const task = bodyOf(reply);
      if (reply.status === 204 || typeof task.id !== 'string') return { claimed: false, task: null };
      return { claimed: true, task: task as z.input<typeof McpTaskSchema> };
    },
  );
}
