import { z } from 'zod';
import { MODELS, TASK_PRIORITIES, TASK_STATUSES } from '../shared/schemas/entities.js';
import {
  ProjectSchema,
  QueueItemSchema,
  QueueStatsSchema,
  SessionEventSchema,
  SessionSchema,
  TaskSchema,
  TimelineEventSchema,
} from '../shared/schemas/wire.js';

/**
 * The zod schemas of the MCP tools' inputs and typed results (contract 08, "MCP"). Results are the
 * API's own wire shapes (shared/schemas/wire.ts, contract 01) made *loose*: fields the API adds later
 * (contract 08's `blockedBy`, `dependents`, `claimedBy`; `/api/v1`'s `eventCount`) pass through instead
 * of failing the SDK's output check, which runs on the server and again in the client (JSON Schema
 * made from these: a plain zod object would say `additionalProperties: false`).
 */

/** Epoch milliseconds. */
const ms = z.number().int().describe('epoch milliseconds');

/** An entity id (`task_…`, `proj_…`, `sess_…` or a client's own session id). */
export const idInput = (what: string) => z.string().min(1).max(128).describe(what);

/** `limit` of a list tool: 1–1000, the API's default (100) when absent. */
export const limitInput = z.number().int().min(1).max(1000).optional().describe('page size (1–1000; default 100)');
/** `cursor` of a list tool: the `nextCursor` of the page before. */
export const cursorInput = z.string().max(2048).optional().describe('the nextCursor of the previous page');
/** `leaseMs` of the claim tools: how long a claim holds without renewal. */
export const leaseInput = z.number().int().min(1).optional().describe('claim lease in ms (server default 10 minutes)');
/** The session a tool acts for; the session in context when absent. */
export const sessionInput = idInput('session id (default: the session in context, MAESTRO_SESSION_ID or the session key)').optional();
/** The project a tool acts on; the project in context when absent. */
export const projectInput = idInput('project id (default: the project in context, MAESTRO_PROJECT_ID or the key\'s project)').optional();

/** Fields a task takes on create and update (contract 02 "Tasks", 08 "Dependencies"). */
export const taskFields = {
  description: z.string().optional().describe('what to do (markdown)'),
  priority: z.enum(TASK_PRIORITIES).optional(),
  initialPrompt: z.string().optional().describe('the prompt an agent for this task starts with'),
  skillIds: z.array(z.string()).optional(),
  model: z.enum(MODELS).optional(),
  dependencies: z.array(z.string()).optional().describe('ids of tasks (same project) this task waits for'),
};

/** `claimedBy` of a claimed task (contract 08 "Claims"). */
export const ClaimSchema = z
  .object({ sessionId: z.string(), at: ms, expiresAt: ms.describe('when the lease lapses unless renewed (epoch ms)') })
  .loose();

/** A task as the API renders it, with contract 08's derived fields. */
export const McpTaskSchema = TaskSchema.extend({
  blockedBy: z.array(z.string()).optional().describe('ids of unfinished dependencies'),
  dependents: z.array(z.string()).optional().describe('ids of tasks that wait for this one'),
  claimedBy: ClaimSchema.nullable().optional(),
}).loose();

/** A project. */
export const McpProjectSchema = ProjectSchema.loose();

/** A session as `/api/v1/sessions/:id` renders it: its last 100 events and timeline entries, and the counts. */
export const McpSessionSchema = SessionSchema.extend({
  events: z.array(SessionEventSchema.loose()),
  timeline: z.array(TimelineEventSchema.loose()),
  eventCount: z.number().int().optional(),
  timelineCount: z.number().int().optional(),
}).loose();

const QueueItem = QueueItemSchema.loose();

/** A page of tasks: the API's list with its next cursor and total. */
export const TaskPageSchema = z.object({
  tasks: z.array(McpTaskSchema),
  nextCursor: z.string().optional().describe('pass as cursor for the next page; absent on the last'),
  total: z.number().int().optional(),
});

/** `claim_next_task`: the claimed task, or none when nothing is ready (the API's 204). */
export const ClaimNextSchema = z.object({ claimed: z.boolean(), task: McpTaskSchema.nullable() });

/** What a report did (the `--json` of `maestro report`, plus the tasks `report_complete` completed). */
export const ReportSchema = z.object({
  success: z.literal(true),
  kind: z.string(),
  sessionId: z.string(),
  taskIds: z.array(z.string()),
  sessionStatus: z.string().optional().describe("the tasks' sessionStatus now"),
  sessionCompleted: z.boolean().describe('true when the report (complete, without tasks) ended the session'),
  tasksCompleted: z.array(z.string()).optional().describe('tasks whose status was set to completed'),
});

/** `GET …/queue/items`. */
export const QueueListSchema = z.object({ items: z.array(QueueItem), stats: QueueStatsSchema.loose() }).loose();
/** `POST …/queue/start`. */
export const QueueStartSchema = z.object({ success: z.boolean(), item: QueueItem.nullable(), message: z.string().optional(), empty: z.boolean().optional() }).loose();
/** `POST …/queue/complete`. */
export const QueueCompleteSchema = z.object({ success: z.boolean(), completedItem: QueueItem, nextItem: QueueItem.nullable(), hasMore: z.boolean(), message: z.string() }).loose();
/** `POST …/queue/skip`. */
export const QueueSkipSchema = z.object({ success: z.boolean(), skippedItem: QueueItem, nextItem: QueueItem.nullable(), hasMore: z.boolean(), message: z.string() }).loose();

/** Task statuses a tool may set. */
export const taskStatusInput = z.enum(TASK_STATUSES);
