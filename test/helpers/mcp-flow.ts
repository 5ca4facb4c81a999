import { expect } from 'vitest';
import type { RecordingClient } from './ws-client.js';

/**
 * What the MCP tests share (contract 08, "MCP"): the tools the contract names, readers of a tool
 * result, and the claim → report progress → complete flow, run the same over stdio and over HTTP.
 */

/**
 * Every tool contract 08 names: list / get / create / update tasks and subtasks, add and remove
 * dependencies, ready tasks, claim / renew / release / claim-next, report progress / blocked /
 * complete, the session's queue (start / complete / skip / list), session info, project info.
 */
export const CONTRACT_TOOLS = [
  'list_tasks',
  'get_task',
  'create_task',
  'update_task',
  'list_subtasks',
  'create_subtask',
  'add_dependency',
  'remove_dependency',
  'ready_tasks',
  'claim_task',
  'renew_claim',
  'release_claim',
  'claim_next_task',
  'report_progress',
  'report_blocked',
  'report_complete',
  'queue_start',
  'queue_complete',
  'queue_skip',
  'queue_list',
  'session_info',
  'project_info',
];

/** A tool result as the SDK client answers it. */
export interface ToolAnswer {
  isError?: boolean;
  content?: unknown;
  structuredContent?: Record<string, unknown>;
  _meta?: Record<string, unknown>;
}

/** The typed result of a successful call (fails the test, with the error text, on a tool error). */
export function structured(r: ToolAnswer): any {
  if (r.isError) throw new Error(`tool error: ${textOf(r)}`);
  return r.structuredContent;
}

/** The text of a result's first content block. */
export function textOf(r: ToolAnswer): string {
  const first = (r.content as { type: string; text?: string }[] | undefined)?.[0];
  return first?.type === 'text' ? (first.text ?? '') : '';
}

/** How the flow reaches the server under test and the API beside it. */
export interface FlowDeps {
  /** Calls one tool. */
  call(name: string, args: Record<string, unknown>): Promise<ToolAnswer>;
  /** The test harness's `req` (HTTP API), used with `headers`. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  /** A credential that may read and write the project (for the checks and the second session). */
  headers: Record<string, string>;
  projectId: string;
  sessionId: string;
  /** Arguments added to every call that takes them (empty: the server's context gives them). */
  context?: { projectId?: string; sessionId?: string };
  /** A WebSocket client watching the project. */
  watcher: RecordingClient;
}

/**
 * Contract 08's coordination through MCP tools: a dependency blocks a claim until removed; the ready
 * list offers a new high-priority task; claim_next_task claims it for the session (in_progress,
 * claimedBy, linked); a task another session holds is CONFLICT; a claim released is todo again;
 * renew extends the lease;
 * report_progress then report_complete finish it: status completed and the claim released, as the
 * HTTP API and a WebSocket watcher see it.
 */
export async function runClaimFlow(d: FlowDeps): Promise<void> {
  const sess = d.context?.sessionId ? { sessionId: d.context.sessionId } : {};
  const proj = d.context?.projectId ? { projectId: d.context.projectId } : {};
  /** A tool error's text with its `_meta` (the API's `details` may hold the ids). */
  const failure = (r: ToolAnswer) => `${textOf(r)} ${JSON.stringify(r._meta ?? {})}`;
  const task = async (title: string, extra: Record<string, unknown> = {}) => (await d.api('POST', '/api/v1/tasks', { projectId: d.projectId, title, ...extra }, d.headers)).body;

  // dependencies: a claim of a blocked task is CONFLICT listing blockedBy
  const [first, then] = [await task('dependency'), await task('waits')];
  const linked = structured(await d.call('add_dependency', { taskId: then.id, dependsOn: first.id }));
  expect(linked).toMatchObject({ id: then.id, dependencies: [first.id], blockedBy: [first.id] });
  const blocked = await d.call('claim_task', { taskId: then.id, ...sess });
  expect(blocked.isError).toBe(true);
  expect(textOf(blocked)).toMatch(/^CONFLICT: /);
  expect(failure(blocked)).toContain(first.id);
  expect(structured(await d.call('remove_dependency', { taskId: then.id, dependsOn: first.id }))).toMatchObject({ id: then.id, dependencies: [], blockedBy: [] });
  await d.api('DELETE', `/api/v1/tasks/${first.id}`, undefined, d.headers);
  await d.api('DELETE', `/api/v1/tasks/${then.id}`, undefined, d.headers);

  // ready → claim-next
  const made = await task('claim me', { priority: 'high' });
  const ready = structured(await d.call('ready_tasks', { ...proj }));
  expect(ready.tasks[0].id).toBe(made.id);
  const before = d.watcher.events().length;
  const next = structured(await d.call('claim_next_task', { ...proj, ...sess }));
  expect(next).toMatchObject({ claimed: true, task: { status: 'in_progress', claimedBy: { sessionId: d.sessionId } } });
  // claim-next takes one of the first few ready tasks (the API spreads concurrent claimers over them)
  expect(ready.tasks.slice(0, 4).map((x: { id: string }) => x.id)).toContain(next.task.id);
  const t = next.task as { id: string };
  const held = (await d.api('GET', `/api/v1/tasks/${t.id}`, undefined, d.headers)).body;
  expect(held).toMatchObject({ status: 'in_progress', claimedBy: { sessionId: d.sessionId } });
  expect(held.sessionIds).toContain(d.sessionId);
  expect(structured(await d.call('ready_tasks', { ...proj })).tasks.map((x: { id: string }) => x.id)).not.toContain(t.id);

  // another session's claim is CONFLICT naming it
  const other = (await d.api('POST', '/api/v1/sessions', { projectId: d.projectId, taskIds: [] }, d.headers)).body.id;
  const theirs = await task('theirs');
  expect([200, 201]).toContain((await d.api('POST', `/api/v1/tasks/${theirs.id}/claim`, { sessionId: other }, d.headers)).status);
  const conflict = await d.call('claim_task', { taskId: theirs.id, ...sess });
  expect(conflict.isError).toBe(true);
  expect(textOf(conflict)).toMatch(/^CONFLICT: /);
  expect(failure(conflict)).toContain(other);

  // claim and release: back to todo, no claim
  const spare = await task('spare');
  expect(structured(await d.call('claim_task', { taskId: spare.id, ...sess }))).toMatchObject({ id: spare.id, claimedBy: { sessionId: d.sessionId } });
  const released = structured(await d.call('release_claim', { taskId: spare.id, ...sess }));
  expect(released).toMatchObject({ id: spare.id, status: 'todo' });
  expect(released.claimedBy ?? null).toBeNull();
  expect((await d.api('GET', `/api/v1/tasks/${spare.id}`, undefined, d.headers)).body.claimedBy ?? null).toBeNull();

  // renew, progress, complete
  const renewed = structured(await d.call('renew_claim', { taskId: t.id, leaseMs: 600_000, ...sess }));
  expect(renewed.claimedBy.expiresAt).toBeGreaterThanOrEqual(held.claimedBy.expiresAt);
  expect(structured(await d.call('report_progress', { message: 'on it', taskIds: [t.id], ...sess }))).toMatchObject({ sessionStatus: 'working' });
  expect(structured(await d.call('report_complete', { message: 'done', taskIds: [t.id], ...sess }))).toMatchObject({ tasksCompleted: [t.id] });
  const finished = (await d.api('GET', `/api/v1/tasks/${t.id}`, undefined, d.headers)).body;
  expect(finished).toMatchObject({ status: 'completed', sessionStatus: 'completed' });
  expect(finished.claimedBy ?? null).toBeNull();
  const session = (await d.api('GET', `/api/v1/sessions/${d.sessionId}`, undefined, d.headers)).body;
  const reports = session.timeline.filter((e: { type: string; taskId?: string }) => e.taskId === t.id && ['progress', 'task_completed'].includes(e.type));
  expect(reports.map((e: { type: string; message: string }) => [e.type, e.message])).toEqual([
    ['progress', 'on it'],
    ['task_completed', 'done'],
  ]);

  // what a WebSocket client watching the project saw
  await d.watcher.until(() => d.watcher.events().slice(before).some((e) => e.type === 'task:updated' && e.data.id === t.id && e.data.status === 'completed'));
  const seen = d.watcher.events().slice(before).filter((e) => e.type === 'task:updated' && e.data.id === t.id);
  expect(seen.some((e) => e.data.claimedBy?.sessionId === d.sessionId)).toBe(true);
  expect(seen.at(-1).data.claimedBy ?? null).toBeNull();

  // release of the other session's claim (as the API), so the project is left as found
  await d.api('DELETE', `/api/v1/tasks/${theirs.id}/claim`, undefined, d.headers);
}
