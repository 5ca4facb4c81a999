import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { bodyOf, defineTool, pageOf, projectOf, query, READ_ONLY, seg, WRITES, type ToolContext } from './tool-kit.js';
import { cursorInput, idInput, limitInput, McpTaskSchema, projectInput, TaskPageSchema, taskFields, taskStatusInput } from './tool-schemas.js';
import type { ApiReply } from './api-caller.js';

/**
 * The task tools (contract 08, "MCP": list / get / create / update tasks and subtasks, add and remove
 * dependencies, ready tasks), each one call of `/api/v1` (create_subtask two: it reads the parent's
 * project first). Results are the API's task renderings (with `blockedBy`, `dependents`, `claimedBy`
 * once the API has them); lists are `{tasks, nextCursor?, total?}` pages of the API's pages.
 */

/** Names of the tools this file registers. */
export const TASK_TOOLS = ['list_tasks', 'get_task', 'create_task', 'update_task', 'list_subtasks', 'create_subtask', 'add_dependency', 'remove_dependency', 'ready_tasks'] as const;

/**
 * The task a write answered. The dependency and release routes are the only ones whose body contract
 * 08 leaves open: when it is not a task rendering, the task as it now is (`GET /v1/tasks/:id`).
 */
export async function taskAfter(ctx: ToolContext, reply: ApiReply, taskId: string): Promise<Record<string, unknown>> {
  const b = bodyOf(reply);
  if (typeof b.id === 'string' && typeof b.projectId === 'string' && typeof b.title === 'string') return b;
  return bodyOf(await ctx.api.request('GET', `/v1/tasks/${seg(taskId)}`));
}

/** Registers the task tools on `server`. */
export function registerTaskTools(server: McpServer, ctx: ToolContext): void {
  defineTool(
    server,
    {
      name: 'list_tasks',
      title: 'List tasks',
      description: "A page of a project's tasks in creation order (GET /api/v1/tasks), optionally by status or parent (parentId null: root tasks only). Default project: the one in context; pass nextCursor as cursor for the next page.",
      input: z.object({
        projectId: projectInput,
        status: taskStatusInput.optional(),
        parentId: z.string().max(128).nullable().optional().describe('only children of this task; null for root tasks'),
        limit: limitInput,
        cursor: cursorInput,
      }),
      output: TaskPageSchema,
      annotations: READ_ONLY,
    },
    async (a) => {
      const projectId = a.projectId || ctx.defaults.projectId;
      const parentId = a.parentId === null ? 'null' : a.parentId;
      return pageOf(await ctx.api.request('GET', `/v1/tasks${query({ projectId, status: a.status, parentId, limit: a.limit, cursor: a.cursor })}`), 'tasks') as z.input<typeof TaskPageSchema>;
    },
  );

  defineTool(
    server,
    {
      name: 'get_task',
      title: 'Get a task',
      description: 'One task (GET /api/v1/tasks/:id): status, priority, description, dependencies, blockedBy, dependents, claimedBy.',
      input: z.object({ taskId: idInput('task id') }),
      output: McpTaskSchema,
      annotations: READ_ONLY,
    },
    async (a) => bodyOf(await ctx.api.request('GET', `/v1/tasks/${seg(a.taskId)}`)) as z.input<typeof McpTaskSchema>,
  );

  defineTool(
    server,
    {
      name: 'create_task',
      title: 'Create a task',
      description: 'Creates a task (POST /api/v1/tasks) in the project in context unless projectId is given; parentId makes it a subtask; dependencies are ids of tasks it waits for.',
      input: z.object({
        projectId: projectInput,
        title: z.string().min(1).max(500),
        parentId: idInput('parent task id').optional(),
        ...taskFields,
      }),
      output: McpTaskSchema,
      annotations: WRITES,
    },
    async ({ projectId, ...rest }) => bodyOf(await ctx.api.request('POST', '/v1/tasks', { projectId: projectOf(ctx, projectId), ...rest })) as z.input<typeof McpTaskSchema>,
  );

  defineTool(
    server,
    {
      name: 'update_task',
      title: 'Update a task',
      description: "Changes a task's fields (PATCH /api/v1/tasks/:id): title, description, status (completing it releases its claim and unblocks its dependents), priority, dependencies (replaced), parentId. To report your own progress use report_progress / report_blocked / report_complete instead.",
      input: z.object({
        taskId: idInput('task id'),
        title: z.string().min(1).max(500).optional(),
        status: taskStatusInput.optional(),
        parentId: z.string().max(128).nullable().optional().describe('new parent task (null: make it a root task)'),
        ...taskFields,
      }),
      output: McpTaskSchema,
      annotations: WRITES,
    },
    async ({ taskId, ...fields }) => bodyOf(await ctx.api.request('PATCH', `/v1/tasks/${seg(taskId)}`, fields)) as z.input<typeof McpTaskSchema>,
  );

  defineTool(
    server,
    {
      name: 'list_subtasks',
      title: 'List subtasks',
      description: 'A page of the direct subtasks (children) of a task (GET /api/v1/tasks/:id/children).',
      input: z.object({ taskId: idInput('parent task id'), limit: limitInput, cursor: cursorInput }),
      output: TaskPageSchema,
      annotations: READ_ONLY,
    },
    async (a) => pageOf(await ctx.api.request('GET', `/v1/tasks/${seg(a.taskId)}/children${query({ limit: a.limit, cursor: a.cursor })}`), 'tasks') as z.input<typeof TaskPageSchema>,
  );

  defineTool(
    server,
    {
      name: 'create_subtask',
      title: 'Create a subtask',
      description: "Creates a subtask of parentId in the parent's project (GET the parent, then POST /api/v1/tasks with parentId).",
      input: z.object({ parentId: idInput('parent task id'), title: z.string().min(1).max(500), ...taskFields }),
      output: McpTaskSchema,
      annotations: WRITES,
    },
    async ({ parentId, ...rest }) => {
      const parent = bodyOf(await ctx.api.request('GET', `/v1/tasks/${seg(parentId)}`));
      return bodyOf(await ctx.api.request('POST', '/v1/tasks', { projectId: parent.projectId, parentId, ...rest })) as z.input<typeof McpTaskSchema>;
    },
  );

  defineTool(
    server,
    {
      name: 'add_dependency',
      title: 'Add a dependency',
      description: 'Makes taskId wait for dependsOn (POST /api/v1/tasks/:id/dependencies {taskId}); both in one project. A cycle or an unknown task → VALIDATION_ERROR. Answers the task.',
      input: z.object({ taskId: idInput('the task that waits'), dependsOn: idInput('the task it waits for') }),
      output: McpTaskSchema,
      annotations: WRITES,
    },
    async (a) => (await taskAfter(ctx, await ctx.api.request('POST', `/v1/tasks/${seg(a.taskId)}/dependencies`, { taskId: a.dependsOn }), a.taskId)) as z.input<typeof McpTaskSchema>,
  );

  defineTool(
    server,
    {
      name: 'remove_dependency',
      title: 'Remove a dependency',
      description: 'taskId no longer waits for dependsOn (DELETE /api/v1/tasks/:id/dependencies/:taskId). Answers the task.',
      input: z.object({ taskId: idInput('the task that waits'), dependsOn: idInput('the task it no longer waits for') }),
      output: McpTaskSchema,
      annotations: { ...WRITES, idempotentHint: true },
    },
    async (a) => (await taskAfter(ctx, await ctx.api.request('DELETE', `/v1/tasks/${seg(a.taskId)}/dependencies/${seg(a.dependsOn)}`), a.taskId)) as z.input<typeof McpTaskSchema>,
  );

  defineTool(
    server,
    {
      name: 'ready_tasks',
      title: 'Ready tasks',
      description: 'A page of the tasks of a project that can be started now: todo, not blocked by dependencies, not claimed; high priority first, then oldest (GET /api/v1/tasks/ready). Claim one with claim_task, or let claim_next_task pick.',
      input: z.object({ projectId: projectInput, limit: limitInput, cursor: cursorInput }),
      output: TaskPageSchema,
      annotations: READ_ONLY,
    },
    async (a) => pageOf(await ctx.api.request('GET', `/v1/tasks/ready${query({ projectId: projectOf(ctx, a.projectId), limit: a.limit, cursor: a.cursor })}`), 'tasks') as z.input<typeof TaskPageSchema>,
  );
}
