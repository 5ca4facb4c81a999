import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { apiFailureOf } from './api-caller.js';

/**
 * The two shapes a Maestro tool answers (contract 08, "MCP": "a typed result"; "Errors come back as MCP
 * tool errors with the API's code and message").
 */

/**
 * A success: `structuredContent` is the typed result (it matches the tool's `outputSchema`, checked by
 * the SDK on both sides), and the same JSON as text for clients that read only `content`.
 */
export function toolSuccess(result: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: result };
}

/**
 * A failure as an MCP tool error, never a protocol error: `isError: true` and the text
 * `<code>: <message>` (`CONFLICT: Task … is claimed by session …`), the API's own code and message;
 * `_meta["maestro/error"]` has them apart with the HTTP status (0 when there was no answer) and the
 * envelope's `details`. No `structuredContent` (a client validates any it gets against the output
 * schema, which describes successes).
 */
export function toolError(err: unknown): CallToolResult {
  const f = apiFailureOf(err);
  return {
    content: [{ type: 'text', text: `${f.code}: ${f.message}` }],
    isError: true,
    _meta: { 'maestro/error': { status: f.status, code: f.code, message: f.message, ...(f.details !== undefined ? { details: f.details } : {}) } },
  };
}
