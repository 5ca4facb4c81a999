import { beforeAll, describe, expect, it } from 'vitest';
import { useHarness } from '../helpers/use-harness.js';

const h = useHarness();
let pid: string;
beforeAll(async () => {
  pid = (await h.req('POST', '/api/v1/projects', { name: 'tasks' })).body.id;
});

const task = async (body: Record<string, unknown> = {}) => (await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 't', ...body })).body;
const session = async (taskIds: string[]) => (await h.req('POST', '/api/v1/sessions', { projectId: pid, taskIds })).body;

describe('POST /tasks', () => {
  it('creates a task with every default of contract 01', async () => {
    const r = await h.req('POST', '/api/tasks', { projectId: pid, title: '  Build it  ', status: 'completed' });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({
      id: expect.stringMatching(/^task_\d+_[0-9a-z]{1,9}$/),
      projectId: pid,
      parentId: null,
      title: 'Build it',
      description: '',
      status: 'todo',
      priority: 'medium',
      createdAt: expect.any(Number),
      updatedAt: r.body.createdAt,
      startedAt: null,
      completedAt: null,
      initialPrompt: '',
      sessionIds: [],
      skillIds: [],
      agentIds: [],
      dependencies: [],
      blockedBy: [],
      dependents: [],
      claimedBy: null,
      version: 1,
    });
    expect(await h.events(pid).then((e) => e.at(-1))).toMatchObject({ type: 'task:created', data: r.body });
  });

  it('keeps parentId, description, priority, initialPrompt, skillIds and model', async () => {
    const parent = await task();
    const t = await task({ parentId: parent.id, description: 'd', priority: 'high', initialPrompt: 'go', skillIds: ['s'], model: 'opus' });
    expect(t).toMatchObject({ parentId: parent.id, description: 'd', priority: 'high', initialPrompt: 'go', skillIds: ['s'], model: 'opus' });
  });

  it.each([
    [{ title: 't' }, 400, 'Project ID is required'],
    [{ projectId: '', title: 't' }, 400, 'Project ID is required'],
    [{ projectId: 'p' }, 400, 'Task title is required'],
    [{ projectId: 'p', title: '   ' }, 400, 'Task title is required'],
    [{ projectId: 'proj_nope', title: 't' }, 404, "Project with id 'proj_nope' not found"],
  ])('%j → %i "%s"', async (body, status, message) => {
    const r = await h.req('POST', '/api/v1/tasks', body);
    expect(r.status).toBe(status);
    expect(r.body).toMatchObject({ error: true, statusCode: status, message });
  });

  it('unknown parent → 404 "Parent task with id \'…\' not found"; nothing is created', async () => {
    const before = (await h.events(pid)).length;
    const r = await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 't', parentId: 'task_nope' });
    expect(r.status).toBe(404);
    expect(r.body.message).toBe("Parent task with id 'task_nope' not found");
    expect((await h.events(pid)).length).toBe(before);
  });

  it('out-of-enum priority or model → 400 VALIDATION_ERROR', async () => {
    expect((await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 't', priority: 'urgent' })).status).toBe(400);
    expect((await h.req('POST', '/api/v1/tasks', { projectId: pid, title: 't', model: 'gpt' })).status).toBe(400);
  });
});

describe('GET /tasks filters', () => {
  it('projectId, status, parentId, parentId=null, AND-combined; repeated params or unknown status match nothing', async () => {
    const p2 = (await h.req('POST', '/api/v1/projects', { name: 'filters' })).body.id;
    const root = (await h.req('POST', '/api/v1/tasks', { projectId: p2, title: 'root' })).body;
    const c1 = (await h.req('POST', '/api/v1/tasks', { projectId: p2, title: 'c1', parentId: root.id })).body;
    const c2 = (await h.req('POST', '/api/v1/tasks', { projectId: p2, title: 'c2', parentId: root.id })).body;
    await h.req('PATCH', `/api/v1/tasks/${c2.id}`, { status: 'in_progress' });
    const ids = async (q: string) => ((await h.req('GET', `/api/v1/tasks?${q}`)).body as { id: string }[]).map((t) => t.id);
    expect(await ids(`projectId=${p2}`)).toEqual([root.id, c1.id, c2.id]);
    expect(await ids(`projectId=${p2}&status=in_progress`)).toEqual([c2.id]);
    expect(await ids(`projectId=${p2}&parentId=${root.id}`)).toEqual([c1.id, c2.id]);
    expect(await ids(`projectId=${p2}&parentId=null`)).toEqual([root.id]);
    expect(await ids(`projectId=${p2}&parentId=${root.id}&status=todo`)).toEqual([c1.id]);
    expect(await ids(`status=in_progress&parentId=${root.id}`)).toEqual([c2.id]);
    expect(await ids(`projectId=${p2}&parentId=`)).toEqual([]);
    expect(await ids(`projectId=${p2}&projectId=${pid}`)).toEqual([]);
    expect(await ids(`projectId=${p2}&status=weird`)).toEqual([]);
    expect(await ids('projectId=proj_nope')).toEqual([]);
  });
});

describe('GET /tasks/:id and /tasks/:id/children', () => {
  it('get → 200, unknown → 404 "Task with id \'…\' not found"', async () => {
    const t = await task();
    expect((await h.req('GET', `/api/v1/tasks/${t.id}`)).body).toEqual(t);
    expect((await h.req('GET', '/api/v1/tasks/task_nope')).body).toEqual({ error: true, statusCode: 404, code: 'NOT_FOUND', message: "Task with id 'task_nope' not found" });
  });

  it('children lists direct children only, in creation order; unknown parent → 404', async () => {
    const parent = await task();
    const a = await task({ parentId: parent.id });
    const b = await task({ parentId: parent.id });
    await task({ parentId: a.id });
    const r = await h.req('GET', `/api/v1/tasks/${parent.id}/children`);
    expect(r.body.map((t: { id: string }) => t.id)).toEqual([a.id, b.id]);
    expect((await h.req('GET', '/api/v1/tasks/task_nope/children')).status).toBe(404);
  });
});

describe('PATCH /tasks/:id', () => {
  it('applies fields, sets startedAt the first time in_progress and completedAt the first time completed, never clearing it', async () => {
    const t = await task();
    const r1 = await h.req('PATCH', `/api/v1/tasks/${t.id}`, { status: 'in_progress', title: 'renamed ', priority: 'low', agentIds: ['a1'] });
    expect(r1.body).toMatchObject({ status: 'in_progress', title: 'renamed ', priority: 'low', agentIds: ['a1'], completedAt: null, version: 2 });
    const startedAt = r1.body.startedAt;
    expect(startedAt).toEqual(expect.any(Number));
    await new Promise((r) => setTimeout(r, 2));
    const r2 = await h.req('PATCH', `/api/v1/tasks/${t.id}`, { status: 'completed' });
    expect(r2.body.completedAt).toEqual(expect.any(Number));
    await h.req('PATCH', `/api/v1/tasks/${t.id}`, { status: 'in_progress' });
    const r3 = await h.req('PATCH', `/api/v1/tasks/${t.id}`, { status: 'todo' });
    expect(r3.body.startedAt).toBe(startedAt);
    expect(r3.body.completedAt).toBe(r2.body.completedAt);
  });

  it('updateSource "session" applies only sessionStatus and still answers 200 with task:updated', async () => {
    const t = await task();
    const r = await h.req('PATCH', `/api/v1/tasks/${t.id}`, { updateSource: 'session', sessionId: 's', sessionStatus: 'working', status: 'completed', title: 'no' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ sessionStatus: 'working', status: 'todo', title: 't' });
    expect(r.body).not.toHaveProperty('updateSource');
    expect(r.body).not.toHaveProperty('sessionId');
  });

  it('an empty PATCH still bumps updatedAt and emits task:updated with the full task', async () => {
    const t = await task();
    await new Promise((r) => setTimeout(r, 2));
    const r = await h.req('PATCH', `/api/v1/tasks/${t.id}`, {});
    expect(r.body.updatedAt).toBeGreaterThan(t.updatedAt);
    expect((await h.events(pid)).at(-1)).toMatchObject({ type: 'task:updated', data: r.body });
  });

  it('blank title → 400 "Task title cannot be empty" before the existence check; unknown → 404; bad enum → 400', async () => {
    for (const id of ['task_nope', (await task()).id]) {
      const r = await h.req('PATCH', `/api/v1/tasks/${id}`, { title: '  ', updateSource: 'session' });
      expect(r.status).toBe(400);
      expect(r.body.message).toBe('Task title cannot be empty');
    }
    expect((await h.req('PATCH', '/api/v1/tasks/task_nope', { status: 'todo' })).status).toBe(404);
    expect((await h.req('PATCH', `/api/v1/tasks/${(await task()).id}`, { status: 'pending' })).status).toBe(400);
    expect((await h.req('PATCH', `/api/v1/tasks/${(await task()).id}`, { sessionStatus: 'asleep' })).status).toBe(400);
  });

  it('sessionIds is overwritable by PATCH without syncing sessions', async () => {
    const t = await task();
    const r = await h.req('PATCH', `/api/v1/tasks/${t.id}`, { sessionIds: ['sess_x'] });
    expect(r.body.sessionIds).toEqual(['sess_x']);
  });
});

describe('PATCH /tasks/:id parentId (moving a task; contract 00 cycle check)', () => {
  it('moves a task under another parent or to the root, keeping children and filters exact', async () => {
    const [a, b, c] = [await task({ title: 'a' }), await task({ title: 'b' }), await task({ title: 'c' })];
    await h.req('PATCH', `/api/v1/tasks/${c.id}`, { status: 'blocked' });
    const moved = await h.req('PATCH', `/api/v1/tasks/${c.id}`, { parentId: a.id });
    expect(moved.body.parentId).toBe(a.id);
    expect((await h.req('GET', `/api/v1/tasks/${a.id}/children`)).body.map((t: { id: string }) => t.id)).toEqual([c.id]);
    expect((await h.req('GET', `/api/v1/tasks?projectId=${pid}&parentId=${a.id}&status=blocked`)).body.map((t: { id: string }) => t.id)).toEqual([c.id]);
    await h.req('PATCH', `/api/v1/tasks/${c.id}`, { parentId: b.id, status: 'todo' });
    expect((await h.req('GET', `/api/v1/tasks/${a.id}/children`)).body).toEqual([]);
    expect((await h.req('GET', `/api/v1/tasks?projectId=${pid}&parentId=${b.id}&status=todo`)).body.map((t: { id: string }) => t.id)).toEqual([c.id]);
    const root = await h.req('PATCH', `/api/v1/tasks/${c.id}`, { parentId: null });
    expect(root.body.parentId).toBeNull();
    expect((await h.req('GET', `/api/v1/tasks?projectId=${pid}&parentId=null`)).body.map((t: { id: string }) => t.id)).toContain(c.id);
  });

  it('a parentId that would make the task its own ancestor → 400 VALIDATION_ERROR; an unknown parent → 404; nothing changes', async () => {
    const a = await task({ title: 'a' });
    const b = await task({ title: 'b', parentId: a.id });
    const c = await task({ title: 'c', parentId: b.id });
    for (const parentId of [a.id]) {
      const self = await h.req('PATCH', `/api/v1/tasks/${parentId}`, { parentId });
      expect(self.status).toBe(400);
    }
    const cycle = await h.req('PATCH', `/api/v1/tasks/${a.id}`, { parentId: c.id });
    expect(cycle.status).toBe(400);
    expect(cycle.body).toMatchObject({ code: 'VALIDATION_ERROR', message: 'parentId would make the task its own ancestor' });
    const missing = await h.req('PATCH', `/api/v1/tasks/${a.id}`, { parentId: 'task_nope' });
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe("Parent task with id 'task_nope' not found");
    expect((await h.req('GET', `/api/v1/tasks/${a.id}`)).body).toMatchObject({ parentId: null, version: 1 });
  });

  it('two opposite moves at once cannot both succeed (no cycle is ever stored)', async () => {
    for (let i = 0; i < 5; i++) {
      const [a, b] = [await task(), await task()];
      const [r1, r2] = await Promise.all([
        h.req('PATCH', `/api/v1/tasks/${a.id}`, { parentId: b.id }),
        h.req('PATCH', `/api/v1/tasks/${b.id}`, { parentId: a.id }),
      ]);
      expect([r1.status, r2.status].filter((s) => s === 200)).toHaveLength(1);
      const [ta, tb] = [(await h.req('GET', `/api/v1/tasks/${a.id}`)).body, (await h.req('GET', `/api/v1/tasks/${b.id}`)).body];
      expect(ta.parentId === b.id && tb.parentId === a.id).toBe(false);
    }
  });
});

describe('POST /tasks/:id/timeline', () => {
  it('appends to the session timeline, answers {success,taskId,sessionId,message,type}, emits session:timeline_added with the entry (not task:updated)', async () => {
    const t = await task();
    const s = await session([t.id]);
    const r = await h.req('POST', `/api/v1/tasks/${t.id}/timeline`, { message: 'half way', sessionId: s.id });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: true, taskId: t.id, sessionId: s.id, message: 'half way', type: 'progress' });
    const sess = (await h.req('GET', `/api/v1/sessions/${s.id}`)).body;
    expect(sess.timeline.at(-1)).toEqual({ id: expect.stringMatching(/^evt_/), type: 'progress', timestamp: expect.any(Number), message: 'half way', taskId: t.id });
    const last = (await h.events(pid)).at(-1)!;
    expect(last.type).toBe('session:timeline_added');
    expect(last.data).toEqual({ sessionId: s.id, entry: sess.timeline.at(-1), version: sess.version, lastActivity: sess.lastActivity, timelineCount: sess.timelineCount });
    const typed = await h.req('POST', `/api/v1/tasks/${t.id}/timeline`, { message: 'm', sessionId: s.id, type: 'task_status_changed' });
    expect(typed.body.type).toBe('task_status_changed');
  });

  it('checks message → sessionId → task → session, route-level envelopes without statusCode', async () => {
    const t = await task();
    const m = await h.req('POST', '/api/v1/tasks/task_nope/timeline', {});
    expect(m.body).toEqual({ error: true, code: 'VALIDATION_ERROR', message: 'message is required', details: expect.any(Array) });
    const s = await h.req('POST', '/api/v1/tasks/task_nope/timeline', { message: 'x' });
    expect(s.body).toEqual({ error: true, code: 'VALIDATION_ERROR', message: 'sessionId is required', details: expect.any(Array) });
    const nt = await h.req('POST', '/api/v1/tasks/task_nope/timeline', { message: 'x', sessionId: 'sess_nope' });
    expect(nt.status).toBe(404);
    expect(nt.body.message).toBe("Task with id 'task_nope' not found");
    const ns = await h.req('POST', `/api/v1/tasks/${t.id}/timeline`, { message: 'x', sessionId: 'sess_nope' });
    expect(ns.status).toBe(404);
    expect(ns.body.message).toBe("Session with id 'sess_nope' not found");
  });
});

describe('DELETE /tasks/:id', () => {
  it('→ {success:true,id}; no cascade to children or sessions; emits task:deleted {id}', async () => {
    const parent = await task();
    const child = await task({ parentId: parent.id });
    const s = await session([parent.id]);
    const r = await h.req('DELETE', `/api/v1/tasks/${parent.id}`);
    expect(r.body).toEqual({ success: true, id: parent.id });
    expect((await h.events(pid)).at(-1)).toMatchObject({ type: 'task:deleted', data: { id: parent.id } });
    expect((await h.req('GET', `/api/v1/tasks/${parent.id}`)).status).toBe(404);
    expect((await h.req('GET', `/api/v1/tasks/${child.id}`)).body.parentId).toBe(parent.id);
    expect((await h.req('GET', `/api/v1/sessions/${s.id}`)).body.taskIds).toEqual([parent.id]);
    expect((await h.req('DELETE', `/api/v1/tasks/${parent.id}`)).status).toBe(404);
  });
});
