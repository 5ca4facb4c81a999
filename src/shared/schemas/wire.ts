import { z } from 'zod';
import {
  MODELS,
  ROLES,
  TASK_PRIORITIES,
  TASK_SESSION_STATUSES,
  TASK_STATUSES,
  WORKER_STRATEGIES,
} from './entities.js';

/**
 * Response shapes as zod schemas, for the OpenAPI document (contract 01 entities, 02 responses).
 * The stores render these shapes from Redis; these schemas describe them.
 */
const ms = z.number().int().describe('epoch milliseconds');
const obj = z.record(z.string(), z.unknown());

export const ProjectSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    workingDir: z.string(),
    description: z.string(),
    metadata: obj.optional(),
    createdAt: ms,
    updatedAt: ms,
    version: z.number().int(),
  });

export const TaskSchema = z
  .object({
    id: z.string(),
    projectId: z.string(),
    parentId: z.string().nullable(),
    title: z.string(),
    description: z.string(),
    status: z.enum(TASK_STATUSES),
    sessionStatus: z.enum(TASK_SESSION_STATUSES).optional(),
    priority: z.enum(TASK_PRIORITIES),
    createdAt: ms,
    updatedAt: ms,
    startedAt: ms.nullable(),
    completedAt: ms.nullable(),
    initialPrompt: z.string(),
    sessionIds: z.array(z.string()),
    skillIds: z.array(z.string()),
    agentIds: z.array(z.string()),
    dependencies: z.array(z.string()),
    blockedBy: z.array(z.string()).optional().describe('dependencies not completed yet (contract 08)'),
    dependents: z.array(z.string()).optional().describe('tasks that wait for this one (contract 08)'),
    claimedBy: z
      .object({ sessionId: z.string(), at: z.number().int(), expiresAt: z.number().int() })
      .nullable()
      .optional()
      .describe('the session working on it (contract 08 "Claims")'),
    model: z.enum(MODELS).optional(),
    metadata: obj.optional(),
    version: z.number().int(),
  });

export const SessionEventSchema = z.object({ id: z.string(), timestamp: ms, type: z.string(), data: z.unknown().optional() });
export const TimelineEventSchema = z.object({
  id: z.string(),
  type: z.string(),
  timestamp: ms,
  message: z.string().optional(),
  taskId: z.string().optional(),
  metadata: obj.optional(),
});

export const SessionSchema = z
  .object({
    id: z.string(),
    projectId: z.string(),
    taskIds: z.array(z.string()),
    name: z.string(),
    agentId: z.string().optional(),
    env: z.record(z.string(), z.string()),
    strategy: z.enum(WORKER_STRATEGIES),
    status: z.string(),
    startedAt: ms,
    lastActivity: ms,
    completedAt: ms.nullable(),
    hostname: z.string(),
    platform: z.string(),
    events: z.array(SessionEventSchema),
    timeline: z.array(TimelineEventSchema),
    metadata: obj.optional(),
    archivedAt: ms.optional().describe('set while the session is archived by retention (additive)'),
    eventCount: z.number().int().optional().describe('on /api/v1: the length of events (which holds the last 100)'),
    timelineCount: z.number().int().optional().describe('on /api/v1: the length of timeline (which holds the last 100)'),
    version: z.number().int(),
  });

/** A session as `GET /api/v1/sessions` lists it (a session head): no `events`/`timeline`, their counts instead. */
export const SessionHeadSchema = SessionSchema.omit({ events: true, timeline: true });

export const QueueItemSchema = z
  .object({
    taskId: z.string(),
    status: z.enum(['queued', 'processing', 'completed', 'failed', 'skipped']),
    addedAt: ms,
    startedAt: ms.optional(),
    completedAt: ms.optional(),
    failReason: z.string().optional(),
  });

export const QueueStateSchema = z
  .object({
    sessionId: z.string(),
    strategy: z.literal('queue'),
    items: z.array(QueueItemSchema),
    currentIndex: z.number().int(),
    createdAt: ms,
    updatedAt: ms,
  });

export const QueueStatsSchema = z
  .object({
    total: z.number().int(),
    queued: z.number().int(),
    processing: z.number().int(),
    completed: z.number().int(),
    failed: z.number().int(),
    skipped: z.number().int(),
  });

export const TemplateSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role: z.enum(ROLES),
    content: z.string(),
    isDefault: z.boolean(),
    createdAt: ms,
    updatedAt: ms,
    version: z.number().int(),
  });

export const SkillSummarySchema = z
  .object({ id: z.string(), name: z.string(), description: z.string(), type: z.string(), version: z.string() });

export const SkillDetailSchema = SkillSummarySchema.extend({ instructions: z.string() });

export const ErrorSchema = z
  .object({
    error: z.literal(true),
    statusCode: z.number().int().optional(),
    code: z.string(),
    message: z.string(),
    details: z.unknown().optional(),
  });

/** `POST /tasks/:id/timeline`: the entry appended to a session's timeline about the task. */
export const TaskTimelineAddedSchema = z.object({ success: z.literal(true), taskId: z.string(), sessionId: z.string(), message: z.string(), type: z.string() });

/** `GET /templates/default/:role`: the built-in content of a role. */
export const DefaultTemplateSchema = z.object({ role: z.enum(ROLES), content: z.string() });

export const DeletedSchema = z.object({ success: z.literal(true), id: z.string() });
