import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { as, startAuthWorld, type AuthWorld } from '../helpers/auth-world.js';
import { CLI, runCli } from '../helpers/cli.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { connect, type RecordingClient } from '../helpers/ws-client.js';
import { CONTRACT_TOOLS, runClaimFlow, structured, textOf } from '../helpers/mcp-flow.js';

/**
 * `maestro mcp` (contract 08, "MCP"): the SDK's own client spawns `node dist/cli/index.js mcp` with a
 * spawned session's environment (its URL, id, project and own key, MAESTRO_AUTH=required) and talks
 * to it over stdio; every effect is checked through the HTTP API and a WebSocket watching the project.
 */
let redis: TestRedis;
let w: AuthWorld;
let client: Client;
let watcher: RecordingClient;
let pid: string;
let sid: string;
let queued: { id: string }[];
const admin = () => as(w.adminKey);

beforeAll(async () => {
  redis = await startRedis();
  w = await startAuthWorld(redis.url);
  pid = (await w.h.req('POST', '/api/v1/projects', { name: 'mcp stdio' }, admin())).body.id;
  queued = [];
  for (const title of ['first queued', 'second queued']) queued.push((await w.h.req('POST', '/api/v1/tasks', { projectId: pid, title }, admin())).body);
  // a queue session as a spawn makes it (no worker runs here: it stays `spawning`), and its own key
  const spawned = await w.h.req('POST', '/api/v1/sessions/spawn', { projectId: pid, taskIds: queued.map((t) => t.id), strategy: 'queue' }, { ...admin(), Prefer: 'respond-async' });
  expect(spawned.status).toBe(202);
  sid = spawned.body.sessionId;
  const key = await w.h.req('POST', `/api/v1/sessions/${sid}/api-key`, {}, admin());
  expect(key.status).toBe(201);
  watcher = await connect(w.h.base.replace('http', 'ws') + '/', admin());
  const home = mkdtempSync(join(tmpdir(), 'mcp-home-'));
  client = new Client({ name: 'mcp-stdio-test', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp'],
      cwd: home,
      stderr: 'pipe',
      env: {
        HOME: home,
        MAESTRO_CREDENTIALS_FILE: join(home, 'no-credentials'),
        MAESTRO_SERVER_URL: w.h.base,
        MAESTRO_SESSION_ID: sid,
        MAESTRO_PROJECT_ID: pid,
        MAESTRO_API_KEY: key.body.key,
        MAESTRO_RETRIES: '1',
        MAESTRO_RETRY_DELAY: '50',
      },
    }),
  );
}, 60_000);
afterAll(async () => {
  await client?.close();
  await watcher?.close();
  await w?.h.close();
  await redis?.stop();
});

describe('maestro mcp over stdio', () => {
  it('lists every tool of the contract, each with an input and an output schema', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...CONTRACT_TOOLS].sort());
    for (const t of tools) {
      expect(t.inputSchema.type).toBe('object');
      expect(t.outputSchema?.type).toBe('object');
      expect(t.description?.length).toBeGreaterThan(20);
    }
    expect(client.getInstructions()).toContain(`Session in context: ${sid}`);
  });

  it('get_task answers the task as GET /api/v1/tasks/:id renders it', async () => {
    const r = await client.callTool({ name: 'get_task', arguments: { taskId: queued[0]!.id } });
    expect(r.isError).toBeFalsy();
    expect(structured(r)).toEqual((await w.h.req('GET', `/api/v1/tasks/${queued[0]!.id}`, undefined, admin())).body);
  });

  it('create_subtask creates a child in the parent\'s project, visible as a child through the API', async () => {
    const r = await client.callTool({ name: 'create_subtask', arguments: { parentId: queued[0]!.id, title: 'a piece of it', priority: 'low' } });
    const child = structured(r);
    expect(child).toMatchObject({ title: 'a piece of it', parentId: queued[0]!.id, projectId: pid, priority: 'low', status: 'todo' });
    const children = (await w.h.req('GET', `/api/v1/tasks/${queued[0]!.id}/children`, undefined, admin())).body;
    expect(children.map((t: { id: string }) => t.id)).toEqual([child.id]);
    const listed = structured(await client.callTool({ name: 'list_subtasks', arguments: { taskId: queued[0]!.id } }));
    expect(listed.tasks.map((t: { id: string }) => t.id)).toEqual([child.id]);
  });

  it('list_tasks pages the project in context (limit, nextCursor, total)', async () => {
    const first = structured(await client.callTool({ name: 'list_tasks', arguments: { limit: 1 } }));
    expect(first.tasks).toHaveLength(1);
    expect(first.total).toBeGreaterThanOrEqual(3);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = structured(await client.callTool({ name: 'list_tasks', arguments: { limit: 1, cursor: first.nextCursor } }));
    expect(second.tasks[0].id).not.toBe(first.tasks[0].id);
    const roots = structured(await client.callTool({ name: 'list_tasks', arguments: { parentId: null, limit: 1000 } }));
    expect(roots.tasks.every((t: { parentId: string | null }) => t.parentId === null)).toBe(true);
  });

  it('report_progress sets the task\'s sessionStatus and appends to the session\'s timeline, as `maestro report progress`; a WebSocket client sees it', async () => {
    const t = queued[1]!;
    const before = watcher.events().length;
    const r = structured(await client.callTool({ name: 'report_progress', arguments: { message: 'halfway there', taskIds: [t.id] } }));
    expect(r).toEqual({ success: true, kind: 'progress', sessionId: sid, taskIds: [t.id], sessionStatus: 'working', sessionCompleted: false });
    expect((await w.h.req('GET', `/api/v1/tasks/${t.id}`, undefined, admin())).body.sessionStatus).toBe('working');
    const timeline = (await w.h.req('GET', `/api/v1/sessions/${sid}`, undefined, admin())).body.timeline;
    expect(timeline.at(-1)).toMatchObject({ type: 'progress', message: 'halfway there', taskId: t.id });
    await watcher.until(() => watcher.events().slice(before).some((e) => e.type === 'task:updated' && e.data.id === t.id && e.data.sessionStatus === 'working'));
    await watcher.until(() => watcher.events().slice(before).some((e) => e.type === 'session:updated' && e.data.id === sid));
  });

  it('report_complete with taskIds completes the task (sessionStatus and status) without ending the session', async () => {
    const t = queued[1]!;
    const r = structured(await client.callTool({ name: 'report_complete', arguments: { message: 'all done', taskIds: [t.id] } }));
    expect(r).toMatchObject({ kind: 'complete', sessionStatus: 'completed', sessionCompleted: false, tasksCompleted: [t.id] });
    expect((await w.h.req('GET', `/api/v1/tasks/${t.id}`, undefined, admin())).body).toMatchObject({ sessionStatus: 'completed', status: 'completed' });
    const s = (await w.h.req('GET', `/api/v1/sessions/${sid}`, undefined, admin())).body;
    expect(s.status).not.toBe('completed');
    expect(s.timeline.at(-1)).toMatchObject({ type: 'task_completed', message: 'all done', taskId: t.id });
  });

  it('report_blocked sets sessionStatus blocked', async () => {
    const t = queued[0]!;
    expect(structured(await client.callTool({ name: 'report_blocked', arguments: { message: 'need a key', taskIds: [t.id] } }))).toMatchObject({ sessionStatus: 'blocked' });
    expect((await w.h.req('GET', `/api/v1/tasks/${t.id}`, undefined, admin())).body.sessionStatus).toBe('blocked');
  });

  it('session_info and project_info answer the session and project in context', async () => {
    const s = structured(await client.callTool({ name: 'session_info', arguments: {} }));
    expect(s).toMatchObject({ id: sid, projectId: pid, strategy: 'queue', taskIds: queued.map((t) => t.id) });
    expect(s.timelineCount).toBe((await w.h.req('GET', `/api/v1/sessions/${sid}`, undefined, admin())).body.timelineCount);
    expect(structured(await client.callTool({ name: 'project_info', arguments: {} }))).toMatchObject({ id: pid, name: 'mcp stdio' });
  });

  it("queue_list / queue_start / queue_complete / queue_skip drive the session's queue", async () => {
    const list = structured(await client.callTool({ name: 'queue_list', arguments: {} }));
    expect(list.items.map((i: { taskId: string }) => i.taskId)).toEqual(queued.map((t) => t.id));
    expect(list.stats).toMatchObject({ total: 2, queued: 2 });
    const started = structured(await client.callTool({ name: 'queue_start', arguments: {} }));
    expect(started).toMatchObject({ success: true, item: { taskId: queued[0]!.id, status: 'processing' } });
    const done = structured(await client.callTool({ name: 'queue_complete', arguments: {} }));
    expect(done).toMatchObject({ completedItem: { taskId: queued[0]!.id }, nextItem: { taskId: queued[1]!.id }, hasMore: true });
    const skipped = structured(await client.callTool({ name: 'queue_skip', arguments: {} }));
    expect(skipped).toMatchObject({ skippedItem: { taskId: queued[1]!.id }, hasMore: false, message: `Skipped ${queued[1]!.id}. Queue is empty.` });
    expect((await w.h.req('GET', `/api/v1/sessions/${sid}/queue/items`, undefined, admin())).body.stats).toMatchObject({ completed: 1, skipped: 1 });
  });

  it('an API error is a tool error with the API\'s code and message, not a protocol error', async () => {
    const r = await client.callTool({ name: 'get_task', arguments: { taskId: 'task_nope' } });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toBe("NOT_FOUND: Task with id 'task_nope' not found");
    expect(r.structuredContent).toBeUndefined();
    expect(r._meta?.['maestro/error']).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    const invalid = await client.callTool({ name: 'create_task', arguments: { title: '   ' } });
    expect([invalid.isError, textOf(invalid)]).toEqual([true, 'VALIDATION_ERROR: Task title is required']);
    // the session key reaches its own project only
    const other = (await w.h.req('POST', '/api/v1/projects', { name: 'not yours' }, admin())).body.id;
    const hidden = await client.callTool({ name: 'project_info', arguments: { projectId: other } });
    expect([hidden.isError, textOf(hidden)]).toEqual([true, `NOT_FOUND: Project with id '${other}' not found`]);
  });
});

describe('maestro mcp config', () => {
  it("prints the configuration that starts this server with the session's values, the key as a reference only", async () => {
    const r = await runCli(['mcp', 'config'], { MAESTRO_SERVER_URL: w.h.base, MAESTRO_API_URL: '', MAESTRO_SESSION_ID: sid, MAESTRO_PROJECT_ID: pid, MAESTRO_API_KEY: 'mk_secret.value' });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      mcpServers: {
        maestro: {
          type: 'stdio',
          command: process.execPath,
          args: [CLI, 'mcp'],
          env: { MAESTRO_SERVER_URL: w.h.base, MAESTRO_SESSION_ID: sid, MAESTRO_PROJECT_ID: pid, MAESTRO_API_KEY: '${MAESTRO_API_KEY:-}' },
        },
      },
    });
    expect(r.stdout).not.toContain('mk_secret');
  });
});

describe('the claim → report progress → complete flow over stdio (needs the coordination routes of contract 08)', () => {
  it('claim_next_task claims the ready task, report_progress and report_complete finish it: completed and released, seen over HTTP and WebSocket', async () => {
    await runClaimFlow({ call: (name, args) => client.callTool({ name, arguments: args }), api: w.h.req, headers: admin(), projectId: pid, sessionId: sid, watcher });
  });
});
