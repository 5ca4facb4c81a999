import { hostname, platform } from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { useHarness } from '../helpers/use-harness.js';

const h = useHarness();
let pid: string;
beforeAll(async () => {
  pid = (await h.req('POST', '/api/v1/projects', { name: 'sessions' })).body.id;
});

const task = async () => (await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 't' })).body;
const session = async (body: Record<string, unknown> = {}) => (await h.req('POST', '/api/v1/sessions', { projectId: pid, taskIds: [], ...body })).body;
const eventsSince = async (n: number) => (await h.events(pid)).slice(n);

describe('POST /sessions', () => {
  it('creates a session with the defaults of contract 01, links the tasks, seeds the timeline, emits session:created then task:session_added per task', async () => {
    const [a, b] = [await task(), await task()];
    const before = (await h.events(pid)).length;
    const r = await h.req('POST', '/api/sessions', { projectId: pid, taskIds: [a.id, b.id], evil: 1 });
    expect(r.status).toBe(201);
    const s = r.body;
    expect(s).toEqual({
      id: expect.stringMatching(/^sess_\d+_[0-9a-z]{1,9}$/),
      projectId: pid,
      taskIds: [a.id, b.id],
      name: 'Unnamed Session',
      env: {},
      strategy: 'simple',
      status: 'idle',
      startedAt: expect.any(Number),
      lastActivity: s.startedAt,
      completedAt: null,
      hostname: hostname(),
      platform: platform(),
      events: [],
      timeline: [
        { id: expect.stringMatching(/^evt_/), type: 'session_started', timestamp: s.startedAt, message: 'Session created' },
        { id: expect.any(String), type: 'task_started', timestamp: s.startedAt, message: 'Started working on task', taskId: a.id },
        { id: expect.any(String), type: 'task_started', timestamp: s.startedAt, message: 'Started working on task', taskId: b.id },
      ],
      version: 1,
    });
    expect((await h.req('GET', `/api/v1/tasks/${a.id}`)).body.sessionIds).toEqual([s.id]);
    const evs = await eventsSince(before);
    expect(evs.map((e) => e.type)).toEqual(['session:created', 'task:session_added', 'task:session_added']);
    expect(evs[0]!.data).toEqual(s);
    expect(evs[1]!.data).toEqual({ taskId: a.id, sessionId: s.id });
    expect(evs[2]!.data).toEqual({ taskId: b.id, sessionId: s.id });
  });

  it('keeps client id, name, agentId, strategy, status, env and metadata; accepts the legacy taskId', async () => {
    const t = await task();
    const s = await session({ id: 'claude-hook-123', taskIds: undefined, taskId: t.id, name: 'worker: claude-ho', agentId: 'ag', strategy: 'queue', status: 'running', env: { A: '1' }, metadata: { role: 'worker' } });
    expect(s).toMatchObject({ id: 'claude-hook-123', taskIds: [t.id], name: 'worker: claude-ho', agentId: 'ag', strategy: 'queue', status: 'running', env: { A: '1' }, metadata: { role: 'worker' } });
  });

  it('taskIds missing → 400 route envelope "taskIds is required" (no statusCode); [] is fine', async () => {
    const r = await h.req('POST', '/api/v1/sessions', { projectId: pid });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: true, message: 'taskIds is required', code: 'VALIDATION_ERROR', details: expect.any(Array) });
    expect((await h.req('POST', '/api/v1/sessions', { projectId: pid, taskIds: [] })).status).toBe(201);
  });

  it('then "Project ID is required" (with statusCode) → 404 project → 404 each task; nothing changes', async () => {
    const noProject = await h.req('POST', '/api/v1/sessions', { taskIds: [] });
    expect(noProject.body).toMatchObject({ statusCode: 400, message: 'Project ID is required' });
    expect((await h.req('POST', '/api/v1/sessions', { projectId: 'proj_nope', taskIds: [] })).body.message).toBe("Project with id 'proj_nope' not found");
    const t = await task();
    const before = (await h.events(pid)).length;
    const r = await h.req('POST', '/api/v1/sessions', { id: 'sess_fixed_bad', projectId: pid, taskIds: [t.id, 'task_nope'] });
    expect(r.status).toBe(404);
    expect(r.body.message).toBe("Task with id 'task_nope' not found");
    expect((await h.events(pid)).length).toBe(before);
    expect((await h.req('GET', '/api/v1/sessions/sess_fixed_bad')).status).toBe(404);
    expect((await h.req('GET', `/api/v1/tasks/${t.id}`)).body.sessionIds).toEqual([]);
  });

  it('status outside the seven accepted values → 400; "running" accepted', async () => {
    expect((await h.req('POST', '/api/v1/sessions', { projectId: pid, taskIds: [], status: 'asleep' })).status).toBe(400);
    expect((await session({ status: 'running' })).status).toBe('running');
  });

  it('_suppressCreatedEvent suppresses session:created and the task:session_added events', async () => {
    const t = await task();
    const before = (await h.events(pid)).length;
    await session({ taskIds: [t.id], _suppressCreatedEvent: true });
    expect(await eventsSince(before)).toEqual([]);
  });

  it('an existing client id is overwritten, its old task links replaced', async () => {
    const [a, b] = [await task(), await task()];
    await session({ id: 'sess_same', taskIds: [a.id] });
    const s = await session({ id: 'sess_same', taskIds: [b.id], name: 'second' });
    expect(s).toMatchObject({ id: 'sess_same', name: 'second', taskIds: [b.id] });
    expect((await h.req('GET', `/api/v1/tasks/${a.id}`)).body.sessionIds).toEqual([]);
    expect((await h.req('GET', `/api/v1/tasks/${b.id}`)).body.sessionIds).toEqual(['sess_same']);
  });
});

describe('GET /sessions filters', () => {
  it('projectId, taskId, status, active=true (excludes only completed)', async () => {
    const p2 = (await h.req('POST', '/api/v1/projects', { name: 'filters' })).body.id;
    const t = (await h.req('POST', '/api/v1/tasks', { projectId: p2, title: 't' })).body;
    const mk = async (status: string, taskIds: string[] = []) => (await h.req('POST', '/api/v1/sessions', { projectId: p2, taskIds, status })).body.id as string;
    const done = await mk('completed', [t.id]);
    const failed = await mk('failed', [t.id]);
    const idle = await mk('idle');
    const ids = async (q: string) => ((await h.req('GET', `/api/v1/sessions?${q}`)).body as { id: string }[]).map((s) => s.id);
    expect(await ids(`projectId=${p2}`)).toEqual([done, failed, idle]);
    expect(await ids(`taskId=${t.id}`)).toEqual([done, failed]);
    expect(await ids(`projectId=${p2}&status=failed`)).toEqual([failed]);
    expect(await ids(`projectId=${p2}&active=true`)).toEqual([failed, idle]);
    expect(await ids(`taskId=${t.id}&active=true`)).toEqual([failed]);
    expect(await ids(`taskId=${t.id}&status=completed`)).toEqual([done]);
    await h.req('PATCH', `/api/v1/sessions/${idle}`, { status: 'completed' });
    expect(await ids(`projectId=${p2}&active=true`)).toEqual([failed]);
    expect(await ids(`projectId=${p2}&status=completed`)).toEqual([done, idle]);
  });
});

describe('GET /sessions/:id', () => {
  it('unknown → 404 "Session with id \'…\' not found"', async () => {
    expect((await h.req('GET', '/api/v1/sessions/sess_nope')).body).toEqual({ error: true, statusCode: 404, code: 'NOT_FOUND', message: "Session with id 'sess_nope' not found" });
  });
});

describe('PATCH /sessions/:id', () => {
  it('status completed|failed|stopped sets completedAt every time; lastActivity bumps; emits session:updated with the session without its lists (plus counts)', async () => {
    const s = await session();
    for (const status of ['completed', 'working', 'failed', 'stopped']) {
      await new Promise((r) => setTimeout(r, 2));
      const r = await h.req('PATCH', `/api/v1/sessions/${s.id}`, { status });
      expect(r.body.status).toBe(status);
      expect(r.body.lastActivity).toBeGreaterThan(s.lastActivity);
      if (status !== 'working') expect(r.body.completedAt).toBe(r.body.lastActivity);
      const { events: _e, timeline: _t, ...head } = r.body;
      const last = (await h.events(pid)).at(-1)!;
      expect(last).toMatchObject({ type: 'session:updated', data: head });
      expect(last.data).not.toHaveProperty('timeline');
    }
  });

  it('replaces taskIds without syncing tasks, merges env, appends events and timeline, ignores name/metadata/strategy/completedAt', async () => {
    const t = await task();
    const s = await session({ env: { A: '1' } });
    const r = await h.req('PATCH', `/api/v1/sessions/${s.id}`, {
      taskIds: [t.id],
      env: { B: '2' },
      agentId: 'agent-7',
      events: [{ id: 'e1', timestamp: 1, type: 'file_modified', data: { file: 'a.ts' } }],
      timeline: [{ type: 'milestone', message: 'm' }],
      name: 'ignored',
      metadata: { no: 1 },
      strategy: 'queue',
      completedAt: 5,
    });
    expect(r.body).toMatchObject({ taskIds: [t.id], env: { A: '1', B: '2' }, agentId: 'agent-7', name: 'Unnamed Session', strategy: 'simple', completedAt: null });
    expect(r.body).not.toHaveProperty('metadata');
    expect(r.body.events).toEqual([{ id: 'e1', timestamp: 1, type: 'file_modified', data: { file: 'a.ts' } }]);
    expect(r.body.timeline.at(-1)).toMatchObject({ type: 'milestone', message: 'm', id: expect.any(String), timestamp: expect.any(Number) });
    expect((await h.req('GET', `/api/v1/tasks/${t.id}`)).body.sessionIds).toEqual([]);
    expect(((await h.req('GET', `/api/v1/sessions?taskId=${t.id}`)).body as { id: string }[]).map((x) => x.id)).toEqual([s.id]);
  });

  it('unknown → 404; bad status or timeline type → 400', async () => {
    expect((await h.req('PATCH', '/api/v1/sessions/sess_nope', { status: 'idle' })).status).toBe(404);
    const s = await session();
    expect((await h.req('PATCH', `/api/v1/sessions/${s.id}`, { status: 'asleep' })).status).toBe(400);
    expect((await h.req('PATCH', `/api/v1/sessions/${s.id}`, { timeline: [{ type: 'Bad Type' }] })).status).toBe(400);
  });
});

describe('DELETE /sessions/:id', () => {
  it('strips the id from its tasks, emits only session:deleted {id}, then 404', async () => {
    const t = await task();
    const s = await session({ taskIds: [t.id] });
    const before = (await h.events(pid)).length;
    const r = await h.req('DELETE', `/api/v1/sessions/${s.id}`);
    expect(r.body).toEqual({ success: true, id: s.id });
    expect(await eventsSince(before)).toEqual([{ id: expect.any(String), type: 'session:deleted', data: { id: s.id } }]);
    expect((await h.req('GET', `/api/v1/tasks/${t.id}`)).body.sessionIds).toEqual([]);
    expect((await h.req('GET', `/api/v1/sessions/${s.id}`)).status).toBe(404);
    expect((await h.req('DELETE', `/api/v1/sessions/${s.id}`)).status).toBe(404);
  });
});

describe('POST /sessions/:id/events and /timeline', () => {
  it('events: appends {id: evt_…, timestamp, type, data}; "type is required" is route-level; 404', async () => {
    const s = await session();
    const r = await h.req('POST', `/api/v1/sessions/${s.id}/events`, { type: 'file_modified', data: { file: 'x', timestamp: '2026-01-01T00:00:00Z' } });
    expect(r.status).toBe(200);
    expect(r.body.events).toEqual([{ id: expect.stringMatching(/^evt_/), timestamp: expect.any(Number), type: 'file_modified', data: { file: 'x', timestamp: '2026-01-01T00:00:00Z' } }]);
    // a small event: the entry, never the whole session (contract 00 "Events")
    expect((await h.events(pid)).at(-1)).toEqual({
      id: expect.any(String),
      type: 'session:event_added',
      data: { sessionId: s.id, event: r.body.events[0], version: r.body.version, lastActivity: r.body.lastActivity, eventCount: 1 },
    });
    const bad = await h.req('POST', `/api/v1/sessions/${s.id}/events`, {});
    expect(bad.body).toEqual({ error: true, code: 'VALIDATION_ERROR', message: 'type is required', details: expect.any(Array) });
    expect((await h.req('POST', '/api/v1/sessions/sess_nope/events', { type: 'x' })).status).toBe(404);
  });

  it('timeline: type defaults to progress, taskId not validated, metadata kept; message required; 404', async () => {
    const s = await session();
    const r = await h.req('POST', `/api/v1/sessions/${s.id}/timeline`, { message: 'hello', taskId: 'task_anything', metadata: { k: 1 } });
    expect(r.body.timeline.at(-1)).toEqual({ id: expect.any(String), type: 'progress', timestamp: expect.any(Number), message: 'hello', taskId: 'task_anything', metadata: { k: 1 } });
    const custom = await h.req('POST', `/api/v1/sessions/${s.id}/timeline`, { message: 'x', type: 'task_status_changed' });
    expect(custom.body.timeline.at(-1).type).toBe('task_status_changed');
    expect((await h.req('POST', `/api/v1/sessions/${s.id}/timeline`, {})).body.message).toBe('message is required');
    expect((await h.req('POST', '/api/v1/sessions/sess_nope/timeline', { message: 'x' })).status).toBe(404);
  });
});

describe('POST|DELETE /sessions/:id/tasks/:taskId', () => {
  it('add: both sides (idempotent), a timeline entry every time, session:task_added then task:session_added; fresh Session', async () => {
    const t = await task();
    const s = await session();
    const before = (await h.events(pid)).length;
    const r1 = await h.req('POST', `/api/v1/sessions/${s.id}/tasks/${t.id}`);
    const r2 = await h.req('POST', `/api/v1/sessions/${s.id}/tasks/${t.id}`);
    expect(r2.body.taskIds).toEqual([t.id]);
    expect(r2.body.timeline.filter((e: { message: string }) => e.message === 'Added task to session')).toHaveLength(2);
    expect(r1.body.timeline.at(-1)).toMatchObject({ type: 'task_started', message: 'Added task to session', taskId: t.id });
    expect((await h.req('GET', `/api/v1/tasks/${t.id}`)).body.sessionIds).toEqual([s.id]);
    const evs = await eventsSince(before);
    expect(evs.map((e) => [e.type, e.type === 'session:timeline_added' ? e.data.entry.message : e.data])).toEqual([
      ['session:task_added', { sessionId: s.id, taskId: t.id }],
      ['task:session_added', { taskId: t.id, sessionId: s.id }],
      ['session:timeline_added', 'Added task to session'],
      ['session:task_added', { sessionId: s.id, taskId: t.id }],
      ['task:session_added', { taskId: t.id, sessionId: s.id }],
      ['session:timeline_added', 'Added task to session'],
    ]);
  });

  it('remove: both sides, timeline "Removed task from session", session:task_removed then task:session_removed; no-op sides when absent', async () => {
    const [a, b] = [await task(), await task()];
    const s = await session({ taskIds: [a.id, b.id] });
    const before = (await h.events(pid)).length;
    const r = await h.req('DELETE', `/api/v1/sessions/${s.id}/tasks/${a.id}`);
    expect(r.body.taskIds).toEqual([b.id]);
    expect(r.body.timeline.at(-1)).toMatchObject({ type: 'task_completed', message: 'Removed task from session', taskId: a.id });
    expect((await h.req('GET', `/api/v1/tasks/${a.id}`)).body.sessionIds).toEqual([]);
    expect((await h.req('GET', `/api/v1/tasks/${b.id}`)).body.sessionIds).toEqual([s.id]);
    expect((await eventsSince(before)).map((e) => e.type)).toEqual(['session:task_removed', 'task:session_removed', 'session:timeline_added']);
    expect((await h.req('DELETE', `/api/v1/sessions/${s.id}/tasks/${a.id}`)).status).toBe(200);
  });

  it('404 session is checked before 404 task', async () => {
    const t = await task();
    expect((await h.req('POST', `/api/v1/sessions/sess_nope/tasks/task_nope`)).body.message).toBe("Session with id 'sess_nope' not found");
    const s = await session();
    expect((await h.req('POST', `/api/v1/sessions/${s.id}/tasks/task_nope`)).body.message).toBe("Task with id 'task_nope' not found");
    expect((await h.req('DELETE', `/api/v1/sessions/sess_nope/tasks/${t.id}`)).status).toBe(404);
  });
});
