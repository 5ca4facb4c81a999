import { z } from 'zod';
import type { RequestSchemas } from '../shared/schemas/requests.js';
import { authSchemas } from './routes/auth.js';
import {
  DeletedSchema,
  ErrorSchema,
  ProjectSchema,
  QueueItemSchema,
  QueueStateSchema,
  QueueStatsSchema,
  SessionSchema,
  SkillDetailSchema,
  SkillSummarySchema,
  TaskSchema,
  TemplateSchema,
} from '../shared/schemas/wire.js';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** One operation of the API: path in OpenAPI form (`/projects/{id}`), relative to `/api/v1`. */
export interface Operation {
  method: Method;
  path: string;
  tag: string;
  summary: string;
  body?: z.ZodType;
  query?: z.ZodType;
  /** Success status and the response schema (a component name, or an inline zod schema). */
  ok: [number, string | z.ZodType];
  /** Statuses besides the success one that the contract defines. */
  errors?: number[];
  /** Outside `/api/v1` (health routes). */
  root?: boolean;
}

const components = {
  Project: ProjectSchema,
  Task: TaskSchema,
  Session: SessionSchema,
  QueueItem: QueueItemSchema,
  QueueState: QueueStateSchema,
  QueueStats: QueueStatsSchema,
  Template: TemplateSchema,
  SkillSummary: SkillSummarySchema,
  SkillDetail: SkillDetailSchema,
  Error: ErrorSchema,
  Deleted: DeletedSchema,
};
type ComponentName = keyof typeof components;
const list = (name: ComponentName) => z.array(components[name]);

/**
 * Every operation of the API (contract 02 + 00). The OpenAPI document is generated from this list,
 * and a test checks that it names exactly the routes the Express app has.
 */
export function operations(s: RequestSchemas): Operation[] {
  const queueRoute = (method: Method, sub: string, summary: string, body?: z.ZodType): Operation => ({
    method,
    path: `/sessions/{id}/queue${sub}`,
    tag: 'queue',
    summary,
    body,
    ok: [200, z.record(z.string(), z.unknown())],
    errors: [400, 404],
  });
  return [
    { method: 'get', path: '/health', tag: 'health', summary: 'Liveness (`?deep=1`: Redis RTT, event loop, memory, disk)', ok: [200, z.object({ status: z.literal('ok'), timestamp: z.number(), uptime: z.number() })], root: true },
    { method: 'get', path: '/ready', tag: 'health', summary: 'Readiness: Redis and queue reachable', ok: [200, z.object({ status: z.string() })], errors: [503], root: true },
    { method: 'get', path: '/metrics', tag: 'health', summary: 'Prometheus metrics of this replica (text format)', ok: [200, z.string()], root: true },
    { method: 'get', path: '/ws-status', tag: 'health', summary: "This replica's WebSocket clients", ok: [200, z.record(z.string(), z.unknown())], root: true },
    { method: 'get', path: '/openapi.json', tag: 'meta', summary: 'This document', ok: [200, z.record(z.string(), z.unknown())] },

    { method: 'post', path: '/auth/register', tag: 'auth', summary: 'Create a user; returns tokens', body: authSchemas.register, ok: [201, z.record(z.string(), z.unknown())], errors: [400, 409] },
    { method: 'post', path: '/auth/login', tag: 'auth', summary: 'Email + password → access token (JWT) + refresh token', body: authSchemas.login, ok: [200, z.record(z.string(), z.unknown())], errors: [400] },
    { method: 'post', path: '/auth/refresh', tag: 'auth', summary: 'Rotate a refresh token (reuse revokes its family)', body: authSchemas.refresh, ok: [200, z.record(z.string(), z.unknown())], errors: [400] },
    { method: 'post', path: '/auth/logout', tag: 'auth', summary: 'Revoke a refresh token family', ok: [200, z.object({ success: z.literal(true) })] },
    { method: 'get', path: '/auth/me', tag: 'auth', summary: 'The caller: user, roles, credential', ok: [200, z.record(z.string(), z.unknown())] },
    { method: 'post', path: '/auth/ws-ticket', tag: 'auth', summary: 'Single-use ticket (30 s) for a browser WebSocket: connect with ?ticket=', ok: [201, z.object({ ticket: z.string(), expiresIn: z.number() })] },
    { method: 'get', path: '/api-keys', tag: 'auth', summary: "The caller's API keys (no secrets)", ok: [200, z.array(z.record(z.string(), z.unknown()))] },
    { method: 'post', path: '/api-keys', tag: 'auth', summary: 'Create an API key (shown once), optionally scoped to a project and read-only', body: authSchemas.apiKey, ok: [201, z.record(z.string(), z.unknown())], errors: [400, 404] },
    { method: 'delete', path: '/api-keys/{id}', tag: 'auth', summary: 'Revoke an API key', ok: [200, z.record(z.string(), z.unknown())], errors: [404] },
    { method: 'get', path: '/projects/{id}/members', tag: 'projects', summary: 'Members and pending invitations of a project as {email, role}', ok: [200, z.array(z.record(z.string(), z.unknown()))], errors: [404] },
    { method: 'post', path: '/projects/{id}/members', tag: 'projects', summary: 'Add a member by email (owner only): an account joins at once, an unknown address when it registers; the answer is the same', body: authSchemas.member, ok: [201, z.record(z.string(), z.unknown())], errors: [400, 404] },
    { method: 'patch', path: '/projects/{id}/members/{userId}', tag: 'projects', summary: "Change a member's or invitation's role by email or user id (owner only)", body: authSchemas.memberRole, ok: [200, z.record(z.string(), z.unknown())], errors: [400, 404] },
    { method: 'delete', path: '/projects/{id}/members/{userId}', tag: 'projects', summary: 'Remove a member or withdraw an invitation, by email or user id (owner only)', ok: [200, z.record(z.string(), z.unknown())], errors: [404] },
    { method: 'get', path: '/projects', tag: 'projects', summary: 'List projects (creation order, paged)', query: s.projectListQuery, ok: [200, list('Project')] },
    { method: 'post', path: '/projects', tag: 'projects', summary: 'Create a project', body: s.projectCreate, ok: [201, 'Project'], errors: [400] },
    { method: 'get', path: '/projects/{id}', tag: 'projects', summary: 'Get a project', ok: [200, 'Project'], errors: [404] },
    { method: 'put', path: '/projects/{id}', tag: 'projects', summary: 'Update a project (shallow merge of known fields)', body: s.projectUpdate, ok: [200, 'Project'], errors: [400, 404, 412] },
    { method: 'delete', path: '/projects/{id}', tag: 'projects', summary: 'Delete a project without tasks or sessions', ok: [200, 'Deleted'], errors: [404, 412, 422] },

    { method: 'get', path: '/tasks', tag: 'tasks', summary: 'List tasks (filters projectId, status, parentId; paged)', query: s.taskListQuery, ok: [200, list('Task')] },
    { method: 'post', path: '/tasks', tag: 'tasks', summary: 'Create a task', body: s.taskCreate, ok: [201, 'Task'], errors: [400, 404] },
    { method: 'get', path: '/tasks/{id}', tag: 'tasks', summary: 'Get a task', ok: [200, 'Task'], errors: [404] },
    { method: 'patch', path: '/tasks/{id}', tag: 'tasks', summary: 'Update a task', body: s.taskUpdate, ok: [200, 'Task'], errors: [400, 404, 412] },
    { method: 'delete', path: '/tasks/{id}', tag: 'tasks', summary: 'Delete a task (no cascade)', ok: [200, 'Deleted'], errors: [404, 412] },
    { method: 'post', path: '/tasks/{id}/timeline', tag: 'tasks', summary: "Append to a session's timeline about this task", body: s.taskTimeline, ok: [200, z.object({ success: z.literal(true), taskId: z.string(), sessionId: z.string(), message: z.string(), type: z.string() })], errors: [400, 404] },
    { method: 'get', path: '/tasks/{id}/children', tag: 'tasks', summary: 'Direct children of a task (paged)', query: s.projectListQuery, ok: [200, list('Task')], errors: [404] },
    { method: 'get', path: '/tasks/ready', tag: 'tasks', summary: 'Tasks of a project ready to work on: todo, not blocked, not claimed; by priority, then creation (paged; projectId required)', query: s.projectListQuery, ok: [200, list('Task')], errors: [400] },
    { method: 'post', path: '/tasks/{id}/dependencies', tag: 'tasks', summary: 'Make the task wait for another ({taskId}); a cycle is refused', body: s.dependencyAdd, ok: [200, 'Task'], errors: [400, 404] },
    { method: 'delete', path: '/tasks/{id}/dependencies/{taskId}', tag: 'tasks', summary: 'The task no longer waits for taskId', ok: [200, 'Task'], errors: [404] },
    { method: 'post', path: '/tasks/{id}/claim', tag: 'tasks', summary: 'Claim the task for a session ({sessionId, leaseMs?}); 409 when held or blocked', body: s.claimBody, ok: [200, 'Task'], errors: [400, 404, 409] },
    { method: 'post', path: '/tasks/{id}/claim/renew', tag: 'tasks', summary: "Renew the session's claim", body: s.claimBody, ok: [200, 'Task'], errors: [400, 404, 409] },
    { method: 'delete', path: '/tasks/{id}/claim', tag: 'tasks', summary: 'Release the claim (the task goes back to todo unless completed)', ok: [200, 'Task'], errors: [404, 409] },
    { method: 'post', path: '/tasks/claim-next', tag: 'tasks', summary: 'Claim the first ready task of a project ({projectId, sessionId}); 204 when none is ready', body: s.claimNextBody, ok: [200, 'Task'], errors: [400, 404] },

    { method: 'get', path: '/sessions', tag: 'sessions', summary: 'List sessions (filters projectId, taskId, status, active, archived; paged)', query: s.sessionListQuery, ok: [200, list('Session')] },
    { method: 'post', path: '/sessions', tag: 'sessions', summary: 'Create (or register) a session', body: s.sessionCreate, ok: [201, 'Session'], errors: [400, 404] },
    { method: 'post', path: '/sessions/spawn', tag: 'spawn', summary: 'Spawn an agent session: session + manifest (Prefer: respond-async → 202)', body: z.object({ projectId: z.string(), taskIds: z.array(z.string()), role: z.enum(['worker', 'orchestrator']).optional(), strategy: z.enum(['simple', 'queue', 'tree']).optional(), spawnSource: z.enum(['ui', 'session']).optional(), sessionId: z.string().optional(), sessionName: z.string().optional(), skills: z.array(z.string()).optional(), context: z.record(z.string(), z.unknown()).optional() }), ok: [201, z.record(z.string(), z.unknown())], errors: [202, 400, 404, 500] },
    { method: 'get', path: '/sessions/{id}/manifest', tag: 'spawn', summary: 'The stored manifest of a spawned session', ok: [200, z.record(z.string(), z.unknown())], errors: [404] },
    { method: 'post', path: '/sessions/{id}/api-key', tag: 'spawn', summary: "Mint the session's own key (shown once; scoped to the session, at most editor; revoked when it ends). Writers of the project, not session keys", ok: [201, z.record(z.string(), z.unknown())], errors: [403, 404, 409, 429] },
    { method: 'get', path: '/sessions/{id}', tag: 'sessions', summary: 'Get a session: on /api/v1 with the last 100 events and timeline entries and eventCount/timelineCount; on /api whole', ok: [200, 'Session'], errors: [404] },
    { method: 'get', path: '/sessions/{id}/timeline', tag: 'sessions', summary: "A page of the session's timeline, in append order (limit, cursor; whole on /api without limit)", query: s.projectListQuery, ok: [200, z.array(z.record(z.string(), z.unknown()))], errors: [400, 404] },
    { method: 'get', path: '/sessions/{id}/events', tag: 'sessions', summary: "A page of the session's events, in append order (limit, cursor; whole on /api without limit)", query: s.projectListQuery, ok: [200, z.array(z.record(z.string(), z.unknown()))], errors: [400, 404] },
    { method: 'patch', path: '/sessions/{id}', tag: 'sessions', summary: 'Update a session', body: s.sessionUpdate, ok: [200, 'Session'], errors: [400, 404, 412] },
    { method: 'delete', path: '/sessions/{id}', tag: 'sessions', summary: 'Delete a session (strips it from its tasks)', ok: [200, 'Deleted'], errors: [404, 412] },
    { method: 'post', path: '/sessions/{id}/events', tag: 'sessions', summary: 'Append a session event', body: s.sessionEvent, ok: [200, 'Session'], errors: [400, 404] },
    { method: 'post', path: '/sessions/{id}/timeline', tag: 'sessions', summary: 'Append a timeline entry', body: s.sessionTimeline, ok: [200, 'Session'], errors: [400, 404] },
    { method: 'post', path: '/sessions/{id}/tasks/{taskId}', tag: 'sessions', summary: 'Link a task to a session (both sides)', ok: [200, 'Session'], errors: [404] },
    { method: 'delete', path: '/sessions/{id}/tasks/{taskId}', tag: 'sessions', summary: 'Unlink a task from a session (both sides)', ok: [200, 'Session'], errors: [404] },

    queueRoute('get', '', 'Queue state and stats'),
    queueRoute('get', '/top', 'Peek the next queued item'),
    queueRoute('get', '/items', 'Queue items and stats'),
    queueRoute('post', '/start', 'Start the next queued item'),
    queueRoute('post', '/complete', 'Complete the current item'),
    queueRoute('post', '/fail', 'Fail the current item', s.queueFail),
    queueRoute('post', '/skip', 'Skip the current or next item'),
    queueRoute('post', '/push', 'Append a task to the queue', s.queuePush),

    { method: 'get', path: '/skills', tag: 'skills', summary: 'List skills from SKILLS_DIR', ok: [200, list('SkillSummary')] },
    { method: 'get', path: '/skills/role/{role}', tag: 'skills', summary: 'Skills for a role (ids = manifest names)', ok: [200, list('SkillSummary')], errors: [400] },
    { method: 'get', path: '/skills/{id}', tag: 'skills', summary: 'A skill with its instructions', ok: [200, 'SkillDetail'], errors: [404] },
    { method: 'post', path: '/skills/{id}/reload', tag: 'skills', summary: 'Reload a skill on every replica', ok: [200, 'SkillSummary'], errors: [404] },

    { method: 'get', path: '/templates', tag: 'templates', summary: 'List templates (paged)', query: s.projectListQuery, ok: [200, list('Template')] },
    { method: 'post', path: '/templates', tag: 'templates', summary: 'Create a template', body: s.templateCreate, ok: [201, 'Template'], errors: [400] },
    { method: 'get', path: '/templates/role/{role}', tag: 'templates', summary: 'First template of a role', ok: [200, 'Template'], errors: [400, 404] },
    { method: 'get', path: '/templates/default/{role}', tag: 'templates', summary: 'Built-in default content of a role', ok: [200, z.object({ role: z.string(), content: z.string() })], errors: [400] },
    { method: 'get', path: '/templates/{id}', tag: 'templates', summary: 'Get a template', ok: [200, 'Template'], errors: [404] },
    { method: 'put', path: '/templates/{id}', tag: 'templates', summary: 'Update name/content', body: s.templateUpdate, ok: [200, 'Template'], errors: [400, 404, 412] },
    { method: 'post', path: '/templates/{id}/reset', tag: 'templates', summary: 'Reset content to the built-in default', ok: [200, 'Template'], errors: [404, 412] },
    { method: 'delete', path: '/templates/{id}', tag: 'templates', summary: 'Delete a custom template', ok: [200, 'Deleted'], errors: [404, 412, 500] },

    ...mcpOperations(),
  ];
}

/**
 * The MCP endpoint (contract 08, "MCP"; routes/mcp.ts): the Streamable HTTP transport, stateless, so
 * POST only. Its tools are listed by `tools/list` (with their JSON Schemas), not here.
 */
function mcpOperations(): Operation[] {
  const jsonRpc = z.object({
    jsonrpc: z.literal('2.0'),
    id: z.union([z.string(), z.number()]).optional(),
    method: z.string().describe('initialize, notifications/initialized, tools/list, tools/call, ping'),
    params: z.record(z.string(), z.unknown()).optional(),
  });
  const notAllowed = z.object({ jsonrpc: z.literal('2.0'), error: z.object({ code: z.number(), message: z.string() }), id: z.null() });
  return [
    {
      method: 'post',
      path: '/mcp',
      tag: 'mcp',
      summary: "MCP over Streamable HTTP (stateless, JSON answers): Maestro's tools (tasks, dependencies, ready work, claims, reports, the session's queue), acting with the caller's credential; a session key's session and project are the defaults",
      body: jsonRpc,
      ok: [200, z.record(z.string(), z.unknown())],
      errors: [400, 406, 415],
    },
    { method: 'get', path: '/mcp', tag: 'mcp', summary: 'Not allowed: the MCP endpoint is stateless (no server-initiated stream)', ok: [405, notAllowed] },
    { method: 'delete', path: '/mcp', tag: 'mcp', summary: 'Not allowed: the MCP endpoint is stateless (no session to end)', ok: [405, notAllowed] },
  ];
}

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') => {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete out.$schema;
  return out;
};

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted (spawn continues; follow session:spawn)',
  400: 'VALIDATION_ERROR (details: [{path, message}])',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'Method not allowed (JSON-RPC error)',
  406: 'Not acceptable (MCP: Accept must name application/json and text/event-stream)',
  409: 'CONFLICT',
  412: 'PRECONDITION_FAILED (If-Match)',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'Unsupported media type (MCP: Content-Type must be application/json)',
  422: 'BUSINESS_RULE_ERROR',
  429: 'RATE_LIMITED',
  500: 'INTERNAL_ERROR',
  503: 'UNAVAILABLE (Redis unreachable; Retry-After)',
};

/** The API's reference, built once per schema set: the OpenAPI document and the `/docs` page made from it. */
export interface ApiReference {
  /** OpenAPI 3.1 document (`/api/v1/openapi.json`). */
  doc: Record<string, unknown>;
  /** The `/docs` HTML page. */
  html: string;
}
const references = new WeakMap<RequestSchemas, Map<string, ApiReference>>();

/**
 * The API reference of `schemas` served at `serverUrl`, built on first use and then shared: the API
 * app and the operations app (METRICS_PORT) of one replica serve the same one (contract 00 "Paths").
 */
export function apiReference(schemas: RequestSchemas, serverUrl: string): ApiReference {
  let byUrl = references.get(schemas);
  if (!byUrl) references.set(schemas, (byUrl = new Map()));
  let ref = byUrl.get(serverUrl);
  if (!ref) {
    const doc = openApiDocument(schemas, serverUrl);
    byUrl.set(serverUrl, (ref = { doc, html: docsPage(doc) }));
  }
  return ref;
}

/** The OpenAPI 3.1 document of the API, generated from the zod schemas (contract 00 "Paths"). */
export function openApiDocument(s: RequestSchemas, serverUrl: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations(s)) {
    const full = op.root ? op.path : `/api/v1${op.path}`;
    const params = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    if (op.query) {
      const q = jsonSchema(op.query, 'input') as { properties?: Record<string, unknown> };
      for (const [name, schema] of Object.entries(q.properties ?? {})) params.push({ name, in: 'query', required: false, schema: schema as never });
    }
    const [status, shape] = op.ok;
    const okSchema = typeof shape === 'string' ? { $ref: `#/components/schemas/${shape}` } : jsonSchema(shape, 'output');
    const responses: Record<string, unknown> = {
      [status]: { description: STATUS_TEXT[status] ?? 'OK', content: { 'application/json': { schema: okSchema } } },
    };
    const errorStatuses = op.root ? op.errors ?? [] : [...new Set([...(op.errors ?? []), 401, 403, 429, 503])];
    for (const e of errorStatuses.sort()) {
      responses[e] = { description: STATUS_TEXT[e] ?? 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    const operation: Record<string, unknown> = {
      tags: [op.tag],
      summary: op.summary,
      operationId: `${op.method}${full.replace(/[{}]/g, '').replace(/[^a-zA-Z0-9]+(\w)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      parameters: params,
      responses,
    };
    if (op.body) operation.requestBody = { required: false, content: { 'application/json': { schema: jsonSchema(op.body, 'input') } } };
    (paths[full] ??= {})[op.method] = operation;
  }
  const schemas: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(components)) schemas[name] = jsonSchema(schema, 'output');
  return {
    openapi: '3.1.0',
    info: {
      title: 'Maestro API',
      version: '1.0.0',
      description:
        'Projects, tasks, sessions, queues, skills and templates. `/api` is an alias of `/api/v1`. Lists are JSON arrays paged by `limit`/`cursor` (`Link`, `X-Next-Cursor`, `X-Total-Count`). Writes honour `If-Match`; POSTs accept `Idempotency-Key`.',
    },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
    },
  };
}

/** A self-contained HTML reference page of the document (no external assets). */
export function docsPage(doc: Record<string, unknown>): string {
  const esc = (t: string) => t.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  const rows: string[] = [];
  for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, { summary: string; tags: string[] }>>)) {
    for (const [method, op] of Object.entries(methods)) {
      rows.push(`<tr><td>${esc(op.tags[0] ?? '')}</td><td class="m ${method}">${method.toUpperCase()}</td><td><code>${esc(path)}</code></td><td>${esc(op.summary)}</td></tr>`);
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Maestro API</title><style>
body{font:14px/1.5 system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.35rem .6rem;text-align:left}.m{font-weight:600}
.get{color:#0a7}.post{color:#06c}.put,.patch{color:#b60}.delete{color:#c22}code{font-size:13px}</style></head><body>
<h1>Maestro API</h1><p>${esc(String((doc.info as { description: string }).description))}</p>
<p>Machine-readable: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> (OpenAPI 3.1).</p>
<table><thead><tr><th>tag</th><th>method</th><th>path</th><th>summary</th></tr></thead><tbody>${rows.join('')}</tbody></table></body></html>`;
}
