import { z } from 'zod';
import {
  MODELS,
  ROLES,
  SESSION_STATUSES,
  TASK_PRIORITIES,
  TASK_SESSION_STATUSES,
  TASK_STATUSES,
  WORKER_STRATEGIES,
} from './entities.js';

/** Size limits applied to every request (contract 00 "Input"; configurable, see config.ts). */
export interface Limits {
  /** Max characters of a title or name. */
  title: number;
  /** Max bytes (UTF-8) of a description, prompt, message or template content. */
  text: number;
  /** Max characters of an id. */
  id: number;
  /** Max entries of an array of ids. */
  array: number;
  /** Max bytes of a `metadata`/`data`/`context` object as JSON. */
  metadata: number;
}

/** The request limits when config sets none: characters for title/text/id, entries for arrays, bytes for metadata. */
export const DEFAULT_LIMITS: Limits = { title: 500, text: 100 * 1024, id: 128, array: 1000, metadata: 64 * 1024 };

/** Timeline and session-event `type`: any lowercase word (contract 00 "Input"). */
export const EVENT_TYPE_RE = /^[a-z][a-z0-9_:.-]{0,63}$/;

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/**
 * Ids a client may choose (a session's `id`, contract 01: "any client string"): letters, digits and
 * `. _ - @ +`, starting with a letter or digit. Never the key separator `:`, braces (hash tags),
 * slashes, spaces or non-ASCII, so no id can name another key (security issue 11, item 14).
 */
export const CLIENT_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._@+-]*$/;

/**
 * Builds every request schema with the given limits. One zod schema per wire shape: the route
 * validates with it, the type comes from it, the OpenAPI document is generated from it. Object
 * schemas strip unknown keys (never stored, never rejected: contract 02 D59, 00 "Input"). Keys are
 * declared in the contract's check order so the first issue is the contract's first error.
 */
export function requestSchemas(l: Limits = DEFAULT_LIMITS) {
  const id = (msg = 'must be a string') =>
    z.string({ error: msg }).max(l.id, { error: `must be at most ${l.id} characters` });
  const text = (what: string) =>
    z
      .string({ error: `${what} must be a string` })
      .refine((s) => bytes(s) <= l.text, { error: `${what} must be at most ${l.text} bytes` });
  const title = (what: string) => z.string().max(l.title, { error: `${what} must be at most ${l.title} characters` });
  const jsonObject = (what: string) =>
    z
      .record(z.string(), z.unknown(), { error: `${what} must be an object` })
      .refine((o) => bytes(JSON.stringify(o)) <= l.metadata, { error: `${what} must be at most ${l.metadata} bytes as JSON` });
  const idArray = (what: string) =>
    z
      .array(id(`${what} entries must be strings`), { error: `${what} must be an array of strings` })
      .max(l.array, { error: `${what} must have at most ${l.array} entries` });
  const eventType = z
    .string({ error: 'type must be a string' })
    .regex(EVENT_TYPE_RE, { error: 'type must match ^[a-z][a-z0-9_:.-]{0,63}$' });
  const requiredString = (msg: string) =>
    z.string({ error: msg }).refine((s) => s.trim().length > 0, { error: msg });

  const projectCreate = z.object({
    name: requiredString('Project name is required').pipe(title('Project name')),
    workingDir: text('workingDir').optional(),
    description: text('description').optional(),
    metadata: jsonObject('metadata').optional(),
  });

  const projectUpdate = z.object({
    name: z
      .string({ error: 'Project name cannot be empty' })
      .refine((s) => s.trim().length > 0, { error: 'Project name cannot be empty' })
      .pipe(title('Project name'))
      .optional(),
    workingDir: text('workingDir').optional(),
    description: text('description').optional(),
    metadata: jsonObject('metadata').optional(),
  });

  const taskCreate = z.object({
    projectId: requiredString('Project ID is required').pipe(id()),
    title: requiredString('Task title is required').pipe(title('Task title')),
    parentId: id('parentId must be a string').nullable().optional(),
    description: text('description').optional(),
    priority: z.enum(TASK_PRIORITIES, { error: `priority must be one of ${TASK_PRIORITIES.join(', ')}` }).optional(),
    initialPrompt: text('initialPrompt').optional(),
    skillIds: idArray('skillIds').optional(),
    dependencies: idArray('dependencies').optional(),
    model: z.enum(MODELS, { error: `model must be one of ${MODELS.join(', ')}` }).optional(),
    metadata: jsonObject('metadata').optional(),
  });

  const taskUpdate = z.object({
    title: z
      .string({ error: 'Task title cannot be empty' })
      .refine((s) => s.trim().length > 0, { error: 'Task title cannot be empty' })
      .pipe(title('Task title'))
      .optional(),
    description: text('description').optional(),
    status: z.enum(TASK_STATUSES, { error: `status must be one of ${TASK_STATUSES.join(', ')}` }).optional(),
    sessionStatus: z
      .enum(TASK_SESSION_STATUSES, { error: `sessionStatus must be one of ${TASK_SESSION_STATUSES.join(', ')}` })
      .optional(),
    priority: z.enum(TASK_PRIORITIES, { error: `priority must be one of ${TASK_PRIORITIES.join(', ')}` }).optional(),
    sessionIds: idArray('sessionIds').optional(),
    skillIds: idArray('skillIds').optional(),
    agentIds: idArray('agentIds').optional(),
    dependencies: idArray('dependencies').optional(),
    model: z.enum(MODELS, { error: `model must be one of ${MODELS.join(', ')}` }).optional(),
    initialPrompt: text('initialPrompt').optional(),
    metadata: jsonObject('metadata').optional(),
    parentId: id('parentId must be a string').nullable().optional(),
    updateSource: z.enum(['user', 'session'], { error: 'updateSource must be "user" or "session"' }).optional(),
    sessionId: id().optional(),
  });

  /** `POST /tasks/:id/claim`, `/claim/renew` (contract 08): the session (a session key's own by default) and a lease, ms. */
  const claimBody = z.object({
    sessionId: id('sessionId must be a string').optional(),
    leaseMs: z.number({ error: 'leaseMs must be a number' }).int({ error: 'leaseMs must be an integer' }).optional(),
  });
  /** `POST /tasks/claim-next` (contract 08). */
  const claimNextBody = claimBody.extend({ projectId: requiredString('projectId is required').pipe(id()) });

  /** `POST /tasks/:id/dependencies` (contract 08). */
  const dependencyAdd = z.object({ taskId: requiredString('taskId is required').pipe(id()) });

  const taskTimeline = z.object({
    message: requiredString('message is required').pipe(text('message')),
    sessionId: requiredString('sessionId is required').pipe(id()),
    type: eventType.optional(),
  });

  const sessionEventItem = z.object({
    id: id().optional(),
    timestamp: z.number({ error: 'timestamp must be a number' }).optional(),
    type: eventType,
    data: z.unknown().optional(),
  });

  const timelineItem = z.object({
    id: id().optional(),
    type: eventType,
    timestamp: z.number({ error: 'timestamp must be a number' }).optional(),
    message: text('message').optional(),
    taskId: id().optional(),
    metadata: jsonObject('metadata').optional(),
  });

  const sessionStatus = z.enum(SESSION_STATUSES, {
    error: `status must be one of ${SESSION_STATUSES.join(', ')}`,
  });
  const strategy = z.enum(WORKER_STRATEGIES, { error: `strategy must be one of ${WORKER_STRATEGIES.join(', ')}` });
  const env = z
    .record(z.string(), z.string({ error: 'env values must be strings' }), { error: 'env must be an object' })
    .refine((o) => bytes(JSON.stringify(o)) <= l.metadata, { error: `env must be at most ${l.metadata} bytes as JSON` });

  const sessionCreate = z.object({
    taskIds: idArray('taskIds').optional(),
    taskId: id().optional(),
    projectId: requiredString('Project ID is required').pipe(id()),
    id: z
      .string({ error: 'id must be a string' })
      .min(1, { error: 'id must not be empty' })
      .max(l.id, { error: `id must be at most ${l.id} characters` })
      .regex(CLIENT_ID_RE, { error: 'id may contain only letters, digits and . _ - @ + (and must start with a letter or digit)' })
      .optional(),
    name: title('name').optional(),
    agentId: id().optional(),
    strategy: strategy.optional(),
    status: sessionStatus.optional(),
    env: env.optional(),
    metadata: jsonObject('metadata').optional(),
    _suppressCreatedEvent: z.unknown().optional(),
  });

  const sessionUpdate = z.object({
    taskIds: idArray('taskIds').optional(),
    status: sessionStatus.optional(),
    agentId: id().optional(),
    env: env.optional(),
    events: z.array(sessionEventItem).max(l.array).optional(),
    timeline: z.array(timelineItem).max(l.array).optional(),
  });

  const sessionEvent = z.object({
    type: requiredString('type is required').pipe(eventType),
    data: z.unknown().optional(),
  });

  const sessionTimeline = z.object({
    message: requiredString('message is required').pipe(text('message')),
    type: eventType.optional(),
    taskId: id().optional(),
    metadata: jsonObject('metadata').optional(),
  });

  const queueFail = z.object({ reason: text('reason').optional() });
  const queuePush = z.object({ taskId: requiredString('taskId is required').pipe(id()) });

  const role = z.enum(ROLES, { error: 'Invalid role. Must be "worker" or "orchestrator"' });
  // Contract 02: the original accepts any truthy name/role/content (whitespace included).
  const truthy = () => z.string({ error: 'name, role, and content are required' }).min(1, { error: 'name, role, and content are required' });
  const templateCreate = z.object({
    name: truthy().pipe(title('name')),
    role: truthy(),
    content: truthy().pipe(text('content')),
  });
  const templateUpdate = z.object({
    name: z.string({ error: 'name must be a string' }).pipe(title('name')).optional(),
    content: text('content').optional(),
  });

  const filterValue = z.union([z.string().max(l.id * 4), z.array(z.string())]).optional();
  const pageQuery = {
    limit: z.coerce
      .number({ error: 'limit must be a number' })
      .int({ error: 'limit must be an integer' })
      .min(1, { error: 'limit must be at least 1' })
      .max(1000, { error: 'limit must be at most 1000' })
      .default(100),
    cursor: z.string().max(2048, { error: 'cursor too long' }).optional(),
  };
  const taskListQuery = z.object({
    ...pageQuery,
    projectId: filterValue,
    status: filterValue,
    parentId: filterValue,
  });
  const sessionListQuery = z.object({
    ...pageQuery,
    projectId: filterValue,
    taskId: filterValue,
    status: filterValue,
    active: filterValue,
    /** `true`: the sessions archived by retention (additive). */
    archived: filterValue,
  });
  const projectListQuery = z.object(pageQuery);

  return {
    projectCreate,
    projectUpdate,
    taskCreate,
    taskUpdate,
    taskTimeline,
    dependencyAdd,
    claimBody,
    claimNextBody,
    sessionCreate,
    sessionUpdate,
    sessionEvent,
    sessionTimeline,
    queueFail,
    queuePush,
    role,
    templateCreate,
    templateUpdate,
    taskListQuery,
    sessionListQuery,
    projectListQuery,
  };
}

/** The schema set type. */
export type RequestSchemas = ReturnType<typeof requestSchemas>;
/** Parsed request bodies and queries, as the routes hand them to the stores. */
export type ProjectCreate = z.output<RequestSchemas['projectCreate']>;
export type ProjectUpdate = z.output<RequestSchemas['projectUpdate']>;
export type TaskCreate = z.output<RequestSchemas['taskCreate']>;
export type TaskUpdate = z.output<RequestSchemas['taskUpdate']>;
export type TaskTimeline = z.output<RequestSchemas['taskTimeline']>;
export type SessionCreate = z.output<RequestSchemas['sessionCreate']>;
export type SessionUpdate = z.output<RequestSchemas['sessionUpdate']>;
export type SessionEventInput = z.output<RequestSchemas['sessionEvent']>;
export type SessionTimelineInput = z.output<RequestSchemas['sessionTimeline']>;
export type TaskListQuery = z.output<RequestSchemas['taskListQuery']>;
export type SessionListQuery = z.output<RequestSchemas['sessionListQuery']>;
