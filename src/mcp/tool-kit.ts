import type { McpServer, ToolCallback } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import { missingArgument, type ApiReply, type McpApi } from './api-caller.js';
import { toolError, toolSuccess } from './tool-result.js';

/**
 * What every tool is built over: the API caller and the defaults of its context (contract 08, "MCP":
 * "using the session's environment"). Over stdio the defaults are MAESTRO_SESSION_ID and
 * MAESTRO_PROJECT_ID; over HTTP the session and project a session key is scoped to.
 */
export interface ToolContext {
  api: McpApi;
  defaults: { sessionId?: string; projectId?: string };
}

/** The session a tool acts for: `given`, else the context's; VALIDATION_ERROR when neither. */
export function sessionOf(ctx: ToolContext, given?: string): string {
  const s = given || ctx.defaults.sessionId;
  if (!s) throw missingArgument('sessionId', 'pass sessionId (no session in context: MAESTRO_SESSION_ID is not set and the credential is not a session key)');
  return s;
}

/** The project a tool acts on: `given`, else the context's; VALIDATION_ERROR when neither. */
export function projectOf(ctx: ToolContext, given?: string): string {
  const p = given || ctx.defaults.projectId;
  if (!p) throw missingArgument('projectId', 'pass projectId (no project in context: MAESTRO_PROJECT_ID is not set and the credential is not scoped to a project)');
  return p;
}

/** Encodes a path segment. */
export const seg = encodeURIComponent;

/** `?a=1&b=x` of the defined entries (none: ''). */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** A reply's body as an object (the API's JSON objects; `{}` for 204). */
export function bodyOf(reply: ApiReply): Record<string, unknown> {
  const b = reply.body;
  return b && typeof b === 'object' && !Array.isArray(b) ? (b as Record<string, unknown>) : {};
}

/** A list reply as `{ <key>: items, nextCursor?, total? }`. */
export function pageOf(reply: ApiReply, key: string): Record<string, unknown> {
  return {
    [key]: Array.isArray(reply.body) ? reply.body : [],
    ...(reply.nextCursor ? { nextCursor: reply.nextCursor } : {}),
    ...(reply.total !== undefined ? { total: reply.total } : {}),
  };
}

/** One tool: its name, what an agent reads about it, and its zod schemas. */
export interface ToolDefinition<I extends z.ZodObject, O extends z.ZodObject> {
  name: string;
  title: string;
  description: string;
  input: I;
  output: O;
  annotations?: ToolAnnotations;
}

/**
 * Registers a tool on `server` (the SDK's `registerTool`: `inputSchema` validated by the SDK before
 * `run`, `outputSchema` checked against what `run` returns). `run` gets the parsed arguments and
 * returns the typed result; whatever it throws (an API error, a missing argument) becomes a tool
 * error with the API's code and message (tool-result.ts), never a protocol error.
 */
export function defineTool<I extends z.ZodObject, O extends z.ZodObject>(
  server: McpServer,
  def: ToolDefinition<I, O>,
  run: (args: z.output<I>) => Promise<z.input<O>>,
): void {
  const callback = async (args: z.output<I>) => {
    try {
      return toolSuccess((await run(args)) as Record<string, unknown>);
    } catch (err) {
      return toolError(err);
    }
  };
  server.registerTool(
    def.name,
    { title: def.title, description: def.description, inputSchema: def.input, outputSchema: def.output, annotations: def.annotations },
    callback as unknown as ToolCallback<I>,
  );
}

/** Annotations of a tool that only reads. */
export const READ_ONLY: ToolAnnotations = { readOnlyHint: true, openWorldHint: false };
/** Annotations of a tool that writes without destroying anything. */
export const WRITES: ToolAnnotations = { readOnlyHint: false, destructiveHint: false, openWorldHint: false };
