import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { REPORTS, reportToSession, type ReportKind } from '../shared/agent-report.js';
import { defineTool, seg, sessionOf, WRITES, type ToolContext } from './tool-kit.js';
import { idInput, ReportSchema, sessionInput } from './tool-schemas.js';

/**
 * The report tools (contract 08, "MCP": "report progress / blocked / complete (timeline + status as
 * `maestro report` does)"): the same steps as the CLI's `maestro report <kind>`
 * (shared/agent-report.ts `reportToSession`), on `/api/v1`. With taskIds, each task's
 * `sessionStatus` (`working` / `blocked` / `completed`) and a timeline entry about it; without, one
 * timeline entry for the session, and `report_complete` then ends the session, as the CLI does.
 * `report_complete` with taskIds also sets each task's `status` to `completed` (unless
 * `completeTasks: false`): that is what releases the task's claim and unblocks its dependents
 * (contract 08 "Claims"); the CLI leaves that to `maestro task complete`.
 */

/** Names of the tools this file registers. */
export const REPORT_TOOLS = ['report_progress', 'report_blocked', 'report_complete'] as const;

const taskIdsInput = z.array(idInput('task id')).max(1000).optional().describe('the tasks this report is about (omit for a report about the session as a whole)');

/** Registers the report tools on `server`. */
export function registerReportTools(server: McpServer, ctx: ToolContext): void {
  const report = async (kind: ReportKind, a: { message: string; taskIds?: string[]; sessionId?: string }, completeTasks = false) => {
    const sessionId = sessionOf(ctx, a.sessionId);
    const taskIds = a.taskIds ?? [];
    const r = await reportToSession(ctx.api, sessionId, kind, a.message, taskIds, '/v1');
    const completed: string[] = [];
    if (completeTasks) {
      for (const t of taskIds) {
        await ctx.api.request('PATCH', `/v1/tasks/${seg(t)}`, { status: 'completed' });
        completed.push(t);
      }
    }
    return {
      success: true as const,
      kind,
      sessionId,
      taskIds,
      ...(taskIds.length ? { sessionStatus: REPORTS[kind].sessionStatus } : {}),
      sessionCompleted: r.sessionCompleted,
      ...(completeTasks ? { tasksCompleted: completed } : {}),
    };
  };
  const message = (what: string) => z.string().min(1).max(100 * 1024).describe(what);

  defineTool(
    server,
    {
      name: 'report_progress',
      title: 'Report progress',
      description: "Reports progress (maestro report progress): each given task's sessionStatus becomes working, and the message goes on the session's timeline (type progress).",
      input: z.object({ message: message('what you did or are doing'), taskIds: taskIdsInput, sessionId: sessionInput }),
      output: ReportSchema,
      annotations: WRITES,
    },
    async (a) => report('progress', a),
  );

  defineTool(
    server,
    {
      name: 'report_blocked',
      title: 'Report blocked',
      description: "Reports that you cannot go on (maestro report blocked): each given task's sessionStatus becomes blocked, and the reason goes on the session's timeline (type task_blocked).",
      input: z.object({ message: message('what blocks you'), taskIds: taskIdsInput, sessionId: sessionInput }),
      output: ReportSchema,
      annotations: WRITES,
    },
    async (a) => report('blocked', a),
  );

  defineTool(
    server,
    {
      name: 'report_complete',
      title: 'Report complete',
      description:
        "Reports work done (maestro report complete). With taskIds: each task's sessionStatus becomes completed, a task_completed timeline entry is added, and (completeTasks, default true) its status becomes completed, which releases its claim and unblocks the tasks that wait for it. WITHOUT taskIds it reports for the whole session and ENDS the session (status completed).",
      input: z.object({
        message: message('a summary of what was done'),
        taskIds: taskIdsInput,
        sessionId: sessionInput,
        completeTasks: z.boolean().optional().describe('also set the tasks\' status to completed (default true)'),
      }),
      output: ReportSchema,
      annotations: WRITES,
    },
    async (a) => report('complete', a, a.completeTasks ?? true),
  );
}
